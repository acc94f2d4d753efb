"""pconv-filter-kernel-reorder and pconv-pack-fkw: the order in which a pattern conv's filters and
kernels are computed, and PatDNN's compact filter-kernel-weight (FKW) storage the lowerings read
(the attributes and tables are described in dialect/fkw.py).

pconv-filter-kernel-reorder adds filter_order and filter_groups: filters sorted by kept-kernel
count (most first), then by pattern mix, cut into groups of about equal work that never mix
kernel counts; threads take whole groups, so their shares balance.
pconv-pack-fkw adds fkw_stride and fkw_index (kernels by pattern inside each filter, in
filter_order, or in the filters' own order without the reorder) and rewrites the constant
packed_weights into that order, so each filter's weights are read front to back.

Before:
  "pconv.conv2d"(%x, %w) {kernel_pattern = dense<[[0, 1], [-1, 0]]> ...}
After both:
  "pconv.conv2d"(%x, %w_fkw) {kernel_pattern = ..., filter_order = dense<[0, 1]>, filter_groups = dense<[0, 1, 2]>,
                              fkw_stride = dense<[0, 1, 2, 3, 3]>, fkw_index = dense<[0, 1, 1]>}
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith

from fretsaw.dialect import pconv
from fretsaw.dialect.fkw import reorder_filters, repack
from fretsaw.passes.base import ModulePass, verify_pconv


def i32_elements(values) -> ir.DenseElementsAttr:
    return ir.DenseElementsAttr.get(np.ascontiguousarray(values, dtype=np.int32))


@dataclasses.dataclass(frozen=True)
class FilterKernelReorder(ModulePass):
    """Order filters by kernel count and pattern mix, and cut them into balanced groups."""

    name: ClassVar[str] = "pconv-filter-kernel-reorder"

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in pconv.walk_ops(module, pconv.CONV2D):
            if "fkw_index" in op.attributes:
                continue  # already packed in an order; reordering now would scramble its weights
            conv = pconv.Conv2d(op)
            order, groups = reorder_filters(conv.patterns, conv.kernel_pattern)
            op.attributes["filter_order"] = i32_elements(order)
            op.attributes["filter_groups"] = i32_elements(groups)
        module.verify()


@dataclasses.dataclass(frozen=True)
class PackFkw(ModulePass):
    """Add the FKW arrays and repack the constant weights kernel by kernel in that order."""

    name: ClassVar[str] = "pconv-pack-fkw"

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in pconv.walk_ops(module, pconv.CONV2D):
            conv = pconv.Conv2d(op)
            values = conv.packed_values()
            if "fkw_index" in op.attributes or values is None:
                continue  # packed already, or weights not constant (nothing to repack)
            table = conv.fkw()  # FKW order over still canonical weights: table.weight are canonical offsets
            packed = repack(values, table.weight, table, conv.patterns)
            with ir.InsertionPoint(op), op.location:
                weights = arith.ConstantOp(conv.packed_weights.type,
                                           ir.DenseElementsAttr.get(packed, type=conv.packed_weights.type))
            op.operands[1] = weights.result
            op.attributes["filter_order"] = i32_elements(table.order)
            op.attributes["filter_groups"] = i32_elements(table.groups)
            op.attributes["fkw_stride"] = i32_elements(table.stride)
            op.attributes["fkw_index"] = i32_elements(table.index)
        module.verify()
