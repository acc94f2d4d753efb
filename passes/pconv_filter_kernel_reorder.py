"""pconv-filter-kernel-reorder: the order in which a pattern conv's filters are computed.

Adds filter_order and filter_groups: filters sorted by kept-kernel count (most first), then by
pattern mix, cut into groups of about equal work that never mix kernel counts; threads take
whole groups, so their shares balance. pconv-pack-fkw then stores the kernels in that order
(the attributes are described in dialect/fkw.py).

Before:
  "pconv.conv2d"(%x, %w) {kernel_pattern = dense<[[0, -1], [0, 1]]> ...}
After:
  "pconv.conv2d"(%x, %w) {kernel_pattern = ..., filter_order = dense<[1, 0]>, filter_groups = dense<[0, 1, 2]>}
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch_mlir import ir

from fretsaw.dialect import pconv
from fretsaw.dialect.fkw import reorder_filters
from fretsaw.passes.base import ModulePass, verify_pconv
from fretsaw.passes.builders import i32_elements


@dataclasses.dataclass(frozen=True)
class FilterKernelReorder(ModulePass):
    """Order filters by kernel count and pattern mix, and cut them into balanced groups."""

    name: ClassVar[str] = "pconv-filter-kernel-reorder"

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in pconv.walk_convs(module):
            if "fkw_index" in op.attributes:
                continue  # already packed in an order; reordering now would scramble its weights
            conv = pconv.Conv(op)
            order, groups = reorder_filters(conv.patterns, conv.kernel_pattern)
            op.attributes["filter_order"] = i32_elements(order)
            op.attributes["filter_groups"] = i32_elements(groups)
        module.verify()
