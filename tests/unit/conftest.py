"""Shared helpers: compile a module with fretsaw and compare with PyTorch on the same weights."""

import numpy as np
import pytest
import torch

import fretsaw

# Stated tolerances for every numerical comparison against PyTorch.
RTOL, ATOL = 1e-4, 1e-5


def check_against_torch(model: torch.nn.Module, *inputs: torch.Tensor, rtol=RTOL, atol=ATOL, target="host",
                        **options):
    """Compile `model`, run both, assert the outputs match; returns the CompiledModel.
    target="aarch64" runs the cross-compiled code under qemu-aarch64."""
    model = model.eval()
    cm = fretsaw.compile(model, inputs, target=target, **options)
    got = cm.run_emulated(*inputs) if target == "aarch64" else cm(*inputs)
    with torch.no_grad():
        want = model(*inputs)
    if isinstance(want, torch.Tensor):
        got, want = (got,), (want,)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=rtol, atol=atol)
    return cm


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def avx2_host(monkeypatch):
    """Compile for an AVX2 description (8 lanes, 16 registers) whatever this CPU has: for tests
    whose IR checks follow from that description's register blocks (AVX2 code runs on AVX-512)."""
    from fretsaw.target import CpuTarget, host_target

    threads = host_target().threads
    monkeypatch.setattr("fretsaw.backends.host.host_target", lambda: CpuTarget("x86-64-avx2", 8, threads))


@pytest.fixture
def avx512_host(monkeypatch):
    """Compile for an AVX-512 description (16 lanes, 32 registers, lane shifts) whatever this CPU
    has: for tests of what that description turns on (LLVM splits 16-lane vectors on AVX2)."""
    from fretsaw.target import CpuTarget, host_target

    threads = host_target().threads
    monkeypatch.setattr("fretsaw.backends.host.host_target",
                        lambda: CpuTarget("x86-64-avx512", 16, threads, registers=32, shifts=True))
