"""cm.profile on the host: a model compiled with profile=True times each step inside the network
(the profile-ops pass's clock stamps), and computes what the plain build computes."""

import time

import numpy as np
import pytest
import torch
from torch import nn

import fretsaw
from fretsaw.backends.host import HostBackend, HostOptions
from fretsaw.benchmark import network_profile
from fretsaw.prune import random_pattern_prune

# fp32 against PyTorch on the same masked weights: sums of a few hundred products reordered
RTOL, ATOL = 1e-4, 1e-4


class Block(nn.Module):
    """A residual block: two pattern-pruned 3x3 convs, a shortcut add, ReLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


def network() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), Block(16), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)).eval()
    return random_pattern_prune(model)


@pytest.fixture(scope="module")
def profiled():
    model, x = network(), torch.randn(1, 3, 24, 24)
    return model, x, fretsaw.compile(model, (x,), profile=True)


def test_profile_build_is_correct_and_times_every_layer(profiled):
    model, x, cm = profiled
    with torch.no_grad():
        want = model(x).numpy()
    np.testing.assert_allclose(cm(x), want, rtol=RTOL, atol=ATOL)
    steps = cm.profile(x)
    np.testing.assert_allclose(cm(x), want, rtol=RTOL, atol=ATOL)  # profiling changes no answer
    labels = [label for label, _ in steps]
    # every conv's steps, in the order the network runs them (a conv's staging and its loops)
    convs = [label for label in dict.fromkeys(labels) if label.endswith("(conv)")]
    assert convs == ["0 (conv)", "2.conv1 (conv)", "2.conv2 (conv)", "4 (conv)"], labels
    assert any("(pooling)" in label for label in labels) and any("(linear)" in label for label in labels)
    assert all(ms >= 0 for _, ms in steps)
    # the steps are consecutive intervals of one call: they add up to less than the call's time
    start = time.perf_counter()
    again = cm.profile(x)
    call_ms = (time.perf_counter() - start) * 1e3
    assert [label for label, _ in again] == labels and 0 < sum(ms for _, ms in again) <= call_ms


def test_network_profile_adds_each_layers_steps(profiled):
    model, x, cm = profiled
    rows = network_profile(cm, (x.numpy(),), repeats=3, peaks={"fma": 100.0})
    steps = cm.profile(x)
    assert [row["layer"] for row in rows] == list(dict.fromkeys(label for label, _ in steps))
    assert sum(row["steps"] for row in rows) == len(steps)
    assert all(len(row["steps_ms"]) == row["steps"] and sum(row["steps_ms"]) == pytest.approx(row["ms"]) for row in rows)
    assert sum(row["percent"] for row in rows) == pytest.approx(100)
    conv_rows = [row for row in rows if "conv" in row]
    assert [row["conv"] for row in conv_rows] == ["0", "2.conv1", "2.conv2", "4"]
    flops = {layer["name"]: layer["sparse_flops"] for layer in cm.stats()["layers"]}
    for row in conv_rows:
        assert row["useful_gflops"] == pytest.approx(flops[row["conv"]] / row["ms"] / 1e6)
        assert row["percent_of_fma_peak"] == pytest.approx(row["useful_gflops"])  # a peak of 100 GFLOP/s


def test_plain_build_says_how_to_profile():
    model, x = network(), torch.randn(1, 3, 16, 16)
    cm = fretsaw.compile(model, (x,))
    assert "fretsaw_profile_stamp" not in cm.ir("llvm")
    with pytest.raises(fretsaw.FretsawError, match=r"compile with fretsaw.compile\(model, inputs, profile=True\)"):
        cm.profile(x)


def test_tuner_builds_are_not_instrumented(monkeypatch):
    # tune=True with profile=True: each conv is timed alone through a backend without the stamps
    import fretsaw.tune

    seen = []
    monkeypatch.setattr(fretsaw.tune, "tune", lambda module, backend, cache: seen.append(backend) or [])
    backend = HostBackend(HostOptions(tune=True, profile=True))
    assert any("profile-ops" in stage.pipeline for stage in backend.stages())
    backend.prepare(None)
    assert len(seen) == 1 and not any("profile-ops" in stage.pipeline for stage in seen[0].stages())
    assert seen[0].cpu == backend.cpu and seen[0].options.tune
