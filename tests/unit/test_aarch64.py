"""The AArch64 backend: NEON code cross-compiled with opt-22/llc-22, linked with
aarch64-linux-gnu-gcc and run under qemu-aarch64, compared with PyTorch on the same masked weights
(tolerances of conftest: rtol 1e-4, atol 1e-5)."""

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fretsaw
from conftest import check_against_torch
from fretsaw import FretsawError
from fretsaw.backends.aarch64 import FP16_TOLERANCE
from fretsaw.examples import NETWORKS, randomize_batchnorm
from fretsaw.prune import random_pattern_prune
from test_conv import conv_net, prune_
from test_networks import TwoInputs

README = Path(__file__).resolve().parents[2] / "README.md"
EM_AARCH64 = 183  # ELF e_machine


def check(model, *inputs, **options):
    return check_against_torch(model, *inputs, target="aarch64", **options)


@pytest.mark.parametrize("kernel,stride,padding,dilation,groups,cin,cout", [
    (3, 1, 1, 1, 1, 8, 12),   # the pattern conv
    (3, 2, 1, 1, 1, 6, 8),    # stride 2: phase planes
    (3, 1, 2, 2, 1, 4, 6),    # dilation
    (1, 1, 0, 1, 1, 16, 8),   # 1x1
    (3, 1, 1, 1, 8, 8, 8),    # depthwise
    (3, 2, 1, 1, 2, 4, 6),    # groups, strided
    (5, 1, 2, 1, 1, 3, 4),    # 5x5
])
def test_conv_variants_under_qemu(kernel, stride, padding, dilation, groups, cin, cout):
    conv = nn.Conv2d(cin, cout, kernel, stride, padding, dilation, groups, bias=True)
    if kernel == 3:
        prune_(conv, np.random.default_rng(2), keep=0.5)
    cm = check(conv_net(conv, "relu6" if groups > 1 else "relu"), torch.randn(1, cin, 11, 13))
    assert cm.backend.cpu.vector_width == 4  # NEON


@settings(max_examples=4, deadline=None)
@given(cin=st.integers(1, 6), cout=st.integers(1, 6), size=st.integers(5, 12), stride=st.sampled_from([1, 2]),
       keep=st.sampled_from([1.0, 0.5, 0.2]), seed=st.integers(0, 99))
def test_random_pattern_convs_under_qemu(cin, cout, size, stride, keep, seed):
    torch.manual_seed(seed)
    conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=True)
    prune_(conv, np.random.default_rng(seed), keep)
    check(conv_net(conv, "relu"), torch.randn(1, cin, size, size))


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_small_networks_pattern_pruned_under_qemu(name):
    model = randomize_batchnorm(NETWORKS[name](width=8)).eval()
    random_pattern_prune(model, num_patterns=8, connectivity=0.5, seed=3)
    cm = check(model, torch.randn(1, 3, 32, 32))
    assert cm.stats()["flops_reduction"] > 1.0


def test_two_inputs_two_outputs_and_linear_under_qemu():
    check(TwoInputs(), torch.randn(1, 3, 5, 5), torch.randn(1, 3, 5, 5))
    check(nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.ReLU()), torch.randn(2, 3, 4, 4))


@pytest.fixture(scope="module")
def small_vgg():
    torch.manual_seed(0)
    model = randomize_batchnorm(NETWORKS["vgg"](width=8)).eval()
    random_pattern_prune(model, num_patterns=8, connectivity=0.5, seed=1)
    x = torch.randn(1, 3, 32, 32)
    return model, x, fretsaw.compile(model, (x,), target="aarch64", threads=3)


@pytest.mark.parametrize("threads", ["1", "2", "5"])
def test_thread_count_changes_nothing_but_speed(small_vgg, monkeypatch, threads):
    model, x, cm = small_vgg
    monkeypatch.setenv("FRETSAW_NUM_THREADS", threads)
    with torch.no_grad():
        want = model(x).numpy()
    got = cm.run_emulated(x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    monkeypatch.setenv("FRETSAW_NUM_THREADS", "3")
    np.testing.assert_array_equal(cm.run_emulated(x), got)  # static split: same sums in the same order


def test_saved_artifact(small_vgg, tmp_path):
    _, x, cm = small_vgg
    paths = cm.save(tmp_path, name="vgg")
    assert {p.name for p in paths.values()} == {"vgg.o", "vgg.h", "vgg_api.c", "vgg_driver.c",
                                                 "fretsaw_runtime.c", "Makefile", "vgg.json"}
    obj = paths["object"].read_bytes()
    assert obj[:4] == b"\x7fELF" and int.from_bytes(obj[18:20], "little") == EM_AARCH64
    header = paths["header"].read_text()
    assert "void vgg_run(const float *input0, float *output0);" in header
    assert "#define VGG_INPUT0_SIZE 3072" in header and "float[1][3][32][32]" in header
    assert json.loads(paths["manifest"].read_text())["outputs"] == [[1, 10]]
    # the shared library exports the entry point and the runtime, nothing undefined but libc/libm
    subprocess.run(["make", "-C", str(tmp_path), "libvgg.so"], check=True, capture_output=True)
    symbols = subprocess.run(["aarch64-linux-gnu-nm", "-D", "--defined-only", str(tmp_path / "libvgg.so")],
                             check=True, capture_output=True, text=True).stdout
    assert re.search(r" T vgg_run$", symbols, re.M) and re.search(r" T __kmpc_fork_call$", symbols, re.M)
    # the driver: raw float32 files in and out, and a latency with REPEATS
    subprocess.run(["make", "-C", str(tmp_path), "vgg"], check=True, capture_output=True)
    x.numpy().tofile(tmp_path / "x.bin")
    run = subprocess.run(["qemu-aarch64", str(tmp_path / "vgg"), str(tmp_path / "x.bin"), str(tmp_path / "y.bin"), "3"],
                         check=True, capture_output=True, text=True)
    assert re.match(r"vgg: median [0-9.]+ ms over 3 runs", run.stdout)
    np.testing.assert_array_equal(np.fromfile(tmp_path / "y.bin", np.float32).reshape(1, 10), cm.run_emulated(x))


def test_readme_c_program(small_vgg, tmp_path):
    """The README's C program, built and linked as the README says, prints the model's outputs."""
    model, _, cm = small_vgg
    text = README.read_text()
    program = re.search(r"```c\n(.*?)```", text, re.S).group(1)
    build = re.search(r"^(aarch64-linux-gnu-gcc .*app\.c.*)$", text, re.M).group(1)
    cm.save(tmp_path / "model")
    (tmp_path / "app.c").write_text(program)
    subprocess.run(build, shell=True, cwd=tmp_path, check=True, capture_output=True)
    printed = subprocess.run(["qemu-aarch64", str(tmp_path / "app")], check=True, capture_output=True, text=True).stdout
    image = (np.arange(3 * 32 * 32) % 7 * 0.1).astype(np.float32).reshape(1, 3, 32, 32)
    with torch.no_grad():
        want = model(torch.from_numpy(image)).numpy().ravel()
    np.testing.assert_allclose(np.array(printed.split(), dtype=np.float32), want, rtol=1e-4, atol=1e-5)


def test_cpu_and_features_reach_llc():
    conv = nn.Conv2d(4, 8, 3, padding=1)
    prune_(conv, np.random.default_rng(0), keep=0.5)
    cm = check(conv_net(conv, "relu"), torch.randn(1, 4, 9, 9), cpu="cortex-a76", features="+neon,+fullfp16")
    # End to end: compile()'s cpu and features reach llc (lit aarch64/ gives llc its flags itself).
    assert re.search(r"fmla\s+v\d+\.4s", cm.assembly())
    with pytest.raises(FretsawError, match=r"cpu 'cortex-z99' is not known to llc-22.*-mcpu=help"):
        fretsaw.compile(conv_net(conv, "relu").eval(), (torch.randn(1, 4, 9, 9),), target="aarch64", cpu="cortex-z99")
    with pytest.raises(FretsawError, match=r"feature '\+warp' is not known to llc-22.*-mattr=help"):
        fretsaw.compile(conv_net(conv, "relu").eval(), (torch.randn(1, 4, 9, 9),), target="aarch64",
                        features="+neon,+warp")


def test_android_triple_saves_but_does_not_emulate(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    cm = fretsaw.compile(model, (torch.randn(1, 3, 6, 6),), target="aarch64", triple="aarch64-linux-android24")
    obj = cm.save(tmp_path)["object"].read_bytes()
    assert int.from_bytes(obj[18:20], "little") == EM_AARCH64
    with pytest.raises(FretsawError, match="Android binaries need the NDK"):
        cm.run_emulated(torch.randn(1, 3, 6, 6))


@pytest.fixture(scope="module")
def tiny():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval(), torch.randn(1, 3, 6, 6)


def test_errors_say_what_to_do(tiny, tmp_path):
    model, x = tiny
    cm = fretsaw.compile(model, (x,), target="aarch64")
    with pytest.raises(FretsawError, match=r"compiled for aarch64-linux-gnu.*run_emulated"):
        cm(x)
    with pytest.raises(FretsawError, match="must be a C identifier"):
        cm.save(tmp_path, name="my-model")
    host = fretsaw.compile(model, (x,))
    with pytest.raises(FretsawError, match=r"save\(\) writes artifacts.*'aarch64'.*compiled for target='host'"):
        host.save(tmp_path)
    with pytest.raises(FretsawError, match=r"cpu= is an option of target .aarch64.: use it with target=.aarch64."):
        fretsaw.compile(model, (x,), cpu="cortex-a76")
    with pytest.raises(FretsawError, match="tune=True times each conv on this machine"):
        fretsaw.compile(model, (x,), target="aarch64", tune=True)
    with pytest.raises(FretsawError, match="not an AArch64 triple"):
        fretsaw.compile(model, (x,), target="aarch64", triple="x86_64-linux-gnu")


def test_missing_cross_tools_are_named(tiny, monkeypatch):
    model, x = tiny
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(FretsawError, match=r"opt-22 not found: install Debian's llvm-22"):
        fretsaw.compile(model, (x,), target="aarch64")


def test_cli_saves_an_artifact(tiny, tmp_path):
    model, _ = tiny
    torch.save(model, tmp_path / "m.pt")
    from fretsaw.cli import main
    assert main(["compile", str(tmp_path / "m.pt"), "--input-shape", "1,3,6,6", "--target", "aarch64",
                 "--cpu", "cortex-a55", "--threads", "2", "--save", str(tmp_path / "out"), "--name", "tiny"]) == 0
    manifest = json.loads((tmp_path / "out" / "tiny.json").read_text())
    assert manifest["cpu"] == "cortex-a55" and manifest["threads"] == 2 and manifest["inputs"] == [[1, 3, 6, 6]]
    assert main(["compile", str(tmp_path / "m.pt"), "--input-shape", "1,3,6,6", "--save", str(tmp_path)]) == 1


def test_mca_counts_every_kept_kernel_once_per_register_block():
    """The counting run is exact: a conv's kernel loops iterate once per kept kernel and register
    block, so halving the kept kernels halves the iterations, block for block."""
    from fretsaw.mca import estimate

    per_kernel = []
    for keep in (1.0, 0.5):
        conv = nn.Conv2d(8, 8, 3, padding=1)
        _, alive = prune_(conv, np.random.default_rng(4), keep)
        result = estimate(nn.Sequential(conv).eval(), (np.random.rand(1, 8, 12, 12).astype(np.float32),))
        iterations = sum(region["iterations"] for region in result["regions"])
        assert all(region["cycles_per_iteration"] > 0 for region in result["regions"])
        per_kernel.append(iterations / alive.sum())
    assert per_kernel[0] == per_kernel[1] and per_kernel[0] == int(per_kernel[0])


def test_bench_aarch64_estimates_sparse_vs_dense(tmp_path, capsys):
    from fretsaw.cli import main

    model = randomize_batchnorm(NETWORKS["vgg"](width=8)).eval()
    random_pattern_prune(model, num_patterns=8, connectivity=0.5, seed=0)
    torch.save(model, tmp_path / "vgg.pt")
    assert main(["bench", str(tmp_path / "vgg.pt"), "--input-shape", "1,3,16,16", "--target", "aarch64",
                 "--cpu", "cortex-a55", "--json", str(tmp_path / "est.json")]) == 0
    result = json.loads((tmp_path / "est.json").read_text())
    first, *pruned = result["layers"]
    assert result["cpu"] == "cortex-a55" and len(pruned) == 5
    assert first["estimated_speedup"] == pytest.approx(1.0, rel=0.02)  # the dense first conv: the same code
    assert all(row["sparse_cycles_per_output"] < row["dense_cycles_per_output"] for row in pruned)
    # ~4.5x fewer FLOPs in each; the dense code shares each input vector among a block of 4
    # filters, a pattern kernel among its 4 taps, so the estimate stays short of the cut (1.6-2.8x)
    assert all(row["estimated_speedup"] > 1.4 for row in pruned) and result["estimated_speedup"] > 1.7
    assert result["estimated_speedup"] == pytest.approx(result["dense_cycles"] / result["sparse_cycles"])
    # useful FLOPs per estimated cycle against the core's FMA peak: cortex-a55, one 128-bit FMA a cycle
    assert result["peak_flops_per_cycle"] == 8 and result["mca_fma_per_cycle"] > 0
    for row in result["layers"]:
        cycles = row["sparse_cycles_per_output"] * row["outputs"]
        assert row["useful_flops_per_cycle"] == pytest.approx(row["useful_flops"] / cycles)
        assert row["percent_of_fma_peak"] == pytest.approx(100 * row["useful_flops_per_cycle"] / 8)
    useful = sum(row["useful_flops"] for row in result["layers"]) / result["sparse_cycles"]
    assert result["percent_of_fma_peak"] == pytest.approx(100 * useful / 8) and useful > 0
    out = capsys.readouterr().out
    assert "output matches PyTorch" in out and "estimated" in out and "features.1.0" in out
    with pytest.raises(FretsawError, match="--layers times on this machine"):
        main_raising(["bench", str(tmp_path / "vgg.pt"), "--input-shape", "1,3,16,16", "--target", "aarch64",
                      "--layers"])


def test_fma_peak_of_a_core_comes_from_its_description():
    from fretsaw.backends.aarch64 import AArch64Backend
    from fretsaw.mca import mca_fma_per_cycle

    a76 = AArch64Backend(fretsaw.AArch64Options(cpu="cortex-a76")).cpu
    assert a76.fma_pipes == 2 and a76.peak_flops_per_cycle() == 16 and a76.peak_flops_per_cycle(f16=True) == 32
    assert AArch64Backend().cpu.peak_flops_per_cycle() is None  # "generic" is not described: no percentage
    # llvm-mca-22 models cortex-a76 with the Cortex-A57's pipes: half the core's FMAs a cycle, which
    # bounds the estimates' percent of the core's peak (README: Estimating phone speed)
    assert mca_fma_per_cycle("cortex-a76") == pytest.approx(1.0, rel=0.05)
    assert mca_fma_per_cycle("cortex-x1") == pytest.approx(4.0, rel=0.05)


def main_raising(argv):
    """Run the CLI's command function directly, so that its FretsawError reaches the test."""
    from fretsaw.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)


# fp16 convs: stated tolerance FP16_TOLERANCE (max abs error <= 1% of max |PyTorch output|,
# several times what fp16 rounding gives); a wrong result is off by its own size.


def check_fp16(model, x):
    cm = fretsaw.compile(model.eval(), (x,), target="aarch64", fp16=True)
    got = cm.run_emulated(x)
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(got - want).max() <= FP16_TOLERANCE * np.abs(want).max()
    return cm


@pytest.mark.parametrize("cin,cout,kernel,stride,keep,size", [(16, 16, 3, 1, 0.5, 14), (32, 24, 3, 2, 0.5, 14),
                                                              (16, 8, 1, 1, 1.0, 14), (24, 24, 3, 1, 1.0, 14),
                                                              (4, 128, 1, 1, 0.5, 33)])
def test_fp16_convs_under_qemu(cin, cout, kernel, stride, keep, size):
    # (The last: a pointwise conv whose units copy their chunk, rounded to fp16 as it is copied.)
    conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2)
    if kernel == 3:
        prune_(conv, np.random.default_rng(0), keep)
    elif keep < 1:
        with torch.no_grad():
            conv.weight.mul_(torch.from_numpy(np.random.default_rng(0).random(conv.weight.shape) < keep).float())
    cm = check_fp16(conv_net(conv, "relu"), torch.randn(1, cin, size, size + 1))
    if size == 33:
        assert "memref.alloca()" in cm.ir("loops")
    # End to end: fp16=True reaches the stages and llc (the .8h loop itself: lit aarch64/neon-pattern-conv.mlir).
    assembly = cm.assembly()
    assert re.search(r"fmla\s+v\d+\.8h", assembly) and not re.search(r"fmla\s+v\d+\.4s", assembly)
    assert "+fullfp16" in cm.backend.features.split(",")  # added by fp16=True


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_fp16_small_networks_under_qemu(name):
    model = randomize_batchnorm(NETWORKS[name](width=8)).eval()
    random_pattern_prune(model, num_patterns=8, connectivity=0.5, seed=3)
    check_fp16(model, torch.randn(1, 3, 32, 32))


def test_fp16_is_for_aarch64(tiny, tmp_path):
    model, x = tiny
    with pytest.raises(FretsawError, match=r"fp16= is an option of target .aarch64. and .spirv.: use it with target=.aarch64."):
        fretsaw.compile(model, (x,), fp16=True)
    cm = fretsaw.compile(model, (x,), target="aarch64", fp16=True, features="+neon")
    manifest = json.loads(cm.save(tmp_path)["manifest"].read_text())
    assert manifest["fp16_convs"] and manifest["features"] == "+neon,+fullfp16"


def test_llvm22_literals():
    """The newer LLVM's float syntax becomes LLVM 22's; byte strings (the weights) are never touched."""
    from fretsaw.backends.llvmir import for_llvm22

    text = "\n".join([
        "@w = private constant [4 x float] [float f0x3F800000, float -2.5e-01, float 0.1, float -inf], align 64",
        "  %1 = fadd float %0, 3.602110e-02",
        "  %2 = fmul double %1, 1.5",
        '@b = private constant [9 x i8] c"float 0.1", align 64',
    ])
    out = for_llvm22(text).split("\n")
    assert out[0] == ("@w = private constant [4 x float] [float 0x3FF0000000000000, float 0xBFD0000000000000, "
                      "float 0x3FB99999A0000000, float 0xFFF0000000000000], align 64")
    assert out[1] == "  %1 = fadd float %0, " + "0x%016X" % np.float64(np.float32(3.602110e-02)).view(np.uint64)
    assert out[2:] == text.split("\n")[2:]


class VideoBlock(nn.Module):
    """A small video network's pieces: a (2+1)-D pair (1x3x3 then 3x1x1), a 3x3x3 residual block
    with BatchNorm3d, 3-D max pooling and a global average pool."""

    def __init__(self):
        super().__init__()
        self.spatial = nn.Sequential(nn.Conv3d(3, 8, (1, 3, 3), padding=(0, 1, 1), bias=False), nn.BatchNorm3d(8),
                                     nn.ReLU())
        self.temporal = nn.Sequential(nn.Conv3d(8, 16, (3, 1, 1), padding=(1, 0, 0)), nn.ReLU(), nn.MaxPool3d(2))
        self.conv = nn.Sequential(nn.Conv3d(16, 16, 3, padding=1, bias=False), nn.BatchNorm3d(16))
        self.head = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(16, 5))

    def forward(self, x):
        y = self.temporal(self.spatial(x))
        return self.head(torch.relu(self.conv(y) + y))


def test_video_network_under_qemu_and_estimated():
    # a KGS-pruned video network cross-compiles, runs under qemu-aarch64 and matches
    # PyTorch; llvm-mca's estimate covers its 3-D inner loops (one region per conv's column loop)
    from fretsaw import mca
    from fretsaw.prune import project

    x = torch.randn(1, 3, 4, 8, 8)
    model = randomize_batchnorm(VideoBlock().eval())
    pruned = project(model, "kgs", 1.8, inputs=x, group_shape=(4, 4)).eval()
    cm = check(pruned, x)
    assert "pconv.conv3d" in cm.ir("pconv") and "linalg.conv_3d" not in cm.ir("pconv")
    estimate = mca.estimate(pruned, (x.numpy(),))
    assert len(estimate["regions"]) >= 3 and estimate["cycles"] > 0
    assert all(region["iterations"] > 0 for region in estimate["regions"])
