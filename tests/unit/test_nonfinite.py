"""What fretsaw guarantees for NaN / Inf inputs (README, "Non-finite inputs"): a weight that is
exactly zero is never multiplied, so a non-finite input value reaches an output only through
kept (nonzero) weights; through those it propagates as in PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import fretsaw
from fretsaw.prune.patterns import random_pattern_prune


def reach(conv: nn.Conv2d, bad: torch.Tensor) -> np.ndarray:
    """Outputs that some non-finite input value reaches through a nonzero weight."""
    kept = (conv.weight != 0).float()
    return F.conv2d(bad.float(), kept, None, conv.stride, conv.padding, conv.dilation, conv.groups).numpy() > 0


@settings(max_examples=4, deadline=None, derandomize=True)
@given(value=st.sampled_from([float("nan"), float("inf"), float("-inf")]), pixels=st.integers(1, 4),
       seed=st.integers(0, 1000))
def test_nonfinite_reaches_outputs_only_through_kept_weights(value, pixels, seed):
    torch.manual_seed(seed)
    conv = nn.Conv2d(8, 8, 3, padding=1).eval()
    with torch.no_grad():
        random_pattern_prune(nn.Sequential(conv), connectivity=0.5, seed=seed, skip_first=False)
    x = torch.randn(1, 8, 10, 10)
    bad = torch.zeros_like(x, dtype=torch.bool)
    rng = np.random.default_rng(seed)
    for _ in range(pixels):
        bad[0, rng.integers(8), rng.integers(10), rng.integers(10)] = True
    x[bad] = value
    got = fretsaw.compile(conv, (x,))(x)
    with torch.no_grad():
        finite_part = conv(torch.where(bad, torch.zeros_like(x), x)).numpy()
        torch_nonfinite = ~np.isfinite(conv(x).numpy())
    reached = reach(conv, bad)
    # exactly the outputs a non-finite value reaches through a kept weight are non-finite ...
    np.testing.assert_array_equal(~np.isfinite(got), reached)
    # ... PyTorch's 0 x NaN makes more of them non-finite (the removed kernels and taps) ...
    assert (torch_nonfinite >= reached).all()
    # ... and every other output is the conv of the finite values
    np.testing.assert_allclose(got[~reached], finite_part[~reached], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_dense_conv_propagates_like_pytorch(value):
    conv = nn.Conv2d(4, 6, 3, padding=1).eval()
    x = torch.randn(1, 4, 8, 8)
    x[0, 1, 3, 5] = value
    got = fretsaw.compile(conv, (x,))(x)
    with torch.no_grad():
        want = conv(x).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
