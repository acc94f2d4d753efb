"""pconv.conv3d (NCDHW) through the rank-generic pieces: built with build_conv from pruned 3-D
weights (patterns recovered from their zeros, kernel groups checked), verified, reordered and
FKW-packed, lowered by the reference pconv-lower, then the host's loops, bufferization and
LLVM stages; compared with torch's conv3d on the same masked weights (RTOL, ATOL of conftest).
Also the kernel-group lowering of KGS / Vanilla pruned conv2d (as the conv3d of depth 1)."""

import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch_mlir import ir
from torch_mlir.dialects import arith, func

from conftest import ATOL, RTOL
from fretsaw.backends.base import Signature
from fretsaw.backends.host import HostBackend
from fretsaw.context import make_context
from fretsaw.dialect import pconv
from fretsaw.pipeline import run_pipeline
from fretsaw.target import CpuTarget

# the vector widths and register files the SIMD loops are written for (None: the host's); the
# 4-lane, 32-register one is NEON's description, run here as SSE
TARGETS = [None, CpuTarget("neon-like", 4, 2, registers=32), CpuTarget("x86-64-avx512", 16, 2, registers=32, shifts=True)]
ACTIVATIONS = {"none": lambda y: y, "relu": torch.relu, "relu6": lambda y: torch.clamp(y, 0, 6)}


def compile_conv3d(weight, bias, x_shape, strides, padding, dilations, groups, activation, group_shape=None,
                   reference=False, cpu=None, backend=None):
    """A host executable of one pconv.conv3d of these dense (pruned) weights: its SIMD loops
    (pconv-vectorize in the host's stages, for `cpu`: a fretsaw.target.CpuTarget, the host's by
    default; or on `backend`, e.g. AArch64Backend), or with `reference` the reference loops (pconv-lower)."""
    patterns, kernel_pattern = pconv.recover_patterns(weight)
    packed = pconv.pack_weights(weight, patterns, kernel_pattern)
    spatial = pconv.conv_output_size(x_shape[2:], weight.shape[2:], strides, padding, dilations)
    out_shape = [x_shape[0], weight.shape[0], *spatial]
    ctx = make_context()
    with ctx, ir.Location.unknown():
        module = ir.Module.create()
        f32 = ir.F32Type.get()
        x_type, y_type = ir.RankedTensorType.get(list(x_shape), f32), ir.RankedTensorType.get(out_shape, f32)
        with ir.InsertionPoint(module.body):
            main = func.FuncOp("main", ([x_type], [y_type]))
            with ir.InsertionPoint(main.add_entry_block()):
                w = arith.ConstantOp(ir.RankedTensorType.get([packed.size], f32), ir.DenseElementsAttr.get(packed))
                b = None if bias is None else arith.ConstantOp(ir.RankedTensorType.get([len(bias)], f32),
                                                               ir.DenseElementsAttr.get(bias)).result
                conv = pconv.build_conv(main.arguments[0], w.result, b, result_type=y_type, patterns=patterns,
                                        kernel_pattern=kernel_pattern, strides=strides, padding=padding,
                                        dilations=dilations, groups=groups, activation=activation,
                                        group_shape=group_shape)
                func.ReturnOp([conv.results[0]])
    assert conv.name == pconv.OPS[weight.ndim - 2]
    signature = Signature.of(module, "main")
    lower = ", pconv-lower" if reference else ""
    run_pipeline(module, f"builtin.module(pconv-verify, pconv-filter-kernel-reorder, pconv-pack-fkw{lower})")
    backend = backend or HostBackend(cpu=cpu)
    for stage in backend.stages():  # the backend's stages after "pconv", which made the op
        run_pipeline(module, stage.pipeline, stage=stage.name)
    return backend.emit(module, "main", signature)


def torch_conv3d(x, weight, bias, strides, padding, dilations, groups, activation):
    """PyTorch's conv of any rank (conv2d for 2-D weights) on padding low..., high... per dim."""
    rank = weight.ndim - 2
    low, high = padding[:rank], padding[rank:]
    padded = F.pad(torch.from_numpy(x), [p for d in reversed(range(rank)) for p in (low[d], high[d])])
    conv = F.conv3d if rank == 3 else F.conv2d
    y = conv(padded, torch.from_numpy(weight), None if bias is None else torch.from_numpy(bias),
             stride=strides, dilation=dilations, groups=groups)
    return ACTIVATIONS[activation](y).numpy()


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_pruned_conv3d_matches_torch(data):
    groups = data.draw(st.sampled_from([1, 2]))
    cin, cout = groups * data.draw(st.integers(1, 3)), groups * data.draw(st.integers(1, 3))
    kernel = data.draw(st.tuples(*[st.integers(1, 3)] * 3))
    strides = data.draw(st.tuples(*[st.integers(1, 2)] * 3))
    dilations = data.draw(st.tuples(*[st.integers(1, 2)] * 3))
    padding = data.draw(st.tuples(*[st.integers(0, 1)] * 6))
    size = data.draw(st.tuples(*[st.integers(1, 6)] * 3))
    spatial = pconv.conv_output_size(size, kernel, strides, padding, dilations)
    assume(min(spatial) >= 1)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    weight = rng.standard_normal((cout, cin // groups, *kernel)).astype(np.float32)
    weight *= rng.random(weight.shape) < data.draw(st.sampled_from([0.3, 0.6, 1.0]))  # taps kept
    weight[rng.random(weight.shape[:2]) < 0.3] = 0  # kernels removed
    bias = rng.standard_normal(cout).astype(np.float32) if data.draw(st.booleans()) else None
    activation = data.draw(st.sampled_from(sorted(ACTIVATIONS)))
    x = rng.standard_normal((data.draw(st.integers(1, 2)), cin, *size)).astype(np.float32)
    reference = data.draw(st.booleans())
    cpu = None if reference else data.draw(st.sampled_from(TARGETS))
    run = compile_conv3d(weight, bias, x.shape, strides, padding, dilations, groups, activation,
                         reference=reference, cpu=cpu)
    (got,) = run(x)
    np.testing.assert_allclose(got, torch_conv3d(x, weight, bias, strides, padding, dilations, groups, activation),
                               rtol=RTOL, atol=ATOL)


def kgs_weight(rng, cout, cin, kernel, g_out, g_in, keep, removed=0.25):
    """Weights whose groups of g_out filters x g_in input channels keep one shared set of `keep`
    kernel positions each (KGS), a share `removed` of the groups removed whole (Vanilla)."""
    weight = rng.standard_normal((cout, cin, *kernel)).astype(np.float32)
    positions = int(np.prod(kernel))
    for f in range(0, cout, g_out):
        for c in range(0, cin, g_in):
            mask = np.zeros(positions, dtype=bool)
            if rng.random() >= removed:
                mask[rng.choice(positions, min(keep, positions), replace=False)] = True
            weight[f:f + g_out, c:c + g_in] *= mask.reshape(kernel)
    return weight


@pytest.mark.parametrize("cpu", TARGETS, ids=["host", "neon-like", "avx512-like"])
@pytest.mark.parametrize("kernel, strides, group", [((3, 3, 3), (1, 1, 1), (2, 2)), ((1, 3, 3), (1, 2, 2), (4, 2)),
                                                    ((3, 1, 1), (2, 1, 1), (4, 4)), ((3, 3, 3), (2, 2, 2), (8, 1))])
def test_kernel_groups_conv3d_matches_torch(cpu, kernel, strides, group):
    # KGS groups keep a shared position set (a quarter of them removed, Vanilla); the filter blocks
    # of the SIMD loops read the group's columns; group_shape is verified
    rng = np.random.default_rng(sum(kernel) + sum(strides))
    cout, cin = 16, 8
    weight = kgs_weight(rng, cout, cin, kernel, *group, keep=max(1, int(np.prod(kernel)) // 4))
    bias = rng.standard_normal(cout).astype(np.float32)
    x = rng.standard_normal((1, cin, 5, 9, 11)).astype(np.float32)
    padding = tuple(k // 2 for k in kernel) * 2
    args = (strides, padding, (1, 1, 1), 1, "relu")
    run = compile_conv3d(weight, bias, x.shape, *args, group_shape=group, cpu=cpu)
    (got,) = run(x)
    np.testing.assert_allclose(got, torch_conv3d(x, weight, bias, *args), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("cpu", [CpuTarget("avx2-small-l1", 8, 2, l1=4096),
                                 CpuTarget("neon-like", 4, 2, registers=32, l1=4096)], ids=["avx2", "neon-like"])
def test_channel_tiles_conv3d_matches_torch(cpu, activation):
    # a 4 KiB L1 cuts 24 input channels into tiles of GROUP_TILE (8): the bias is stored first, each
    # tile's pass over all the unit's blocks adds to the parked sums, the activation comes last;
    # a short last row group (7 rows in blocks of 3: its own 1-row blocks), a partial last chunk,
    # batch 2, KGS groups of 4x4
    rng = np.random.default_rng(len(activation))
    weight = kgs_weight(rng, 8, 24, (3, 3, 3), 4, 4, keep=7)
    bias = rng.standard_normal(8).astype(np.float32)
    x = rng.standard_normal((2, 24, 3, 7, 10)).astype(np.float32)
    args = ((1, 1, 1), (1,) * 6, (1, 1, 1), 1, activation)
    (got,) = compile_conv3d(weight, bias, x.shape, *args, group_shape=(4, 4), cpu=cpu)(x)
    np.testing.assert_allclose(got, torch_conv3d(x, weight, bias, *args), rtol=RTOL, atol=ATOL)


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_temporal_convs_match_torch(data):
    # (k, 1, 1) convs (one channel tile, columns that share no rows) against PyTorch:
    # depth stride, dilation and padding, batch, groups, KGS or dense weights, every target
    k = data.draw(st.integers(1, 3))
    groups = data.draw(st.sampled_from([1, 2]))
    cin, cout = groups * data.draw(st.integers(1, 6)), groups * data.draw(st.sampled_from([1, 2, 4, 6]))
    size = (data.draw(st.integers(1, 5)), data.draw(st.integers(1, 7)), data.draw(st.integers(2, 13)))
    strides = (data.draw(st.integers(1, 2)), 1, 1)
    dilations = (data.draw(st.integers(1, 2)), 1, 1)
    front, back = data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))
    padding = (front, 0, 0, back, 0, 0)
    assume(min(pconv.conv_output_size(size, (k, 1, 1), strides, padding, dilations)) >= 1)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    weight = (kgs_weight(rng, cout, cin // groups, (k, 1, 1), 2, 1, keep=1) if data.draw(st.booleans())
              else rng.standard_normal((cout, cin // groups, k, 1, 1)).astype(np.float32))
    bias = rng.standard_normal(cout).astype(np.float32)
    activation = data.draw(st.sampled_from(sorted(ACTIVATIONS)))
    x = rng.standard_normal((data.draw(st.integers(1, 2)), cin, *size)).astype(np.float32)
    args = (strides, padding, dilations, groups, activation)
    (got,) = compile_conv3d(weight, bias, x.shape, *args, cpu=data.draw(st.sampled_from(TARGETS)))(x)
    np.testing.assert_allclose(got, torch_conv3d(x, weight, bias, *args), rtol=RTOL, atol=ATOL)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_kernel_groups_conv2d_match_torch(data):
    # a KGS or Vanilla pruned conv2d (filter blocks keeping the same columns) takes the
    # kernel-group lowering as the conv3d of depth 1: kernel sizes, strides, dilations, padding,
    # conv groups, batch, bias, every activation and target
    from fretsaw.passes.conv.schedule import kernel_groups

    groups, g_out = data.draw(st.sampled_from([1, 2])), data.draw(st.sampled_from([2, 4]))
    cin = groups * data.draw(st.integers(1, 6))
    cout = groups * g_out * data.draw(st.integers(1, 3))
    kernel = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    strides, dilations = (data.draw(st.tuples(*[st.integers(1, 2)] * 2)) for _ in range(2))
    padding = data.draw(st.tuples(*[st.integers(0, 2)] * 4))
    size = data.draw(st.tuples(st.integers(1, 9), st.integers(1, 20)))
    assume(min(pconv.conv_output_size(size, kernel, strides, padding, dilations)) >= 1)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    positions = kernel[0] * kernel[1]
    weight = kgs_weight(rng, cout, cin // groups, kernel, g_out, data.draw(st.integers(1, 3)),
                        keep=data.draw(st.integers(1, positions)), removed=data.draw(st.sampled_from([0.0, 0.3])))
    assume(0 < np.count_nonzero(weight) < weight.size)
    conv = types.SimpleNamespace(rank=2, output_shape=[1, cout], groups=groups)
    assert kernel_groups(conv, weight)
    bias = rng.standard_normal(cout).astype(np.float32) if data.draw(st.booleans()) else None
    activation = data.draw(st.sampled_from(sorted(ACTIVATIONS)))
    x = rng.standard_normal((data.draw(st.integers(1, 2)), cin, *size)).astype(np.float32)
    args = (strides, padding, dilations, groups, activation)
    # small caches cut 9-12 channels into tiles (parked sums) where the others take one tile
    cpu = data.draw(st.sampled_from([*TARGETS, CpuTarget("avx2-small-caches", 8, 2, l1=4096, l2=4096)]))
    (got,) = compile_conv3d(weight, bias, x.shape, *args, cpu=cpu)(x)
    np.testing.assert_allclose(got, torch_conv3d(x, weight, bias, *args), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("size", [(7, 7), (5, 14), (3, 28)])
def test_flat_kernel_group_pointwise_conv2d_matches_torch(size):
    # a KGS pointwise conv2d whose rows lose lanes runs on its H*W pixels as one row (flat_groups):
    # chunks across the row ends, a partial last chunk, groups of 2 filters, bias, batch 2
    from fretsaw.passes.conv.schedule import SimdTarget, flat_groups

    rng = np.random.default_rng(size[1])
    weight = kgs_weight(rng, 8, 12, (1, 1), 2, 3, keep=1)
    bias = rng.standard_normal(8).astype(np.float32)
    x = rng.standard_normal((2, 12, *size)).astype(np.float32)
    args = ((1, 1), (0, 0, 0, 0), (1, 1), 1, "relu")
    conv = types.SimpleNamespace(input_shape=list(x.shape), output_shape=[2, 8, *size], patterns=np.ones((1, 1, 1), bool),
                                 strides=[1, 1], padding=[0] * 4, rank=2, kernel_shape=(1, 1))
    assert flat_groups(conv, SimdTarget(8, 10))
    (got,) = compile_conv3d(weight, bias, x.shape, *args)(x)
    np.testing.assert_allclose(got, torch_conv3d(x, weight, bias, *args), rtol=RTOL, atol=ATOL)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_strided_pointwise_kernel_group_convs_match_torch(data):
    # a KGS / Vanilla 1x1 (2-D) or 1x1x1 (3-D) conv at a stride, unpadded (a video ResNet's
    # downsampling shortcut), is the stride-1 pointwise conv over its decimated input (decimate),
    # then flattened: strides per axis, odd sizes, batch, bias, activation, every target
    rank = data.draw(st.sampled_from([2, 3]))
    strides = data.draw(st.tuples(*[st.integers(1, 3)] * rank))
    assume(max(strides) > 1)
    size = data.draw(st.tuples(*[st.integers(1, 12)] * rank))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    cout, cin = 4 * data.draw(st.integers(1, 4)), data.draw(st.integers(1, 16))
    weight = kgs_weight(rng, cout, cin, (1,) * rank, 4, data.draw(st.integers(1, 4)), keep=1,
                        removed=data.draw(st.sampled_from([0.0, 0.4])))
    assume(np.count_nonzero(weight) > 0)
    bias = rng.standard_normal(cout).astype(np.float32) if data.draw(st.booleans()) else None
    activation = data.draw(st.sampled_from(sorted(ACTIVATIONS)))
    x = rng.standard_normal((data.draw(st.integers(1, 2)), cin, *size)).astype(np.float32)
    args = (strides, (0,) * (2 * rank), (1,) * rank, 1, activation)
    (got,) = compile_conv3d(weight, bias, x.shape, *args, cpu=data.draw(st.sampled_from(TARGETS)))(x)
    np.testing.assert_allclose(got, torch_conv3d(x, weight, bias, *args), rtol=RTOL, atol=ATOL)


def test_only_grouped_pruned_conv2d_take_kernel_groups():
    # KGS and Vanilla weights do; dense, PatDNN-pattern (each filter its own pattern per kernel),
    # depthwise (one filter per conv group) and run-time weights do not
    from fretsaw.passes.conv.schedule import kernel_groups

    rng = np.random.default_rng(5)
    conv = types.SimpleNamespace(rank=2, output_shape=[1, 16], groups=1)
    assert kernel_groups(conv, kgs_weight(rng, 16, 8, (3, 3), 4, 4, keep=3))
    assert kernel_groups(conv, kgs_weight(rng, 16, 8, (1, 1), 4, 1, keep=1, removed=0.7))
    dense = rng.standard_normal((16, 8, 3, 3))
    assert not kernel_groups(conv, dense) and not kernel_groups(conv, None)
    patterned = dense * (rng.random((16, 8, 3, 3)) < 0.45)
    assert not kernel_groups(conv, patterned)
    depthwise = types.SimpleNamespace(rank=2, output_shape=[1, 16], groups=16)
    assert not kernel_groups(depthwise, kgs_weight(rng, 16, 1, (3, 3), 1, 1, keep=3))


@pytest.mark.parametrize("fp16", [False, True])
@pytest.mark.parametrize("rank", [3, 2])
def test_kernel_groups_under_qemu(fp16, rank):
    # the NEON loops of a KGS conv3d and conv2d (and in fp16 with +fullfp16) cross-compiled and run
    # under qemu-aarch64; fp16 within the AArch64 backend's fp16 tolerance
    from fretsaw import AArch64Options
    from fretsaw.backends.aarch64 import FP16_TOLERANCE, AArch64Backend

    rng = np.random.default_rng(3)
    kernel, size = ((3, 3, 3), (4, 7, 9)) if rank == 3 else ((3, 3), (7, 9))
    weight = kgs_weight(rng, 8, 8, kernel, 4, 2, keep=7 if rank == 3 else 3)
    bias = rng.standard_normal(8).astype(np.float32)
    x = rng.standard_normal((1, 8, *size)).astype(np.float32)
    args = ((1, 2, 2)[-rank:], (1,) * 2 * rank, (1,) * rank, 1, "relu")
    backend = AArch64Backend(AArch64Options(fp16=fp16, threads=2))
    (got,) = compile_conv3d(weight, bias, x.shape, *args, group_shape=(4, 2), backend=backend).run(x)
    rtol, atol = (FP16_TOLERANCE, FP16_TOLERANCE) if fp16 else (RTOL, ATOL)
    np.testing.assert_allclose(got, torch_conv3d(x, weight, bias, *args), rtol=rtol, atol=atol)


def test_filter_blocks_follow_the_kernel_groups():
    # the block size divides the kernel groups' filters when that wastes nothing, and a block of
    # filters that do not share columns counts the zeros it would multiply
    from fretsaw.passes.conv.groups import block_waste

    rng = np.random.default_rng(1)
    grouped = kgs_weight(rng, 16, 8, (3, 3, 3), 4, 4, keep=7)
    assert block_waste(grouped, 4) == 1.0 and block_waste(grouped, 2) == 1.0
    assert block_waste(grouped, 8) > 1.5  # two groups' position sets in one block
    unstructured = rng.standard_normal((8, 4, 3, 3, 3)) * (rng.random((8, 4, 3, 3, 3)) < 0.3)
    assert block_waste(unstructured, 1) == 1.0 and block_waste(unstructured, 4) > 2


def test_batchnorm_folds_into_conv_of_every_rank():
    # ConvNd -> BatchNormNd pairs of one rank fold into the conv (no BatchNorm is called any more),
    # with the same outputs
    from fretsaw.frontend.torch_import import fold_batchnorm

    for conv, bn, shape in ((torch.nn.Conv1d(3, 4, 3), torch.nn.BatchNorm1d(4), (2, 3, 9)),
                            (torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), (2, 3, 9, 9)),
                            (torch.nn.Conv3d(3, 4, 3), torch.nn.BatchNorm3d(4), (2, 3, 5, 6, 7))):
        model = torch.nn.Sequential(conv, bn, torch.nn.ReLU()).eval()
        with torch.no_grad():
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 2)
        folded = fold_batchnorm(model)
        modules = dict(folded.named_modules())
        calls = [modules[n.target] for n in folded.graph.nodes if n.op == "call_module"]
        assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in calls), type(bn)
        x = torch.randn(*shape)
        with torch.no_grad():
            np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), rtol=RTOL, atol=ATOL)
