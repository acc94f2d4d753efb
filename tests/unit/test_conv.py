"""Numerics of single convolutions against PyTorch: kernel sizes, stride, padding, dilation,
groups (depthwise included), bias, fused relu / relu6, and pattern / connectivity pruning."""

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from torch import nn

import fretsaw
from conftest import ATOL, RTOL, check_against_torch
from fretsaw.prune import default_library


def conv_net(conv: nn.Conv2d, activation: str) -> nn.Module:
    act = {"none": nn.Identity(), "relu": nn.ReLU(), "relu6": nn.ReLU6()}[activation]
    return nn.Sequential(conv, act)


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2])
def test_kernel_sizes_and_strides(kernel, stride):
    conv = nn.Conv2d(4, 6, kernel, stride=stride, padding=kernel // 2)
    cm = check_against_torch(conv_net(conv, "none"), torch.randn(1, 4, 11, 11))
    assert cm.stats()["conv_layers"] == 1


@pytest.mark.parametrize("padding", [0, 1, 2, (0, 2)])
@pytest.mark.parametrize("dilation", [1, 2])
def test_padding_and_dilation(padding, dilation):
    conv = nn.Conv2d(3, 5, 3, padding=padding, dilation=dilation)
    check_against_torch(conv_net(conv, "none"), torch.randn(1, 3, 10, 9))


@pytest.mark.parametrize("groups,cin,cout", [(2, 4, 6), (4, 8, 8), (8, 8, 8), (8, 8, 16)])
@pytest.mark.parametrize("bias", [True, False])
def test_groups_and_depthwise(groups, cin, cout, bias):
    conv = nn.Conv2d(cin, cout, 3, padding=1, groups=groups, bias=bias)
    cm = check_against_torch(conv_net(conv, "none"), torch.randn(1, cin, 8, 8))
    assert cm.stats()["layers"][0]["groups"] == groups


@pytest.mark.parametrize("activation", ["relu", "relu6"])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_activation(activation, bias):
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=bias)
    with torch.no_grad():
        conv.weight.mul_(4)  # push outputs past 6 so the relu6 clamp is exercised
    cm = check_against_torch(conv_net(conv, activation), torch.randn(1, 3, 8, 8))
    assert cm.stats()["layers"][0]["activation"] == activation  # the fold's IR: lit pconv-raise.mlir


def prune_(conv: nn.Conv2d, rng: np.random.Generator, keep: float) -> tuple[np.ndarray, np.ndarray]:
    """Random picks from the 8-pattern library and random kernel removal; returns (ids, mask)."""
    library = default_library(8)
    cout, cin_g = conv.weight.shape[:2]
    ids = rng.integers(0, 8, size=(cout, cin_g))
    alive = rng.random((cout, cin_g)) < keep
    with torch.no_grad():
        conv.weight.mul_(torch.from_numpy(library[ids] * alive[:, :, None, None]).float())
    return ids, alive


@pytest.mark.parametrize("keep", [1.0, 0.5, 0.2])
def test_pattern_and_connectivity_pruned(keep):
    rng = np.random.default_rng(1)
    conv = nn.Conv2d(8, 12, 3, padding=1, bias=True)
    ids, alive = prune_(conv, rng, keep)
    cm = check_against_torch(conv_net(conv, "relu"), torch.randn(1, 8, 9, 9))
    layer = cm.stats()["layers"][0]
    assert layer["removed_kernels"] == int((~alive).sum())
    assert layer["num_patterns"] == len(np.unique(ids[alive]))
    assert all(key.count("1") == 4 for key in layer["pattern_histogram"])
    assert layer["sparse_flops"] == 2 * 9 * 9 * 4 * int(alive.sum())


@pytest.mark.parametrize("width", [1, 4, 16])
@pytest.mark.parametrize("threads", [1, 2])
def test_vector_widths_and_threads(width, threads):
    # Odd, non-square sizes: the last block of flat outputs and every row's tail are partial.
    conv = nn.Conv2d(8, 12, 3, padding=1, dilation=1)
    prune_(conv, np.random.default_rng(2), 0.5)
    model, x = conv_net(conv, "relu6").eval(), torch.randn(1, 8, 13, 17)
    cm = fretsaw.compile(model, (x,), vector_width=width, threads=threads)
    # End to end: compile()'s vector_width reaches pconv-vectorize (the lit tests, e.g.
    # pconv-vectorize/widths.mlir, set the width in their pipeline text and cannot see this).
    assert f"vector<{width}xf32>" in cm.ir("loops")
    with torch.no_grad():
        np.testing.assert_allclose(cm(x), model(x).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cin,cout,groups,activation,keep", [(208, 6, 1, "relu", 0.5), (224, 8, 2, "relu6", 0.5),
                                                             (112, 5, 1, "none", 0.5), (208, 8, 1, "relu", 1.0),
                                                             (336, 12, 3, "relu6", 1.0)])
def test_channel_tiles(cin, cout, groups, activation, keep):
    # More input channels per group than one cache tile holds at any vector width (at most about
    # 102 for these 8x8 images): partial sums are parked in the output between tiles, the bias
    # comes first and the activation last. keep=1.0 is a dense layer: blocks of filters share loads.
    conv = nn.Conv2d(cin, cout, 3, padding=1, groups=groups)
    if keep < 1.0:
        prune_(conv, np.random.default_rng(3), keep)
    check_against_torch(conv_net(conv, activation), torch.randn(1, cin, 8, 8))


@pytest.mark.parametrize("size", [1, 2, 3, 14, 29])
def test_register_blocks_at_image_edges(size):
    # Register blocks of several rows and vectors overhang the image's bottom and right edges.
    conv = nn.Conv2d(5, 7, 3, padding=1)
    prune_(conv, np.random.default_rng(size), 0.6)
    check_against_torch(conv_net(conv, "relu"), torch.randn(1, 5, size, size + 3))


@pytest.mark.parametrize("keep,padding,kernel", [(1.0, 1, 3), (0.5, 1, 3), (0.5, 0, 3), (1.0, 0, 1)])
def test_blocks_that_tile_the_output_exactly(avx2_host, keep, padding, kernel):
    # 16x16 outputs, 8 lanes: the register blocks cover the output exactly, so they are stored
    # into the result itself, with no padded temporary and no copy-out; without padding the input
    # is read in place too (that IR: lit pconv-vectorize/exact-tiles.mlir). Their numerics here.
    size = 16 + kernel - 1 - 2 * padding
    conv = nn.Conv2d(6, 8, kernel, padding=padding)
    if keep < 1.0:
        prune_(conv, np.random.default_rng(5), keep)
    check_against_torch(conv_net(conv, "relu"), torch.randn(1, 6, size, size))


def test_all_kernels_removed_leaves_bias():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    with torch.no_grad():
        conv.weight.zero_()
    cm = check_against_torch(conv_net(conv, "relu"), torch.randn(1, 3, 5, 5))
    assert cm.stats()["sparse_flops"] == 0


@settings(max_examples=12, deadline=None)
@given(cin=st.integers(1, 6), cout=st.integers(1, 6), size=st.integers(5, 12),
       kernel=st.sampled_from([1, 3, 5]), stride=st.integers(1, 2), pad=st.integers(0, 2),
       dilation=st.integers(1, 2), bias=st.booleans(), keep=st.floats(0.3, 1.0),
       activation=st.sampled_from(["none", "relu", "relu6"]), seed=st.integers(0, 1000))
def test_random_shapes(cin, cout, size, kernel, stride, pad, dilation, bias, keep, activation, seed):
    assume(size + 2 * pad >= dilation * (kernel - 1) + 1)  # at least one output pixel
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=pad, dilation=dilation, bias=bias)
    if kernel == 3:
        prune_(conv, np.random.default_rng(seed), keep)
    check_against_torch(conv_net(conv, activation), torch.randn(1, cin, size, size))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cin=st.integers(1, 5), cout=st.integers(1, 5), height=st.integers(3, 9), width=st.integers(3, 70),
       stride=st.integers(1, 2), pad=st.integers(0, 2), dilation=st.integers(1, 2), keep=st.floats(0.3, 1.0),
       seed=st.integers(0, 1000))
def test_lane_shifts(avx512_host, cin, cout, height, width, stride, pad, dilation, keep, seed):
    # AVX-512 (lane shifts): pattern 3x3 convs take register blocks along the output rows and read
    # input vectors off the vector boundaries as lane shifts of two aligned loads; any stride,
    # padding, dilation and row width (rows up to 70 columns: up to 5 vectors of 16) computes what
    # PyTorch does. (The shifts in the IR: lit pconv-vectorize/shifts.mlir and shifts-wide-rows.mlir.)
    assume(min(height, width) + 2 * pad >= 2 * dilation + 1)  # at least one output pixel
    conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=pad, dilation=dilation)
    prune_(conv, np.random.default_rng(seed), keep)
    check_against_torch(conv_net(conv, "relu"), torch.randn(1, cin, height, width))


@pytest.mark.parametrize("size,stride,dilation,columns", [
    (56, 1, 1, (0, 1, 2)),  # taps at column offsets 0, 1, 2 of the flat rows
    (28, 2, 1, (0, 1)),     # stride 2: kw 0 and 2 read the even phase plane, 1 apart
    (20, 1, 4, (0, 4, 8)),  # all within a vector of 16
    (16, 1, 1, ()),         # 16 outputs fill the vector: the offset 1 and 2 sets would take two each
    (20, 1, 8, ()),         # offset 16 is a whole vector away: lane shifts of the inputs instead
    (7, 1, 1, ()),          # 7 outputs in 8 lanes: the offset-2 set would need 2 vectors a row
])
def test_column_sets(avx512_host, size, stride, dilation, columns):
    # AVX-512: a pattern conv keeps one accumulator set per tap column offset (all taps then read
    # aligned input vectors; the sets are lane-shifted into the outputs once per block) when its
    # offsets lie within a vector and its best block does not compute many more lanes than the
    # plain one, and then takes register blocks of at most SET_ACCUMULATORS.
    from fretsaw.dialect import pconv
    from fretsaw.passes.cpu import blocks

    conv = nn.Conv2d(6, 5, 3, stride=stride, padding=dilation, dilation=dilation)
    prune_(conv, np.random.default_rng(size), 0.7)
    cm = check_against_torch(conv_net(conv, "relu"), torch.randn(1, 6, size, size))
    op = next(iter(pconv.walk_ops(cm._stages["pconv"].operation, pconv.CONV2D)))
    layer = pconv.Conv(op)
    _, _, oh, ow = layer.output_shape
    width = blocks.lane_width(ow, 16)
    assert blocks.column_sets(layer, width, shifts=True) == columns
    rows, vectors = blocks.register_block(oh, ow, width, 26, blocks.wide_blocks(layer, True), columns)
    if columns:
        assert rows * blocks.set_accumulators(ow, width, columns, vectors) <= blocks.SET_ACCUMULATORS


@pytest.mark.parametrize("stride", [1, 2])
def test_pruned_channels_are_not_copied(stride):
    # A depthwise conv whose pruning removed whole kernels (channels 0, 2, 4, 6): only the input
    # channels some kept kernel reads are copied into the flat layout; the removed channels'
    # outputs are the bias through the activation.
    from fretsaw.dialect import pconv

    conv = nn.Conv2d(8, 8, 3, stride=stride, padding=1, groups=8)
    with torch.no_grad():
        conv.weight[::2] = 0
    cm = check_against_torch(conv_net(conv, "relu6"), torch.randn(1, 8, 9, 11))
    op = next(iter(pconv.walk_ops(cm._stages["pconv"].operation, pconv.CONV2D)))
    assert pconv.Conv(op).read_channels().tolist() == [1, 3, 5, 7]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(40, 52), dilation=st.sampled_from([2, 3]), stride=st.sampled_from([1, 2]),
       seed=st.integers(0, 2**16))
def test_flat_borders_over_a_reused_workspace(size, dilation, stride, seed):
    # The flat copy zeroes only the borders around the rows it copies into each phase plane
    # (above, between rows, below). Two padded convs of different row pitches (the second strided
    # or not), their flat copies large enough to share the persistent workspace: the second's
    # borders fall where the first wrote input rows, so a border left unzeroed shows as a wrong
    # output; two calls, two inputs.
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(16, 16, 3, stride, padding=dilation, dilation=dilation), nn.ReLU()).eval()
    for conv in (model[0], model[2]):
        prune_(conv, np.random.default_rng(seed), 0.5)
    cm = check_against_torch(model, torch.randn(1, 16, size, size))
    x = torch.randn(1, 16, size, size) + 3.0
    with torch.no_grad():
        np.testing.assert_allclose(cm(x), model(x).numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("size,batch,activation", [(28, 1, "relu"), (14, 2, "relu6"), (7, 1, "none"), (5, 3, "relu"),
                                                   (30, 2, "relu")])
def test_pointwise_over_flattened_pixels(size, batch, activation):
    # 1x1 stride-1 convs run over one row of H*W pixels (vectors across the row ends): 28x28 tiles
    # exactly into vectors of 16 (input read in place), the others leave a partial last block;
    # rows of several chunks (28x28: 7, 30x30: 2 full and a partial one) spread them over the units.
    # (The flattened IR, batches and partial blocks too: lit pconv-vectorize/pointwise.mlir.)
    conv = nn.Conv2d(24, 40, 1)
    with torch.no_grad():  # connectivity pruning: 40% of the kernels kept
        conv.weight.mul_(torch.from_numpy(np.random.default_rng(size).random((40, 24, 1, 1)) < 0.4).float())
    check_against_torch(conv_net(conv, activation), torch.randn(batch, 24, size, size))


def connectivity_pruned_1x1(cin: int, cout: int, keep: float, seed: int, groups: int = 1) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 1, groups=groups)
    with torch.no_grad():
        conv.weight.mul_(torch.from_numpy(np.random.default_rng(seed).random(conv.weight.shape) < keep).float())
    return conv


@pytest.mark.parametrize("size,batch", [(56, 1), (57, 2)])
def test_pointwise_units_copy_their_chunk(size, batch):
    # A pointwise conv whose units take one column chunk each, with enough filters to read each
    # copied vector 16 times (128 filters, 40% of 8 channels kept: ~26 a unit where the chunks'
    # units take two ranges of filters (AVX-512: 28 chunks of 7 x 16 lanes for 32 units), ~51 on
    # AVX2 (56 chunks, one range)), copies the chunk into a buffer of its own (a memref.alloca per
    # unit; the IR: lit pconv-vectorize/pointwise-chunks.mlir): 56x56 in whole chunks, 57x57
    # (3249 pixels) with a partial last vector, batches of two.
    cm = check_against_torch(conv_net(connectivity_pruned_1x1(8, 128, 0.4, size), "relu"),
                             torch.randn(batch, 8, size, size))
    assert "memref.alloca()" in cm.ir("loops")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(3, 40), batch=st.integers(1, 2), cin=st.integers(1, 20), cout=st.integers(1, 24),
       groups=st.sampled_from([1, 2]), keep=st.sampled_from([0.2, 0.5, 1.0]), seed=st.integers(0, 9))
def test_pointwise_chunk_copies_whatever_the_shape(monkeypatch, size, batch, cin, cout, groups, keep, seed):
    # Every spread pointwise conv copying its chunks (CHUNK_READS 0): the copy of any shape, whole
    # and partial chunks, any channel count, grouped (a group's filters read its channels of the
    # copy), matches PyTorch.
    monkeypatch.setattr("fretsaw.passes.pconv_vectorize.CHUNK_READS", 0)
    conv = connectivity_pruned_1x1(cin * groups, cout * groups, keep, seed, groups)
    assume(conv.weight.abs().sum() > 0)
    check_against_torch(conv_net(conv, "none"), torch.randn(batch, cin * groups, size, size))


@settings(max_examples=15, deadline=None)
@given(strides=st.tuples(st.integers(1, 3), st.integers(1, 3)), size=st.tuples(st.integers(1, 30), st.integers(1, 30)),
       batch=st.integers(1, 2), cin=st.integers(1, 20), cout=st.integers(1, 24), groups=st.sampled_from([1, 2]),
       keep=st.sampled_from([0.3, 1.0]), bias=st.booleans(), activation=st.sampled_from(["none", "relu", "relu6"]),
       seed=st.integers(0, 9))
def test_strided_pointwise_convs_compute_over_their_decimated_input(strides, size, batch, cin, cout, groups, keep,
                                                                    bias, activation, seed):
    # An unpadded 1x1 conv at a stride (a ResNet's downsampling shortcut) is computed as the
    # stride-1 pointwise conv over a copy of the rows and columns it reads (decimate; the IR: lit
    # pconv-vectorize/decimate.mlir): any stride per axis, odd sizes whose last row or column is
    # read, one output row or column, grouped, connectivity-pruned (unread channels not copied).
    assume(max(strides) > 1)
    conv = connectivity_pruned_1x1(cin * groups, cout * groups, keep, seed, groups)
    conv.stride = strides
    if not bias:
        conv.bias = None
    assume(conv.weight.abs().sum() > 0)
    check_against_torch(conv_net(conv, activation), torch.randn(batch, cin * groups, *size))


@settings(max_examples=15, deadline=None)
@given(channels=st.integers(1, 12), multiplier=st.sampled_from([1, 2]), size=st.integers(3, 30),
       kernel=st.sampled_from([3, 5]), stride=st.integers(1, 3), padding=st.integers(0, 3),
       dilation=st.integers(1, 2), batch=st.integers(1, 2), keep=st.sampled_from([0.5, 1.0]))
def test_depthwise_units_stage_their_rows(channels, multiplier, size, kernel, stride, padding, dilation, batch,
                                          keep):
    # Depthwise convs (each filter one kernel, a channel multiplier of 1 or 2) stage each filter's
    # rows of its row group into a slice of their unit (stage_slice; the IR: lit
    # pconv-vectorize/depthwise.mlir, blocks.mlir @strided): any stride, padding and dilation,
    # rows past the input's edge zeroed at run time, some filters removed. (Unpruned with a
    # multiplier of 2 they are a dense layer's filter blocks, which read a flat copy; outputs of
    # one row group in several chunks read a flat copy too: test_depthwise_slices asserts the slice.)
    assume((size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1 >= 2)
    conv = nn.Conv2d(channels, channels * multiplier, kernel, stride, padding, dilation, groups=channels)
    with torch.no_grad():
        conv.weight.mul_(torch.from_numpy(np.random.default_rng(size).random((channels * multiplier, 1, 1, 1))
                                          < keep).float())
    assume(conv.weight.abs().sum() > 0)
    check_against_torch(conv_net(conv, "relu6"), torch.randn(batch, channels, size, size + 1))


@pytest.mark.parametrize("stride,size", [(1, 28), (2, 56), (2, 15)])
def test_depthwise_slices(stride, size):
    # MobileNet-like depthwise 3x3 convs, pattern-pruned: their units stage a slice of each
    # filter's channel (a memref.alloca in the unit), and they match PyTorch.
    conv = nn.Conv2d(16, 16, 3, stride, 1, groups=16)
    prune_(conv, np.random.default_rng(size), 1.0)
    cm = check_against_torch(conv_net(conv, "relu6"), torch.randn(1, 16, size, size))
    assert "memref.alloca()" in cm.ir("loops")


def test_batch_of_two():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    check_against_torch(conv_net(conv, "relu"), torch.randn(2, 3, 6, 6))


@pytest.mark.parametrize("cout,stride,kernel", [(8, 1, 1), (12, 2, 1), (6, 2, 3), (16, 1, 3)])
def test_dense_filter_blocks(avx2_host, cout, stride, kernel):
    # Dense layers (1x1 and 3x3, any stride) compute blocks of 4 or 2 filters that share each
    # input vector (that IR: lit pconv-vectorize/filter-blocks.mlir); the blocks split evenly into
    # the threads' work units.
    conv = nn.Conv2d(10, cout, kernel, stride=stride, padding=kernel // 2)
    check_against_torch(conv_net(conv, "relu6"), torch.randn(1, 10, 11, 13))


@pytest.mark.parametrize("stride,groups", [(1, 1), (2, 2)])
def test_reference_lowering(monkeypatch, stride, groups):
    # pconv-lower (scalar, not in the default pipeline) in place of pconv-vectorize, FKW-packed.
    from fretsaw.backends.base import Stage
    from fretsaw.backends.host import HostBackend
    default = HostBackend.stages

    def reference(backend):
        return tuple(Stage(s.name, re.sub(r"pconv-vectorize\{[^}]*\}", "pconv-lower", s.pipeline))
                     for s in default(backend))

    monkeypatch.setattr(HostBackend, "stages", reference)
    conv = nn.Conv2d(6, 8, 3, stride=stride, padding=1, groups=groups)
    prune_(conv, np.random.default_rng(4), 0.6)
    cm = check_against_torch(conv_net(conv, "relu"), torch.randn(1, 6, 9, 9))
    # Not a check of pconv-lower's IR (lit pconv-lower.mlir has that) but of this test's setup: the
    # swapped pipeline did run pconv-lower, else the numerics above re-test pconv-vectorize.
    assert "scf.index_switch" in cm.ir("loops") and "vector.fma" not in cm.ir("loops")


def test_many_reorder_groups_merged_into_work_units():
    # 40 pruned filters of varied kernel counts make more reorder groups than the 32x32 image's
    # row groups need: whole groups are merged into units of about equal work.
    from fretsaw.dialect import pconv

    conv = nn.Conv2d(12, 40, 3, padding=1)
    prune_(conv, np.random.default_rng(6), 0.5)
    cm = check_against_torch(conv_net(conv, "relu"), torch.randn(1, 12, 32, 32))
    # This test's premise, not a check of the reorder (lit pconv-filter-kernel-reorder.mlir): the
    # reorder made more groups than units wanted (32 / 4 row groups), so the numerics cover merging.
    op = next(iter(pconv.walk_ops(cm._stages["pconv"].operation, pconv.CONV2D)))
    assert len(pconv.Conv(op).optional_table("filter_groups")) - 1 > 8


def test_persistent_workspace_across_calls():
    # Buffers of 128 KiB and more become views of one global kept between calls (persistent-workspace),
    # buffers not live together sharing bytes: calls with different inputs must not see each other's
    # data, and the arena is smaller than the buffers it holds.
    model = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                          nn.ReLU(), nn.Conv2d(16, 8, 3, padding=1))
    prune_(model[2], np.random.default_rng(7), 0.6)
    cm = check_against_torch(model, torch.randn(1, 16, 96, 96))
    # This test's premise (the pass's IR is in lit persistent-workspace.mlir): this model's buffers
    # do share one workspace, else the calls below could not see each other's data anyway.
    bufferized = cm.ir("bufferized")
    assert bufferized.count("memref.global \"private\" @__fretsaw_workspace_") == 1
    views = re.findall(r"memref.view .* to memref<([0-9x]+)xf32>", bufferized)
    arena = int(re.search(r"@__fretsaw_workspace_0 : memref<([0-9]+)xi8>", bufferized).group(1))
    assert len(views) >= 3 and arena < sum(4 * math.prod(map(int, v.split("x"))) for v in views)
    for scale in (2.0, -1.0):
        x = torch.randn(1, 16, 96, 96) * scale
        np.testing.assert_allclose(cm(x), model(x).detach().numpy(), rtol=RTOL, atol=ATOL)


def test_calls_reuse_descriptors_not_outputs():
    # The memref descriptors are built once per compiled model; each call points them at its own
    # arrays: a non-contiguous or torch input is accepted, and every call returns a fresh output.
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    x = torch.randn(1, 3, 8, 8)
    cm = fretsaw.compile(model, (x,))
    first = cm(x)
    wide = torch.randn(1, 3, 8, 16)[..., ::2]  # a strided view: copied to contiguous before the call
    second = cm(wide)
    assert first is not second
    with torch.no_grad():
        np.testing.assert_allclose(first, model(x).numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(second, model(wide).numpy(), rtol=RTOL, atol=ATOL)


class PointwiseHeads(nn.Module):
    """Two results from one pruned 1x1 conv, whose output pconv-vectorize computes as one row of
    H*W pixels and reshapes to H x W: the conv itself and its ReLU, which reads it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 32, 1)
        with torch.no_grad():
            self.conv.weight *= (torch.rand_like(self.conv.weight) < 0.3).float()

    def forward(self, x):
        y = self.conv(x)
        return y, torch.relu(y)


@pytest.mark.parametrize("threads", [1, 2])
def test_reshaped_conv_results_are_computed_in_the_callers_buffers(threads):
    """fold-result-copies: a model ending in a 1x1 conv writes its result straight into the
    caller's output (no memref.copy of the whole output left in the bufferized IR), with the right
    values, also when another result reads it, and on every call (the output buffers change)."""
    x = torch.randn(1, 16, 20, 20)
    for model in (nn.Sequential(PointwiseHeads().conv), PointwiseHeads()):
        cm = check_against_torch(model, x, threads=threads)
        assert "memref.copy" not in cm.ir("bufferized")
        x2 = torch.randn(1, 16, 20, 20)
        with torch.no_grad():
            want = model(x2)
        got = cm(x2.numpy())
        want, got = ((want,), (got,)) if isinstance(want, torch.Tensor) else (want, got)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w.numpy(), rtol=RTOL, atol=ATOL)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["pattern", "groups", "depthwise"]), cin=st.integers(1, 72), cout=st.integers(1, 6),
       height=st.integers(2, 16), width=st.integers(3, 40), stride=st.sampled_from([1, 2]),
       padding=st.sampled_from([0, 1]), batch=st.integers(1, 2), small_caches=st.booleans(),
       threads=st.sampled_from([1, 2]), seed=st.integers(0, 2**16))
@example(kind="pattern", cin=1, cout=1, height=13, width=3, stride=1, padding=0, batch=1, small_caches=False,
         threads=1, seed=0)  # 1 output column in 4 lanes: a whole vector would spill past the next row
def test_whole_vector_row_tails(monkeypatch, kind, cin, cout, height, width, stride, padding, batch, small_caches,
                                threads, seed):
    # Row tails stored as whole vectors instead of masked (ConvEmitter.whole_tail; the staging's
    # `whole` stores, passes/cpu/staging.py; the IR: lit pconv-vectorize/blocks.mlir): the lanes
    # past a row land in the next row, stored afterwards by the same thread, or in padding. Over
    # widths that are not whole vectors (8 lanes), rows in one chunk or several (the partial one
    # first), channel tiles that park sums in the output (small caches: an L1 of 4 KiB, an L2 of 8),
    # the kernel-group lowering with one tile and several (blocks of 2 filters sharing their
    # kept columns), depthwise slices, unpadded inputs whose last staged row ends its plane, and
    # batches and threads whose planes follow each other in memory.
    from fretsaw.target import CpuTarget

    l1, l2 = (4096, 8192) if small_caches else (32768, 256 << 10)
    monkeypatch.setattr("fretsaw.backends.host.host_target",
                        lambda: CpuTarget("x86-64-avx2", 8, threads, l1=l1, l2=l2))
    assume(height + 2 * padding >= 3 and width + 2 * padding >= 3)
    rng = np.random.default_rng(seed)
    if kind == "depthwise":
        conv = nn.Conv2d(cin, cin, 3, stride, padding, groups=cin)
        prune_(conv, rng, 0.8)
    else:
        conv = nn.Conv2d(cin, 2 * cout, 3, stride, padding)
        if kind == "pattern":
            prune_(conv, rng, 0.6)
        else:  # KGS-like: each pair of filters keeps the same (channel, position) columns
            kept = rng.random((cout, cin, 3, 3)) < 0.35
            with torch.no_grad():
                conv.weight.mul_(torch.from_numpy(np.repeat(kept, 2, axis=0)).float())
    assume(conv.weight.abs().sum() > 0)
    check_against_torch(conv_net(conv, "relu"), torch.randn(batch, cin, height, width))
