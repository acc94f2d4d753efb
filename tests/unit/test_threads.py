"""One CompiledModel called from several Python threads at once: every call gets its own answer."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

import fretsaw


def test_concurrent_calls_are_correct():
    # Layers large enough that their buffers go to the shared workspace (persistent-workspace),
    # and the input/output descriptors are shared too: unserialised calls mixed them up.
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                          nn.MaxPool2d(2), nn.Conv2d(16, 8, 3, padding=1)).eval()
    inputs = [torch.randn(1, 3, 48, 48) for _ in range(8)]
    cm = fretsaw.compile(model, (inputs[0],))
    with torch.no_grad():
        expected = [model(x).numpy() for x in inputs]

    def call(i: int) -> float:
        got = cm(inputs[i % len(inputs)])
        return float(np.abs(got - expected[i % len(inputs)]).max())

    with ThreadPoolExecutor(max_workers=4) as pool:
        errors = list(pool.map(call, range(200)))
    assert max(errors) < 1e-4, f"{sum(e >= 1e-4 for e in errors)} of 200 concurrent calls were wrong"
