"""fold-result-copies: a function result that is a reshape of a buffer the function allocates is
computed straight into its out-parameter, not copied there.

buffer-results-to-out-params{hoist-static-allocs} replaces a returned `memref.alloc` by the
caller's out-parameter, but when the result is a reshape of the alloc (a pointwise conv's output
computed as one row of H*W pixels and expanded back to H x W: pconv-vectorize's
flatten_pointwise) it leaves a `memref.copy` of the whole output at the end of every call: a
model or single layer ending in a 1x1 conv paid a copy of its output on one thread (96 x 112 x
112 floats: 0.29 ms beside the conv's 0.13). Here the alloc becomes the inverse reshapes of the
out-parameter and the copy goes. Runs between buffer-results-to-out-params and the deallocation
pipeline, so the alloc has no dealloc yet. Only a chain of collapse_shape / expand_shape ops of an
operand-free, identity-layout alloc is folded, when nothing uses the alloc or a view of it after
the copy, into an identity-layout out-parameter (the caller's own buffer: nothing else reads it).

Before:
  %a = memref.alloc() : memref<1x96x1x12544xf32>
  ... writes %a ...
  %c = memref.collapse_shape %a [[0], [1], [2, 3]] : ... into memref<1x96x12544xf32>
  %e = memref.expand_shape %c [[0], [1], [2, 3]] output_shape [1, 96, 112, 112] : ...
  memref.copy %e, %out : memref<1x96x112x112xf32> to memref<1x96x112x112xf32>
  return
After:
  %c = memref.collapse_shape %out [[0], [1], [2, 3]] : ... into memref<1x96x12544xf32>
  %a = memref.expand_shape %c [[0], [1], [2, 3]] output_shape [1, 96, 1, 12544] : ...
  ... writes %a ...
  return
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch_mlir import ir
from torch_mlir.dialects import memref

from fretsaw.dialect import pconv
from fretsaw.passes.base import ModulePass
from fretsaw.passes.match import memref_users

RESHAPES = ("memref.collapse_shape", "memref.expand_shape")


def identity(mtype: ir.MemRefType) -> bool:
    return mtype.layout.value == ir.AffineMap.get_identity(mtype.rank)


def reshape_chain(value: ir.Value) -> tuple[ir.Operation | None, list[ir.Operation]]:
    """(the alloc `value` reshapes, the reshapes from the alloc outwards), or (None, []) when
    `value` is not a chain of collapse / expand shapes of a foldable alloc."""
    chain = []
    while isinstance(value, ir.OpResult) and value.owner.operation.name in RESHAPES:
        chain.append(value.owner.operation)
        value = value.owner.operation.operands[0]
    if not chain or not isinstance(value, ir.OpResult):
        return None, []
    alloc = value.owner.operation
    if alloc.name != "memref.alloc" or len(alloc.operands) or not identity(ir.MemRefType(value.type)):
        return None, []
    return alloc, chain[::-1]


def inverse(value: ir.Value, reshape: ir.Operation) -> ir.Value:
    """`value` (of `reshape`'s result type) reshaped back to the type of `reshape`'s source."""
    source = ir.MemRefType(reshape.operands[0].type)
    reassociation = reshape.attributes["reassociation"]
    if reshape.name == "memref.expand_shape":
        return memref.CollapseShapeOp(source, value, reassociation).result
    return memref.ExpandShapeOp(source, value, reassociation, [], source.shape).result


def fold(copy: ir.Operation, out: ir.BlockArgument, order: dict) -> bool:
    """Fold `copy` (of a reshaped alloc into out-parameter `out`) away; whether it did. `order`:
    the position of each op of the function's entry block."""
    alloc, chain = reshape_chain(copy.operands[0])
    if alloc is None or alloc.block != copy.block or not identity(ir.MemRefType(out.type)):
        return False
    if any(order[top] > order[copy] for top in memref_users(alloc.results[0], copy.block)):
        return False  # the buffer or a view of it is used after the copy
    with ir.InsertionPoint(alloc), alloc.location:
        value = out
        for reshape in reversed(chain):
            value = inverse(value, reshape)
    alloc.results[0].replace_all_uses_with(value)
    copy.erase()
    for reshape in reversed(chain):  # outermost first: each is dead once the one after it goes
        if not list(reshape.results[0].uses):
            reshape.erase()
    alloc.erase()
    return True


@dataclasses.dataclass(frozen=True)
class FoldResultCopies(ModulePass):
    """Compute a reshaped result straight into its out-parameter instead of copying it there."""

    name: ClassVar[str] = "fold-result-copies"

    def run(self, module: ir.Operation) -> None:
        for func in pconv.walk_ops(module, "func.func"):
            if not func.regions[0].blocks:
                continue
            entry = func.regions[0].blocks[0]
            arguments = list(entry.arguments)
            copies = [op.operation for op in entry.operations if op.operation.name == "memref.copy"]
            for copy in copies:
                target = copy.operands[1]
                if isinstance(target, ir.BlockArgument) and any(target == a for a in arguments):
                    order = {op.operation: i for i, op in enumerate(entry.operations)}
                    fold(copy, target, order)
