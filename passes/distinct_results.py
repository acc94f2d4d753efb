"""distinct-results: a function that returns one tensor several times returns a copy for each
repeat, so every result has a buffer of its own.

A model returning the same tensor twice (`return y, y`, or two identical heads that cse merges)
gives `func.return %y, %y`. One-Shot Bufferize returns one buffer twice, and
buffer-results-to-out-params{hoist-static-allocs} then replaces that alloc by the first
out-parameter and erases it, and crashes (a segmentation fault) when it comes to the second.
Copies made here, before bufferization, become allocs of their own, each hoisted into its
out-parameter; an input returned as is (a block argument) is copied by bufferization already.

Before:
  return %y, %y : tensor<1x2x3x3xf32>, tensor<1x2x3x3xf32>
After:
  %e = tensor.empty() : tensor<1x2x3x3xf32>
  %c = linalg.copy ins(%y : tensor<1x2x3x3xf32>) outs(%e : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %y, %c : tensor<1x2x3x3xf32>, tensor<1x2x3x3xf32>
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch_mlir import ir
from torch_mlir.dialects import linalg, tensor

from fretsaw.dialect import pconv
from fretsaw.passes.base import ModulePass


def copy_repeats(ret: ir.Operation) -> None:
    """Replace each operand of `ret` that repeats an earlier tensor operand by a copy of it."""
    seen = set()
    for i, value in enumerate(list(ret.operands)):
        if not isinstance(value.type, ir.RankedTensorType) or isinstance(value, ir.BlockArgument):
            continue
        if value not in seen:
            seen.add(value)
            continue
        with ir.InsertionPoint(ret), ret.location:
            empty = tensor.EmptyOp(value.type.shape, value.type.element_type).result
            ret.operands[i] = linalg.copy(value, outs=[empty])


@dataclasses.dataclass(frozen=True)
class DistinctResults(ModulePass):
    """Copy each tensor a function returns more than once, so each result gets its own buffer."""

    name: ClassVar[str] = "distinct-results"

    def run(self, module: ir.Operation) -> None:
        for ret in pconv.walk_ops(module, "func.return"):
            copy_repeats(ret)
