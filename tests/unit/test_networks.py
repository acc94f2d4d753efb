"""Numerics of non-conv layers and whole small networks against PyTorch."""

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from conftest import check_against_torch
from fretsaw.examples import NETWORKS, randomize_batchnorm
from fretsaw.prune import random_pattern_prune


def test_batchnorm_folded_into_conv():
    model = randomize_batchnorm(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False),
                                              nn.BatchNorm2d(8), nn.ReLU()))
    random_pattern_prune(model, skip_first=False, connectivity=0.7)
    zeros_before = int((model[0].weight == 0).sum())
    cm = check_against_torch(model, torch.randn(1, 3, 8, 8))
    # End to end: torch-mlir's lowering folds the BatchNorm into the conv's constants (there is no
    # fretsaw pass to lit-test for that) and pconv-raise then takes the ReLU (lit pconv-raise.mlir).
    pconv_ir = cm.ir("pconv")
    assert "math.sqrt" not in pconv_ir and "linalg.generic" not in pconv_ir  # BN fully folded
    layer = cm.stats()["layers"][0]
    assert layer["activation"] == "relu"
    kept_weights = layer["sparse_flops"] // (2 * 8 * 8)
    assert kept_weights == 8 * 3 * 9 - zeros_before  # scaling kept every zero


@pytest.mark.parametrize("affine", [True, False])
def test_fresh_batchnorm_conv_is_raised(affine):
    # A BatchNorm at its initial statistics folds to a zero bias, which torch-mlir turns into a
    # constant accumulator instead of a fill or broadcast; the conv must still become pconv.
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8, affine=affine), nn.ReLU6())
    random_pattern_prune(model, skip_first=False)
    cm = check_against_torch(model, torch.randn(1, 4, 6, 6))
    assert cm.stats()["conv_layers"] == 1
    assert cm.stats()["layers"][0]["activation"] == "relu6"


@pytest.mark.parametrize("pool", [nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(2),
                                  nn.AvgPool2d(3, 1, 1), nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool2d((2, 3)),
                                  nn.AdaptiveMaxPool2d(2)])
def test_pooling(pool):
    check_against_torch(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), pool), torch.randn(1, 3, 8, 8))


def scalar_pooling_left(loops: str) -> bool:
    """Whether a pool is still linalg in the loops stage: a named pool, a generic with reduction
    iterators (3-D max pooling's, a global pool's) or the transposes around a channels-last pool.
    (An average pool's division may stay a generic: all parallel, elementwise or index-based.)"""
    return "linalg.pooling" in loops or '"reduction"' in loops or "linalg.transpose" in loops


@settings(max_examples=25, deadline=None)
@given(channels=st.integers(1, 5), batch=st.integers(1, 2), height=st.integers(3, 40), width=st.integers(3, 40),
       kernel=st.integers(1, 4), stride=st.integers(1, 3), pad=st.integers(0, 2), dilation=st.integers(1, 2),
       ceil=st.booleans(), kind=st.sampled_from(["max", "avg", "avg_exclude_pad"]))
def test_pooling_random_shapes(channels, batch, height, width, kernel, stride, pad, dilation, ceil, kind):
    # Max and average pooling take dense-vectorize's SIMD loops (masked loads of the unpadded input)
    # whatever the window, stride, padding, dilation and rounding; rows wider than a vector too.
    pad = min(pad, kernel // 2)
    span = dilation * (kernel - 1) + 1
    assume(min(height, width) + 2 * pad >= span)  # at least one output pixel
    if kind == "max":
        pool = nn.MaxPool2d(kernel, stride, pad, dilation=dilation, ceil_mode=ceil)
    else:
        pool = nn.AvgPool2d(kernel, stride, pad, ceil_mode=ceil, count_include_pad=kind == "avg")
    model = nn.Sequential(nn.Conv2d(2, channels, 1), pool)
    cm = check_against_torch(model, torch.randn(batch, 2, height, width))
    # This test's premise over random shapes, which a lit test of fixed ones (dense-vectorize.mlir)
    # cannot state: every generated pooling took the SIMD loops, so the numerics above test them.
    assert not scalar_pooling_left(cm.ir("loops"))


def test_linear_and_flatten():
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 7), nn.ReLU(), nn.Linear(7, 3))
    check_against_torch(model, torch.randn(1, 2, 6, 6))


def test_flatten_then_linear_stays_a_simd_matmul():
    # VGG's classifier: flatten, then a linear layer N = 32. Upstream's elementwise fusion would fold the
    # flatten and the weight transpose into one generic contraction on scalar loops (an order of
    # magnitude slower on VGG-16); the matmul is lowered before that pass runs.
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 32), nn.ReLU())
    cm = check_against_torch(model, torch.randn(1, 2, 6, 6))
    # End to end: what this checks is the order of the host backend's loops stage (matmuls before
    # linalg-fuse-elementwise-ops), which no single-pass lit test sees.
    loops = cm.ir("loops")
    assert "reduction" not in loops and "linalg.transpose" not in loops
    assert loops.count("vector.fma") >= 2


class Residual(nn.Module):
    """A ResNet basic block (2-D, or R3D-18's with nn.Conv3d): conv, ReLU, conv, the residual add
    and its ReLU."""

    def __init__(self, conv=nn.Conv2d):
        super().__init__()
        self.a = conv(4, 4, 3, padding=1)
        self.b = conv(4, 4, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.b(torch.relu(self.a(x))) + x)


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(3, 5, 3, padding=1)

    def forward(self, x):
        return torch.cat([self.a(x), torch.relu(self.b(x))], dim=1)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x, y):
        return self.conv(x) * y, x + y


@pytest.mark.parametrize("conv,shape", [(nn.Conv2d, (1, 4, 7, 7)), (nn.Conv3d, (1, 4, 3, 7, 7))], ids=["2d", "3d"])
def test_residual_add(conv, shape):
    # The add and its ReLU are fused (linalg-fuse-elementwise-ops) and run as one vector loop over
    # the 196 (588) elements (a masked tail for those past the last whole vector), 4-D or 5-D alike.
    # End to end: upstream's fusion then dense-vectorize in the host pipeline (dense-vectorize's
    # part: lit @add_relu).
    cm = check_against_torch(Residual(conv), torch.randn(*shape))
    loops = cm.ir("loops")
    assert "linalg.generic" not in loops and "memref.collapse_shape" in loops


class Elementwise(nn.Module):
    def forward(self, x, y):
        return torch.clamp(x * y - x / (y.abs() + 1), -2.0, 2.0) + torch.maximum(x, y) - 0.5 * x


class Broadcast(nn.Module):
    def forward(self, x, y):
        return x + y.mean(dim=1, keepdim=True)


class Tanh(nn.Module):
    def forward(self, x, y):
        return torch.tanh(x) * y


@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (2, 16, 8, 8), (1, 1, 1, 3)])
def test_elementwise_vector_loops(shape):
    # Float elementwise bodies (mul, div, abs via max/neg or select, clamp, maximum, constants)
    # replayed on vectors; whole vectors only, a masked tail only, and both (that IR: lit
    # dense-vectorize.mlir @elementwise_ops, @whole_vectors, @tail_only).
    x, y = torch.randn(*shape), torch.randn(*shape)
    check_against_torch(Elementwise(), x, y)


@pytest.mark.parametrize("module", [Broadcast(), Tanh()])
def test_other_elementwise_stays_upstream(module):
    # A broadcasting operand (non-identity map) or an op without a vector replay (tanh) is left to
    # upstream's loops (lit dense-vectorize.mlir @broadcast_operand, @tanh_body), and still correct.
    check_against_torch(module, torch.randn(1, 4, 5, 6), torch.randn(1, 4, 5, 6))


def test_concat():
    check_against_torch(Concat(), torch.randn(1, 3, 6, 6))


def test_two_inputs_two_outputs():
    cm = check_against_torch(TwoInputs(), torch.randn(1, 3, 5, 5), torch.randn(1, 3, 5, 5))
    assert len(cm.signature.outputs) == 2


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_whole_network_pattern_pruned(name):
    model = randomize_batchnorm(NETWORKS[name](width=8)).eval()
    random_pattern_prune(model, num_patterns=8, connectivity=0.5, seed=3)
    cm = check_against_torch(model, torch.randn(1, 3, 32, 32))
    stats = cm.stats()
    conv_names = [path for path, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert [layer["name"] for layer in stats["layers"]] == conv_names  # named by module path, in order
    assert stats["flops_reduction"] > 1.0
    pruned = [layer for layer in stats["layers"] if layer["kernel_size"] == [3, 3]][1:]
    assert pruned and all(key.count("1") == 4 for layer in pruned for key in layer["pattern_histogram"])


@pytest.mark.parametrize("k,n,batch", [(64, 32, 1), (100, 40, 3), (300, 24, 2), (48, 10, 1), (128, 1000, 1)])
def test_linear_layers(k, n, batch):
    # N a multiple of the vector width, or of half of it and so on down to 4 lanes, takes the SIMD
    # lowering (1000 classes: 8 lanes on AVX-512); 10 outputs stay scalar; the weight transpose is
    # folded at compile time (that IR: lit dense-vectorize.mlir @linear, @narrow, @half_width).
    model = nn.Sequential(nn.Linear(k, n), nn.ReLU())
    check_against_torch(model, torch.randn(batch, k))


class SharedInput(nn.Module):
    """Three linear layers of one width: torch-mlir gives their matmuls one shared zero fill, and
    an elementwise op reuses that fill's buffer in between."""

    def __init__(self):
        super().__init__()
        self.l0, self.l1, self.l2 = nn.Linear(64, 64), nn.Linear(64, 64), nn.Linear(64, 64)

    def forward(self, x):
        y = torch.relu(self.l0(x))
        return self.l1(y) + (y * 2 + 1) + self.l2(y)


def test_linear_layers_sharing_a_fill():
    # All three take the SIMD lowering: lit dense-vectorize.mlir @shared_fill.
    check_against_torch(SharedInput(), torch.randn(1, 64))


@pytest.mark.parametrize("pool", [
    nn.MaxPool3d((1, 2, 2)), nn.MaxPool3d(2), nn.MaxPool3d(2, 2, (0, 1, 1)), nn.MaxPool3d(3, 2, 1, ceil_mode=True),
    nn.MaxPool3d(2, 1, dilation=2), nn.AvgPool3d((1, 2, 2)), nn.AvgPool3d(2), nn.AvgPool3d(3, 2, 1),
    nn.AvgPool3d(3, 2, 1, count_include_pad=False), nn.AvgPool3d(2, ceil_mode=True),
    nn.AdaptiveAvgPool3d(1), nn.AdaptiveAvgPool3d((1, 2, 2)), nn.AdaptiveAvgPool3d((2, 4, 4)),
    nn.AdaptiveMaxPool3d(1), nn.AdaptiveMaxPool3d((2, 2, 2)), nn.AdaptiveMaxPool3d((1, 1, 1))],
    ids=lambda pool: repr(pool) + (f" ceil_mode={pool.ceil_mode} count_include_pad={pool.count_include_pad}"
                                   if isinstance(pool, nn.AvgPool3d) else ""))
def test_pooling_3d(pool):
    # C3D's pools ((1,2,2), (2,2,2), pool5's padding (0,1,1)), ceil mode, dilation, average pooling
    # with and without the padding counted, adaptive pools to one output (a max / mean over the
    # volume) and to sizes that divide the input (plain pools): all take the SIMD loops.
    cm = check_against_torch(pool, torch.randn(1, 3, 4, 8, 8))
    assert not scalar_pooling_left(cm.ir("loops"))


@pytest.mark.parametrize("pool", [nn.AdaptiveAvgPool3d((1, 3, 3)), nn.AdaptiveMaxPool3d((2, 3, 5))], ids=repr)
def test_uneven_adaptive_pooling_3d_stays_correct(pool):
    # 8 rows to 3 (rows 0-2, 2-5, 5-7) is no plain pool: Torch-MLIR's own lowering (scalar loops).
    check_against_torch(pool, torch.randn(1, 2, 4, 8, 8))


@settings(max_examples=25, deadline=None)
@given(channels=st.integers(1, 4), batch=st.integers(1, 2), depth=st.integers(1, 9), height=st.integers(1, 12),
       width=st.integers(1, 40), kernel=st.tuples(*[st.integers(1, 3)] * 3), stride=st.tuples(*[st.integers(1, 3)] * 3),
       pad=st.tuples(*[st.integers(0, 1)] * 3), dilation=st.integers(1, 2), ceil=st.booleans(),
       kind=st.sampled_from(["max", "avg", "avg_exclude_pad"]))
def test_pooling_3d_random_shapes(channels, batch, depth, height, width, kernel, stride, pad, dilation, ceil, kind):
    # 3-D max and average pooling take dense-vectorize's SIMD loops (per depth plane and row, loads
    # of the unpadded input) whatever the window, stride, padding, dilation (max) and rounding.
    pad = tuple(min(p, k // 2) for p, k in zip(pad, kernel))
    dilation = dilation if kind == "max" else 1
    if kind == "max":
        pool = nn.MaxPool3d(kernel, stride, pad, dilation=dilation, ceil_mode=ceil)
    else:
        pool = nn.AvgPool3d(kernel, stride, pad, ceil_mode=ceil, count_include_pad=kind == "avg")
    try:  # shapes PyTorch pools (an input smaller than the window, or no output, it refuses)
        pool(torch.zeros(1, 1, depth, height, width))
    except RuntimeError:
        assume(False)
    model = nn.Sequential(nn.Conv3d(2, channels, 1), pool)
    cm = check_against_torch(model, torch.randn(batch, 2, depth, height, width))
    # This test's premise over random shapes: every generated pool took the SIMD loops, so the
    # numerics above test them.
    assert not scalar_pooling_left(cm.ir("loops"))


@pytest.mark.parametrize("shape", [(1, 4, 2, 7, 7), (2, 3, 1, 2, 4), (1, 2, 1, 1, 3), (1, 300, 2, 7, 7)], ids=str)
@pytest.mark.parametrize("pool", [nn.AdaptiveAvgPool3d(1), nn.AdaptiveMaxPool3d(1)], ids=repr)
def test_global_pooling_3d(pool, shape):
    # A global pool is a vector reduction per (image, channel): whole vectors and a masked last one
    # (98 elements), one whole vector (8), the masked vector alone (3); 300 channels of 98 are two
    # threads' chunks of rows (167 and 133).
    cm = check_against_torch(pool, torch.randn(*shape))
    loops = cm.ir("loops")
    assert not scalar_pooling_left(loops) and "vector.reduction" in loops
