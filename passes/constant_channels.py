"""pconv-fold-constant-channels and pconv-drop-dead-filters: what pruning left constant or unread
between consecutive convs.

pconv-fold-constant-channels: a pconv.conv2d filter whose every kernel was removed outputs its
activation of its bias at every pixel (connectivity pruning empties whole depthwise filters: a
3.6x-pruned MobileNet-V2's depthwise convs keep about 1 channel in 4). An unpadded 1x1 conv
that reads such a channel multiplies that one value at every pixel, so weight x value joins its
bias and the kernel is removed: the same outputs from fewer kernels (and a consumer filter left
empty is constant in turn, for the next 1x1 conv).

pconv-drop-dead-filters: a conv whose result only pconv convs read, none of them a channel
(none has a kept kernel on it), drops that filter's kernels: MobileNet-V2's expand convs compute
6x the channels of their block's input, and the depthwise conv after them reads about 1 in 4.
The channel then holds its activation of its bias, which no one reads.

Both run before the reorder and FKW packing, on constant weights.

Before:
  %d = "pconv.conv2d"(%x, %w, %b) {kernel_pattern = dense<[[0], [-1]]>, groups = 2, activation = "relu6", ...}
  %y = "pconv.conv2d"(%d, %v, %c) {kernel_pattern = dense<[[0, 0], [0, 0]]>, ...}
After pconv-fold-constant-channels (channel 1 of %d is relu6(%b[1]) everywhere):
  %y = "pconv.conv2d"(%d, %v', %c') {kernel_pattern = dense<[[0, -1], [0, -1]]>, ...}
  // %c' = %c + %v[:, 1] * relu6(%b[1])
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith

from fretsaw.dialect import pconv
from fretsaw.passes.base import ModulePass, verify_pconv
from fretsaw.passes.raise_ import constant_array, producer, recover_patterns

ACTIVATIONS = {"none": lambda v: v, "relu": lambda v: np.maximum(v, 0), "relu6": lambda v: np.clip(v, 0, 6)}


def bias_values(conv: pconv.Conv2d) -> np.ndarray | None:
    """The conv's bias (zeros without one), None when it is not a constant."""
    if conv.bias is None:
        return np.zeros(conv.output_shape[1], dtype=np.float32)
    values = constant_array(conv.bias)
    return None if values is None else values.astype(np.float32)


def constant_channels(op) -> dict[int, float]:
    """Output channel -> its value at every pixel, for the filters of pconv op `op` with no kept kernel."""
    conv = pconv.Conv2d(op)
    empty = np.nonzero((conv.kernel_pattern < 0).all(axis=1))[0]
    bias = bias_values(conv) if len(empty) else None
    if bias is None:
        return {}
    return dict(zip(empty.tolist(), ACTIVATIONS[conv.activation](bias[empty]).tolist()))


def fold(op) -> bool:
    """Fold the constant input channels of `op` (an unpadded 1x1 pconv conv with constant weights)
    into its bias; whether it was rewritten."""
    conv = pconv.Conv2d(op)
    source = producer(conv.input, pconv.CONV2D)
    if conv.patterns.shape[1:] != (1, 1) or any(conv.padding) or source is None:
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
        column = weight[filters, c, 0, 0]
        if column.any():
            bias[filters] += column * np.float32(value)
            weight[filters, c] = 0
            folded = True
    if folded:
        rebuild(op, weight, bias)
    return folded


def rebuild(op, weight: np.ndarray, bias: np.ndarray) -> None:
    """Replace pconv op `op` by the same conv of dense `weight` (its sparsity recovered again) and `bias`."""
    conv = pconv.Conv2d(op)
    patterns, kernel_pattern = recover_patterns(weight)
    packed = pconv.pack_weights(weight, patterns, kernel_pattern)
    with ir.InsertionPoint(op), op.location:
        f32 = ir.F32Type.get()
        packed_value = arith.ConstantOp(ir.RankedTensorType.get([packed.size], f32),
                                        ir.DenseElementsAttr.get(packed)).result
        bias_value = arith.ConstantOp(ir.RankedTensorType.get([len(bias)], f32), ir.DenseElementsAttr.get(bias)).result
        new = pconv.build_conv2d(conv.input, packed_value, bias_value, result_type=op.results[0].type,
                                 patterns=patterns, kernel_pattern=kernel_pattern, strides=conv.strides,
                                 padding=conv.padding, dilations=conv.dilations, groups=conv.groups,
                                 activation=conv.activation)
    op.results[0].replace_all_uses_with(new.results[0])
    op.erase()


def read_by_users(op) -> np.ndarray | None:
    """Per output channel of pconv op `op`: whether a user reads it; None unless every user is a
    pconv conv taking the result as its input (anything else may read every channel)."""
    result = op.results[0]
    read = np.zeros(pconv.Conv2d(op).output_shape[1], dtype=bool)
    users = [use.owner for use in result.uses]
    for user in users:
        if user.operation.name != pconv.CONV2D or user.operands[0] != result or \
                any(operand == result for operand in list(user.operands)[1:]):
            return None
        read[pconv.Conv2d(user).read_channels()] = True
    return read if users else None


def drop_dead(op) -> bool:
    """Remove the kernels of `op`'s filters whose output channel no user reads; whether it was rewritten."""
    read = read_by_users(op)
    conv = pconv.Conv2d(op)
    if read is None or "fkw_index" in op.attributes:  # (packed weights in FKW order, not canonical)
        return False
    dead = ~read & (conv.kernel_pattern >= 0).any(axis=1)
    values, bias = conv.packed_values(), bias_values(conv)
    if not dead.any() or values is None or bias is None:
        return False
    weight = pconv.unpack_weights(values, conv.patterns, conv.kernel_pattern)
    weight[dead] = 0
    rebuild(op, weight, bias)
    return True


@dataclasses.dataclass(frozen=True)
class FoldConstantChannels(ModulePass):
    """Fold image-constant input channels (from filters with no kept kernel) into unpadded 1x1 convs' biases."""

    name: ClassVar[str] = "pconv-fold-constant-channels"

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in pconv.walk_ops(module, pconv.CONV2D):  # in order: a folded conv's emptied filters feed the next
            if "fkw_index" not in op.attributes:  # packed weights are in FKW order, not canonical
                fold(op)
        module.verify()


@dataclasses.dataclass(frozen=True)
class DropDeadFilters(ModulePass):
    """Remove the kernels of filters whose output channel no consumer conv reads."""

    name: ClassVar[str] = "pconv-drop-dead-filters"

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in reversed(pconv.walk_ops(module, pconv.CONV2D)):  # consumers first: what they drop, producers may
            drop_dead(op)
        module.verify()
