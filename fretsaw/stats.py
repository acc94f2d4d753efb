"""Sparsity statistics of a module at the pconv stage: FLOPs, connectivity, pattern use."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from torch_mlir import ir

from fretsaw.dialect import pconv
from fretsaw.passes.conv.groups import dense_weights
from fretsaw.passes.conv.schedule import kernel_groups
from fretsaw.prune.patterns import pattern_key


def layer_name(location) -> str:
    """The layer's name: the module path (`features.3`) or ONNX node name its location carries,
    else the location's text."""
    if isinstance(location, ir.NameLoc):
        return location.name_str
    return str(location)


def layer_label(location: ir.Location) -> str:
    """'name (kind)' of a layer's source location: the torch module's name and its source file's
    stem (conv, pooling, linear, ...), or what of it the location has ('?' for none: a bare
    file:line:col location names a file, not a layer)."""
    text = str(location)
    name = re.match(r'loc\("([^"]*)"(?!:)', text)
    kind = re.search(r'/(\w+)\.py"', text)
    return " ".join(part for part in (name and name.group(1), kind and f"({kind.group(1)})") if part) or "?"


def layer_stats(op) -> dict:
    conv = pconv.Conv(op)
    patterns, kernel_pattern = conv.patterns, conv.kernel_pattern
    n, _, *spatial = conv.output_shape
    cout, cin_g = kernel_pattern.shape
    taps = patterns.reshape(len(patterns), -1).sum(axis=1)
    kept = kernel_pattern[kernel_pattern >= 0]
    outputs = n * int(np.prod(spatial))
    histogram = Counter(pattern_key(patterns[p]) for p in kept.tolist())
    sparse = int(taps[kept].sum())
    weight = dense_weights(conv)
    if weight is not None and (conv.rank == 3 or kernel_groups(conv, weight)):
        # the filter blocks skip every zero column: count kept weights (a KGS layer's many masks
        # make it unstructured for the pattern view, which would count whole kernels)
        sparse = int(np.count_nonzero(weight))
    return {
        "name": layer_name(op.location),
        "input_shape": conv.input_shape,
        "output_shape": conv.output_shape,
        "kernel_size": list(patterns.shape[1:]),
        "groups": conv.groups,
        "activation": conv.activation,
        "dense_flops": 2 * outputs * cout * cin_g * int(np.prod(patterns.shape[1:])),
        "sparse_flops": 2 * outputs * sparse,
        "kernels": int(kernel_pattern.size),
        "removed_kernels": int((kernel_pattern < 0).sum()),
        "connectivity": float(kept.size / kernel_pattern.size),
        "num_patterns": int(len(patterns)),
        "pattern_histogram": dict(histogram.most_common()),
        "group_shape": list(conv.group_shape) if conv.group_shape else None,
    }


def model_stats(module) -> dict:
    """Per-layer and total statistics of every pconv.conv2d in `module`."""
    layers = [layer_stats(op) for op in pconv.walk_convs(module.operation)]
    dense = sum(layer["dense_flops"] for layer in layers)
    sparse = sum(layer["sparse_flops"] for layer in layers)
    histogram = Counter()
    for layer in layers:
        histogram.update(layer["pattern_histogram"])
    kernels = sum(layer["kernels"] for layer in layers)
    removed = sum(layer["removed_kernels"] for layer in layers)
    return {
        "conv_layers": len(layers),
        "dense_flops": dense,
        "sparse_flops": sparse,
        "flops_reduction": dense / sparse if sparse else float("inf") if dense else 1.0,
        "kernels": kernels,
        "removed_kernels": removed,
        "connectivity": (kernels - removed) / kernels if kernels else 1.0,
        "pattern_histogram": dict(histogram.most_common()),
        "layers": layers,
    }
