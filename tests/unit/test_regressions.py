"""Named regression tests: each model here once compiled to a wrong answer or an error it should
not have given. Numerics against PyTorch on the same weights (conftest: rtol 1e-4, atol 1e-5)."""

import torch
import torch.nn.functional as F
from conftest import check_against_torch
from torch import nn

from fretsaw.prune.patterns import random_pattern_prune


class ChannelsLastBlock(nn.Module):
    """A ConvNeXt block behind a patchify stem: LayerNorm over channels-last views, a depthwise 7x7
    conv, an MLP and a scaled residual. Issue 16: cse merged the residual add's read of `y` with
    the depthwise conv's earlier read, past a transpose that bufferization then placed in `y`'s
    buffer, so the add read the MLP's output twice (relative error 1.0, no error raised)."""

    def __init__(self, c: int = 96):
        super().__init__()
        self.stem, self.n1 = nn.Conv2d(3, c, 4, stride=4), nn.LayerNorm(c, eps=1e-6)
        self.dwc, self.n2 = nn.Conv2d(c, c, 7, padding=3, groups=c), nn.LayerNorm(c, eps=1e-6)
        self.l1, self.l2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.g = nn.Parameter(torch.ones(c, 1, 1) * 1e-6)

    def forward(self, x):
        y = self.n1(self.stem(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        z = self.l2(F.gelu(self.l1(self.n2(self.dwc(y).permute(0, 2, 3, 1))))).permute(0, 3, 1, 2)
        return self.g * z + y


def test_channels_last_residual_block():
    check_against_torch(ChannelsLastBlock(), torch.randn(1, 3, 64, 64))


class SameTensorTwice(nn.Module):
    """One tensor returned as two outputs, and two identical heads (cse merges them into one value).
    Found by the fuzzer (issue 16): the entry function returned one tensor twice, bufferization
    returned its one buffer twice, and buffer-results-to-out-params{hoist-static-allocs} replaced
    that alloc by the first out-parameter, erased it and crashed the process (a segmentation fault)
    on the second. distinct-results now copies a repeated result before bufferization."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return y, torch.relu(y + 1), y, torch.relu(y + 1)


def test_same_tensor_returned_twice():
    cm = check_against_torch(SameTensorTwice(), torch.randn(1, 3, 6, 6))
    assert len(cm.signature.outputs) == 4


class TanhGelu(nn.Module):
    """A conv, then GELU's tanh approximation (GPT-2 / BERT style MLPs). Found by the fuzzer (issue 16):
    Torch-MLIR lowers aten.gelu(approximate="tanh") with 0.797724 for sqrt(2 / pi) = 0.7978846, so
    outputs near -0.17 were off by 5e-5 (3e-4 relative), past the stated tolerance, with no error.
    The torch import now decomposes the tanh form as PyTorch computes it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)

    def forward(self, x):
        return F.gelu(self.conv(x), approximate="tanh")


def test_tanh_gelu_matches_torch():
    check_against_torch(TanhGelu(), 3 * torch.randn(1, 4, 8, 8))


class UnevenAdaptiveMaxPool(nn.Module):
    """Adaptive max pooling whose windows do not step evenly: 8 rows to 3 (rows 0-2, 2-5, 5-7), 6
    columns to 4, and 3 rows to 4 (upsampling), indices returned too. Found by the fuzzer (issue
    16): Torch-MLIR lowers the op as max pooling with one kernel and stride; 6 to 4 failed to compile
    ("'tensor.cast' op ... cast incompatible") and 8 to 3 compiled with a run-time assertion ("only
    support cases with fixed stride size") that aborted the process on the first call. The torch
    import now turns uneven windows into a max over a gather of their taps."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        values, indices = F.adaptive_max_pool2d(y, (3, 4), return_indices=True)
        return values, indices.float(), F.adaptive_max_pool2d(y[:, :, :3], (4, 2)), F.adaptive_max_pool2d(y, (4, 3))


def test_uneven_adaptive_max_pool():
    check_against_torch(UnevenAdaptiveMaxPool(), torch.randn(2, 3, 8, 6))


class SharedConvOutput(nn.Module):
    """A conv's output read by ops left upstream (tanh, a reduction) and by SIMD loops (max pooling,
    a residual add), as in MobileNet-V3 / EfficientNet blocks (hardswish, SiLU, SE gates). Found by
    the fuzzer (issue 16): check-buffer-reads counted every tensor op as one that may overwrite any
    buffer, so the pooling's read of the conv's buffer after the tanh refused the model to compile.
    It now counts only writes into the buffer read (views, linalg inits, insert destinations)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return torch.tanh(y), F.max_pool2d(y, 2), y.amax(1), y + x[:, :1]


def test_conv_output_read_upstream_and_by_simd_loops():
    check_against_torch(SharedConvOutput(), torch.randn(2, 3, 8, 6))


class CropEverything(nn.Module):
    """Pads that crop every input column or row and pad others back (`F.pad(x, (1, -1))` on a
    one-column tensor keeps no input element: its output is all pad value), before a conv and
    alone. Found by the fuzzer (issue 16): the crop became an empty slice, which bufferization
    refused ("offset 4 is out-of-bounds: 1 >= 1: 'memref.subview'"). The crop's decomposition now
    gives the filled tensor directly."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1)

    def forward(self, x):
        return self.conv(F.pad(x, (2, -1), value=0.5)), F.pad(x, (0, 0, 1, -3)), F.pad(x, (1, -1)) + x


def test_crop_of_everything():
    check_against_torch(CropEverything(), torch.randn(1, 2, 3, 1))


class GroupedUniformBias(nn.Module):
    """A grouped conv whose bias is one value in every channel, and a grouped Conv1d. Found by the
    ONNX backend tests (issue 16: AlexNet's grouped convs, test_Conv1d_groups): Torch-MLIR folds such
    a bias into one 5-D (N, G, F, OH, OW) constant, which pconv-raise sliced as 4-D (an internal
    ValueError); a grouped Conv1d is a grouped 2-D conv on a 3-D input, which pconv-raise raised
    into a pconv.conv2d the verifier rejected. Now the 5-D init is read per channel and a conv
    whose input is not 4-D stays upstream."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.line = nn.Conv1d(4, 6, 3, groups=2)
        with torch.no_grad():
            self.conv.bias.fill_(0.5)

    def forward(self, x):
        y = self.conv(x)
        return y, self.line(y.flatten(2)[:, :, :9])


def test_grouped_conv_with_uniform_bias_and_grouped_conv1d():
    check_against_torch(GroupedUniformBias(), torch.randn(2, 4, 6, 6))


class UnstructuredTaps(nn.Module):
    """A 7x7 conv with half of its taps zero at random (no two kernels alike), beside a 3x3 conv
    pruned to 8 patterns. Found by the fuzzer (issue 16): pconv-raise kept up to 127 patterns
    whatever their size, and the lowering unrolls every pattern's taps, so a pattern per kernel
    (here 112 patterns of 25 taps) took minutes to compile (correct, but a hang to the user). Past
    MAX_PATTERN_TAPS taps in all a layer's sparsity counts as unstructured and its kept kernels are
    computed whole."""

    def __init__(self):
        super().__init__()
        self.wide, self.small = nn.Conv2d(7, 16, 7, padding=3), nn.Conv2d(16, 16, 3, padding=1)
        with torch.no_grad():
            self.wide.weight.mul_(torch.rand(self.wide.weight.shape) < 0.5)
        random_pattern_prune(self.small, num_patterns=8, connectivity=0.5, seed=0, skip_first=False)

    def forward(self, x):
        return self.small(self.wide(x))


def test_unstructured_taps_fall_back_to_whole_kernels():
    cm = check_against_torch(UnstructuredTaps(), torch.randn(1, 7, 16, 16))
    wide, small = cm.stats()["layers"]
    assert len(wide["pattern_histogram"]) == 1 and len(small["pattern_histogram"]) == 8


def test_ceil_mode_pool_3d_reads_no_next_row():
    # A 3-D pool's last window column past the row (9 columns, 2x2x2 windows at stride 2, ceil
    # mode) loads 16 lanes of which 8 lie inside. With the row's mask an i1 splat AND a constant
    # mask, LLVM 22's x86 backend (AVX2, at -O1 and -O2) loaded that vector's upper 8 lanes
    # unmasked: the next row's first column joined the sums and maxima. dense-vectorize now
    # builds such masks with one create_mask.
    x = torch.arange(3 * 4 * 9, dtype=torch.float32).reshape(1, 1, 3, 4, 9)
    for opt_level in (1, 2):
        for pool in (nn.AvgPool3d(2, ceil_mode=True), nn.MaxPool3d(2, ceil_mode=True)):
            check_against_torch(pool, x, opt_level=opt_level)
