"""The C example loader (backends/runtime/vulkan_loader.c) on what cm.save writes for target="spirv":
built with gcc against the Vulkan headers, run on a pattern-pruned SmallResNet, compared with PyTorch
on the same masked weights (rtol 1e-4, atol 1e-5) and with the Python runtime's cm(x) (same
kernels, same device: exact). Needs a Vulkan device (lavapipe will do), gcc and libvulkan-dev."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import fretsaw
from fretsaw import examples
from fretsaw.backends import vulkan
from fretsaw.prune import random_pattern_prune

from conftest import ATOL, RTOL

if vulkan.available() is not None:
    pytest.skip(f"no Vulkan device: {vulkan.available()}", allow_module_level=True)
if shutil.which("gcc") is None and shutil.which("cc") is None:
    pytest.skip("no C compiler (gcc or cc) to build the loader: install Debian's gcc", allow_module_level=True)
if not Path("/usr/include/vulkan/vulkan.h").exists():
    pytest.skip("no Vulkan headers (/usr/include/vulkan/vulkan.h): install Debian's libvulkan-dev",
                allow_module_level=True)

SOURCE = Path(fretsaw.backends.__file__).parent / "runtime" / "vulkan_loader.c"


@pytest.fixture(scope="module")
def loader(tmp_path_factory) -> Path:
    """The loader built as an app would build it: C99, every warning an error."""
    binary = tmp_path_factory.mktemp("loader") / "vulkan_loader"
    compiler = shutil.which("gcc") or shutil.which("cc")
    build = subprocess.run([compiler, "-std=c99", "-O2", "-Wall", "-Werror", "-o", str(binary), str(SOURCE),
                            "-lvulkan"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return binary


def test_loader_runs_a_pruned_network(loader, tmp_path):
    torch.manual_seed(0)
    model = random_pattern_prune(examples.randomize_batchnorm(examples.SmallResNet()), num_patterns=8,
                                 connectivity=0.5, seed=0).eval()
    x = torch.randn(1, 3, 16, 16)
    cm = fretsaw.compile(model, (x,), target="spirv")
    cm.save(tmp_path, "net")
    x.numpy().astype(np.float32).tofile(tmp_path / "net_input0.bin")

    run = subprocess.run([str(loader), str(tmp_path), "net"], capture_output=True, text=True, timeout=120)

    assert run.returncode == 0, run.stderr
    assert f"device: {vulkan.device().name}" in run.stdout
    assert "ms" in run.stdout
    with torch.no_grad():
        want = model(x).numpy()
    got = np.fromfile(tmp_path / "net_output0.bin", dtype=np.float32).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(got, cm(x))


def test_missing_plan_is_named(loader, tmp_path):
    run = subprocess.run([str(loader), str(tmp_path), "absent"], capture_output=True, text=True, timeout=60)

    assert run.returncode != 0
    assert str(tmp_path / "absent_plan.txt") in run.stderr
