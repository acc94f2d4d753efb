"""The SPIR-V backend on a real Vulkan driver (lavapipe): conv variants and small networks against
PyTorch, every kernel accepted by spirv-val, the saved plan, and errors that say what to do."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import fretsaw
from conftest import check_against_torch
from fretsaw import examples, prune
from fretsaw.backends import vulkan
from fretsaw.errors import FretsawError
from test_conv import conv_net, prune_

pytestmark = pytest.mark.skipif(vulkan.available() is not None, reason=f"no Vulkan device: {vulkan.available()}")


def spirv_val(code: bytes, tmp_path) -> None:
    """spirv-val (Debian spirv-tools) accepts the module for Vulkan 1.1."""
    assert shutil.which("spirv-val"), "spirv-val not found: install Debian's spirv-tools (make setup does)"
    path = tmp_path / "kernel.spv"
    path.write_bytes(code)
    result = subprocess.run(["spirv-val", "--target-env", "vulkan1.1", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@settings(max_examples=10, deadline=None)
@given(cin=st.integers(1, 6), cout=st.integers(1, 6), size=st.integers(4, 11), kernel=st.sampled_from([1, 3, 5]),
       stride=st.integers(1, 2), pad=st.integers(0, 2), dilation=st.integers(1, 2), groups=st.sampled_from([1, 2, 0]),
       bias=st.booleans(), keep=st.floats(0.2, 1.0), activation=st.sampled_from(["none", "relu", "relu6"]),
       batch=st.integers(1, 2), seed=st.integers(0, 1000))
def test_conv_variants(cin, cout, size, kernel, stride, pad, dilation, groups, bias, keep, activation, batch, seed):
    # groups 0 stands for depthwise (groups = channels)
    groups = cin if groups == 0 else groups
    cout = cin if groups == cin else cout * groups
    assume(cin % groups == 0 and cout % groups == 0)
    assume(size + 2 * pad >= dilation * (kernel - 1) + 1)  # at least one output pixel
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=pad, dilation=dilation, groups=groups, bias=bias)
    if kernel == 3:
        prune_(conv, np.random.default_rng(seed), keep)  # patterns and removed kernels
    check_against_torch(conv_net(conv, activation), torch.randn(batch, cin, size, size), target="spirv")


@pytest.mark.parametrize("scheme", ["kgs", "vanilla"])
def test_kernel_groups_conv3d(scheme):
    model = nn.Sequential(nn.Conv3d(4, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU(), nn.MaxPool3d((1, 2, 2)),
                          nn.Conv3d(8, 8, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0)), nn.AdaptiveAvgPool3d(1),
                          nn.Flatten(), nn.Linear(8, 3))
    model = examples.randomize_batchnorm(model).eval()
    pruned = prune.project(model, scheme=scheme, flops=2.0, group_shape=(4, 4), skip_first=False)
    check_against_torch(pruned, torch.randn(1, 4, 4, 8, 8), target="spirv")


@pytest.mark.parametrize("network", [examples.SmallVGG, examples.SmallResNet, examples.SmallMobileNetV2])
def test_pruned_networks_and_their_kernels(network, tmp_path):
    model = examples.randomize_batchnorm(network()).eval()
    pruned = prune.project(model, scheme="pattern", flops=3.6, num_patterns=8)
    cm = check_against_torch(pruned, torch.randn(1, 3, 32, 32), target="spirv")
    assert cm.stats()["sparse_flops"] < cm.stats()["dense_flops"]
    for code, entry, _ in cm._executable.plan.kernels:
        spirv_val(code, tmp_path)
        assert entry


def test_a_pruned_conv_runs_fewer_kernels_than_dense():
    # the same layer dense and pruned to a quarter of its kernels: the SPIR-V of the pruned one
    # is the same code (loops over runs) but its runs hold fewer kernels; timing on the device
    # shows it (bench), here the plan and the numbers
    conv = nn.Conv2d(16, 16, 3, padding=1)
    dense = check_against_torch(conv_net(conv, "relu"), torch.randn(1, 16, 12, 12), target="spirv")
    prune_(conv, np.random.default_rng(0), 0.25)
    pruned = check_against_torch(conv_net(conv, "relu"), torch.randn(1, 16, 12, 12), target="spirv")
    assert pruned.stats()["sparse_flops"] < dense.stats()["sparse_flops"] / 3
    assert len(pruned._executable.plan.dispatches) == len(dense._executable.plan.dispatches)


def test_save_writes_kernels_plan_and_constants(tmp_path):
    model = examples.randomize_batchnorm(examples.SmallResNet()).eval()
    x = torch.randn(1, 3, 16, 16)
    cm = fretsaw.compile(model, (x,), target="spirv")
    files = cm.save(tmp_path, "net")
    plan = json.loads((tmp_path / "net.json").read_text())
    assert files["plan"] == str(tmp_path / "net.json")
    assert len(plan["kernels"]) == len(cm._executable.plan.kernels) and plan["dispatches"]
    for kernel in plan["kernels"]:
        assert (tmp_path / kernel["spirv"]).read_bytes()[:4] == b"\x03\x02\x23\x07"
        assert kernel["workgroup_size"] == [64, 1, 1]
    roles = [b["role"] for b in plan["buffers"]]
    assert roles.count("input") == 1 and roles.count("output") == 1
    blob = (tmp_path / "net_constants.bin").read_bytes()
    constants = [b for b in plan["buffers"] if b["role"] == "constant"]
    assert sum(b["bytes"] for b in constants) == len(blob)
    # the weights are where the plan says: run the plan from the saved files alone
    buffers = [np.zeros(b["bytes"], dtype=np.uint8) for b in plan["buffers"]]
    for i, b in enumerate(plan["buffers"]):
        if b["role"] == "constant":
            buffers[i] = np.frombuffer(blob[b["offset"]:b["offset"] + b["bytes"]], dtype=np.uint8)
    kernels = [vulkan.Kernel((tmp_path / k["spirv"]).read_bytes(), k["entry"], k["bindings"]) for k in plan["kernels"]]
    dispatches = [vulkan.Dispatch(d["kernel"], tuple(d["buffers"]), tuple(d["groups"])) for d in plan["dispatches"]]
    constants = {i: buffers[i] for i, b in enumerate(plan["buffers"]) if b["role"] == "constant"}
    outputs = [(o["buffer"], tuple(o["shape"])) for o in plan["outputs"]]
    with vulkan.Program(vulkan.device(), kernels, [b["bytes"] for b in plan["buffers"]], dispatches, constants,
                        plan["inputs"], outputs) as program:
        np.testing.assert_allclose(program(x.numpy())[0], cm(x), rtol=1e-6, atol=1e-6)


def test_device_presets_compile_within_their_limits():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    x = torch.randn(1, 3, 8, 8)
    for device in ("adreno", "mali"):
        cm = check_against_torch(model, x, target="spirv", device=device)
        assert f"subgroup_size = {16 if device == 'mali' else 64}" in cm.ir("spirv")


def test_errors_say_what_to_do(monkeypatch, tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(FretsawError, match="unknown device 'powervr' for target 'spirv'.*local.*adreno.*mali"):
        fretsaw.compile(model, (x,), target="spirv", device="powervr")
    with pytest.raises(FretsawError, match="unknown compile option.*threads.*for target 'spirv'"):
        fretsaw.compile(model, (x,), target="spirv", threads=2)
    host = fretsaw.compile(model, (x,))
    with pytest.raises(FretsawError, match=r"save\(\) writes artifacts.*'spirv'"):
        host.save(tmp_path)

    # a buffer over the device's maxStorageBufferRange is named with its size and the limit
    from fretsaw.backends.spirv import SpirvExecutable
    from fretsaw.target import GpuTarget
    cm = fretsaw.compile(model, (x,), target="spirv")
    with pytest.raises(FretsawError, match=r"buffer \d+ \(\w+, [\d.]+ MiB\) exceeds the device's maxStorageBufferRange"):
        SpirvExecutable(cm._executable.plan, GpuTarget("tiny", 8, storage_range=256))

    # no Vulkan device: say what to install
    def missing():
        raise FretsawError(vulkan.NO_DEVICE)
    monkeypatch.setattr(vulkan, "device", missing)
    with pytest.raises(FretsawError, match="mesa-vulkan-drivers"):
        fretsaw.compile(model, (x,), target="spirv")


def test_weights_larger_than_a_binding_are_cut(monkeypatch):
    # a device that binds 4 KiB: the linear layer's 10 KiB of weights run as three kernels
    from fretsaw.passes import spirv_target
    from fretsaw.target import GpuTarget

    local = spirv_target.device_target("local")
    small = GpuTarget("small", local.subgroup_size, local.max_invocations, local.max_workgroup, storage_range=4096)
    monkeypatch.setattr(spirv_target, "device_target", lambda device: small)
    model = nn.Sequential(nn.Linear(64, 40), nn.ReLU(), nn.Linear(40, 8)).eval()
    cm = check_against_torch(model, torch.randn(2, 64), target="spirv")
    assert max(cm._executable.plan.buffers) <= 4096
    assert sum("(linear)" in label for label in cm._executable.plan.labels) >= 4


@pytest.mark.parametrize("fp32_sums", [False, True])
def test_fp16_convs(fp32_sums, tmp_path):
    # fp16 weights and staged inputs (fp16 or fp32 sums): within fp16's rounding of PyTorch's fp32
    model = examples.randomize_batchnorm(examples.SmallResNet()).eval()
    pruned = prune.project(model, scheme="pattern", flops=3.6, num_patterns=8)
    x = torch.randn(1, 3, 32, 32)
    cm = fretsaw.compile(pruned, (x,), target="spirv", fp16=True, fp32_sums=fp32_sums)
    with torch.no_grad():
        want = pruned(x).numpy()
    np.testing.assert_allclose(cm(x), want, rtol=0, atol=2e-2 * float(np.abs(want).max()))
    assert "memref<1x3x38x38xf16>" in cm.ir("gpu-loops")  # the 7x7 stem's staged input, padded 3
    for code, _, _ in cm._executable.plan.kernels:
        spirv_val(code, tmp_path)
    with pytest.raises(FretsawError, match="fp32_sums=True is for fp16=True"):
        fretsaw.compile(pruned, (x,), target="spirv", fp32_sums=True)


def test_cli_compile_save_and_bench(tmp_path):
    # fretsaw compile --target spirv --save, and fretsaw bench --target spirv (--peers none: IREE's
    # vulkan-spirv compile alone takes longer than the rest) with each dispatch's device time
    import subprocess
    import sys

    from fretsaw.prune import random_pattern_prune
    model = random_pattern_prune(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                               nn.Conv2d(8, 8, 3, padding=1)).eval(), skip_first=False)
    torch.save(model, tmp_path / "m.pt")
    cli = [sys.executable, "-m", "fretsaw.cli"]
    saved = subprocess.run([*cli, "compile", str(tmp_path / "m.pt"), "--input-shape", "1,3,12,12", "--target", "spirv",
                            "--device", "mali", "--save", str(tmp_path / "out")], capture_output=True, text=True)
    assert saved.returncode == 0, saved.stderr
    assert json.loads((tmp_path / "out" / "model.json").read_text())["dispatches"]
    bench = subprocess.run([*cli, "bench", str(tmp_path / "m.pt"), "--input-shape", "1,3,12,12", "--target", "spirv",
                            "--repeats", "2", "--peers", "none", "--layers", "--json", str(tmp_path / "b.json")],
                           capture_output=True,
                           text=True)
    assert bench.returncode == 0, bench.stderr
    figures = json.loads((tmp_path / "b.json").read_text())
    assert figures["fretsaw_ms"] > 0 and figures["max_abs_error"] < 1e-4
    assert [layer for layer, ms in figures["layers"] if "(conv)" in layer and ms > 0]
    assert "dispatches on the device" in bench.stdout
    wrong = subprocess.run([*cli, "bench", str(tmp_path / "m.pt"), "--input-shape", "1,3,12,12", "--target", "spirv",
                            "--threads", "2"], capture_output=True, text=True)
    assert wrong.returncode != 0 and "--threads does not apply to --target spirv" in wrong.stderr


def test_vulkan_loads_benchmark_checks_every_kind_of_read():
    # bench/vulkan_loads.py times a read from each kind of binding on the device (storage, uniform
    # and texel buffers, shared memory, subgroup broadcasts) and exits non-zero when a kernel's
    # sums differ from numpy's: every kind must run and be right on lavapipe
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "bench" / "vulkan_loads.py"
    result = subprocess.run([sys.executable, str(script), "--groups", "2", "--repeats", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line.split(" | ")[:2] for line in result.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| read from")]
    kinds = ["none", "storage buffer", "uniform buffer", "texel buffer", "shared memory",
             "storage buffer, subgroup broadcast"]
    assert rows == [[f"| {kind}", address] for kind in kinds for address in ("lane", "uniform")]
