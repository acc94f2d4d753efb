"""The pruning report: what a model's conv weights keep, read from the weights themselves."""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from torch import nn

from fretsaw.prune.layers import conv_layers
from fretsaw.prune.patterns import pattern_key

_BITS = torch.tensor([1 << i for i in range(9)])


def pattern_histogram(weight: torch.Tensor) -> dict[str, int]:
    """How many kept (not all-zero) 3x3 kernels of `weight` use each pattern, most used first."""
    codes = ((weight.detach().reshape(-1, 9) != 0).long() * _BITS).sum(dim=1)
    counts = torch.bincount(codes[codes != 0], minlength=512)
    found = Counter({_key(code): int(counts[code]) for code in counts.nonzero().flatten().tolist()})
    return dict(found.most_common())


def _key(code: int) -> str:
    return pattern_key(np.array([(code >> i) & 1 for i in range(9)]).reshape(3, 3))


def report(model: nn.Module, inputs=None, library=None) -> dict:
    """Per-layer and total rates of every Conv2d/Conv3d of `model`: kernels and filters kept,
    weights kept, dense and sparse FLOPs (for `inputs`, else per output position), the pattern
    histogram of 3x3 kernels; `library` (K x 3 x 3 masks) is recorded when given. JSON-ready."""
    layers = []
    for layer in conv_layers(model, inputs):
        w = layer.weight.detach()
        cout, cin = w.shape[:2]
        kept = (w.reshape(cout, cin, -1) != 0).any(dim=-1)
        nonzero = int((w != 0).sum())
        row = {
            "name": layer.name,
            "kind": type(layer.conv).__name__,
            "weight_shape": list(w.shape),
            "groups": layer.conv.groups,
            "dense_flops": layer.flops(),
            "sparse_flops": layer.flops(nonzero),
            "kernels": cout * cin,
            "kept_kernels": int(kept.sum()),
            "connectivity": float(kept.float().mean()),
            "filters_kept": int(kept.any(dim=1).sum()),
            "weights_kept": nonzero / w.numel(),
        }
        if layer.is_3x3:
            row["pattern_histogram"] = pattern_histogram(w)
        layers.append(row)
    dense = sum(row["dense_flops"] for row in layers)
    sparse = sum(row["sparse_flops"] for row in layers)
    return {
        "library": None if library is None else [pattern_key(m) for m in library],
        "flops_basis": "example inputs " + _shapes(inputs) if inputs is not None else
                       "one output position per conv (pass inputs= for real FLOPs)",
        "dense_flops": dense,
        "sparse_flops": sparse,
        "flops_reduction": dense / sparse if sparse else float("inf"),
        "layers": layers,
    }


def _shapes(inputs) -> str:
    tensors = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    return ", ".join("x".join(map(str, t.shape)) for t in tensors)
