"""Shared helpers: compile a module with fretsaw and compare with PyTorch on the same weights."""

import numpy as np
import pytest
import torch

import fretsaw

# Stated tolerances for every numerical comparison against PyTorch.
RTOL, ATOL = 1e-4, 1e-5


def check_against_torch(model: torch.nn.Module, *inputs: torch.Tensor, rtol=RTOL, atol=ATOL):
    """Compile `model`, run both, assert the outputs match; returns the CompiledModel."""
    model = model.eval()
    cm = fretsaw.compile(model, inputs, target="host")
    got = cm(*inputs)
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
