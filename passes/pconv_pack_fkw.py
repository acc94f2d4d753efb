"""pconv-pack-fkw: PatDNN's compact filter-kernel-weight (FKW) storage, which the lowerings read
(the attributes and tables are described in dialect/fkw.py).

Adds fkw_stride and fkw_index (kernels by pattern inside each filter, in filter_order, or in the
filters' own order without pconv-filter-kernel-reorder) and rewrites the constant packed_weights
into that order, so each filter's weights are read front to back.

Before (after pconv-filter-kernel-reorder):
  "pconv.conv2d"(%x, %w) {kernel_pattern = dense<[[0, 1], [-1, 0]]>, filter_order = dense<[0, 1]>, ...}
After:
  "pconv.conv2d"(%x, %w_fkw) {kernel_pattern = ..., filter_order = dense<[0, 1]>, filter_groups = dense<[0, 1, 2]>,
                              fkw_stride = dense<[0, 1, 2, 3, 3]>, fkw_index = dense<[0, 1, 1]>}
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch_mlir import ir
from torch_mlir.dialects import arith

from fretsaw.dialect import pconv
from fretsaw.dialect.fkw import repack
from fretsaw.passes.base import ModulePass, verify_pconv
from fretsaw.passes.builders import i32_elements


@dataclasses.dataclass(frozen=True)
class PackFkw(ModulePass):
    """Add the FKW arrays and repack the constant weights kernel by kernel in that order."""

    name: ClassVar[str] = "pconv-pack-fkw"

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in pconv.walk_convs(module):
            conv = pconv.Conv(op)
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
