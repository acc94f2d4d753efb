"""pconv-drop-dead-filters: filters whose output channel no later conv reads lose their kernels.

A conv whose result only pconv convs read, none of them a channel (none has a kept kernel on it),
drops that filter's kernels: MobileNet-V2's expand convs compute 6x the channels of their block's
input (its design), and once pruned the depthwise conv after them reads only a fraction of them.
The channel then holds its activation of its bias, which no one reads (pconv-vectorize does not
compute it). Runs before the reorder and FKW packing, on constant weights.

Before (%y reads channel 0 of %d only):
  %d = "pconv.conv2d"(%x, %w, %b) {kernel_pattern = dense<[[0], [0]]>, ...}
  %y = "pconv.conv2d"(%d, %v) {kernel_pattern = dense<[[0, -1]]>, ...}
After:
  %d = "pconv.conv2d"(%x, %w', %b) {kernel_pattern = dense<[[0], [-1]]>, ...}
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch_mlir import ir

from fretsaw.dialect import pconv
from fretsaw.passes.base import ModulePass, verify_pconv
from fretsaw.passes.conv.rewrite import bias_values, read_by_users, rebuild


def drop_dead(op) -> bool:
    """Remove the kernels of `op`'s filters whose output channel no user reads; whether it was rewritten."""
    read = read_by_users(op)
    conv = pconv.Conv(op)
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
class DropDeadFilters(ModulePass):
    """Remove the kernels of filters whose output channel no consumer conv reads."""

    name: ClassVar[str] = "pconv-drop-dead-filters"

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in reversed(pconv.walk_convs(module)):  # consumers first: what they drop, producers may
            drop_dead(op)
        module.verify()
