"""pconv-fold-constant-channels: channels that pruning left constant fold into the next 1x1 convs' biases.

A pconv.conv2d filter whose every kernel was removed outputs its activation of its bias at every
pixel (connectivity pruning empties whole depthwise filters: in a pruned MobileNet-V2 most
depthwise channels are empty). An unpadded 1x1 conv that reads such a channel multiplies that one
value at every pixel, so weight x value joins its bias and the kernel is removed: the same
outputs from fewer kernels (and a consumer filter left empty is constant in turn, for the next
1x1 conv). Runs before the reorder and FKW packing, on constant weights.

Before:
  %d = "pconv.conv2d"(%x, %w, %b) {kernel_pattern = dense<[[0], [-1]]>, groups = 2, activation = "relu6", ...}
  %y = "pconv.conv2d"(%d, %v, %c) {kernel_pattern = dense<[[0, 0], [0, 0]]>, ...}
After (channel 1 of %d is relu6(%b[1]) everywhere):
  %y = "pconv.conv2d"(%d, %v', %c') {kernel_pattern = dense<[[0, -1], [0, -1]]>, ...}
  // %c' = %c + %v[:, 1] * relu6(%b[1])
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from torch_mlir import ir

from fretsaw.dialect import pconv
from fretsaw.passes.base import ModulePass, verify_pconv
from fretsaw.passes.conv.epilogue import ACTIVATIONS
from fretsaw.passes.conv.rewrite import bias_values, rebuild
from fretsaw.passes.match import producer


def constant_channels(op) -> dict[int, float]:
    """Output channel -> its value at every pixel, for the filters of pconv op `op` with no kept kernel."""
    conv = pconv.Conv(op)
    empty = np.nonzero((conv.kernel_pattern < 0).all(axis=1))[0]
    bias = bias_values(conv) if len(empty) else None
    if bias is None:
        return {}
    return dict(zip(empty.tolist(), ACTIVATIONS[conv.activation](bias[empty]).tolist()))


def fold(op) -> bool:
    """Fold the constant input channels of `op` (an unpadded 1x1 pconv conv with constant weights)
    into its bias; whether it was rewritten."""
    conv = pconv.Conv(op)
    source = producer(conv.input)
    if any(k != 1 for k in conv.kernel_shape) or any(conv.padding) or source is None or source.name not in pconv.OP_RANKS:
        return False
    constants = constant_channels(source)
    values, bias = conv.packed_values(), bias_values(conv)
    if not constants or values is None or bias is None:
        return False
    cout, cin_g = conv.kernel_pattern.shape
    cout_g = cout // conv.groups
    weight = pconv.unpack_weights(values, conv.patterns, conv.kernel_pattern)
    folded = False
    for channel, value in constants.items():
        group, c = divmod(channel, cin_g)
        filters = slice(group * cout_g, (group + 1) * cout_g)
        column = weight[filters, c].reshape(-1)
        if column.any():
            bias[filters] += column * np.float32(value)
            weight[filters, c] = 0
            folded = True
    if folded:
        rebuild(op, weight, bias)
    return folded


@dataclasses.dataclass(frozen=True)
class FoldConstantChannels(ModulePass):
    """Fold image-constant input channels (from filters with no kept kernel) into unpadded 1x1 convs' biases."""

    name: ClassVar[str] = "pconv-fold-constant-channels"

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in pconv.walk_convs(module):  # in order: a folded conv's emptied filters feed the next
            if "fkw_index" not in op.attributes:  # packed weights are in FKW order, not canonical
                fold(op)
        module.verify()


