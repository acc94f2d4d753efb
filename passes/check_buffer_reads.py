"""check-buffer-reads: before bufferization, no memref taken from a tensor is used after a tensor
op that may have overwritten its buffer.

fretsaw's lowerings (pconv-vectorize, dense-vectorize) emit loops over memrefs in the middle of
tensor IR: `bufferization.to_buffer %t` reads a tensor's future buffer, `bufferization.to_tensor
%m restrict` hands a filled buffer back. One-Shot Bufferize sees the read only where the
`to_buffer` stands; it cannot follow the memref's later uses. If one of those uses comes after a
tensor op that bufferizes in place into the same buffer (a transpose writing into a shared
`tensor.empty`, say), the data is overwritten before it is read, and the model returns a wrong
answer with no error. That happened when `cse` merged two identical reads of one tensor made far
apart (a residual add read a LayerNorm output that the next transpose had overwritten). The
lowerings keep each read next to its loops and the pipelines run `cse` only after bufferization;
this pass makes the rule checked, so a pass or pipeline that breaks it fails to compile instead.

The rule, per block: every use of a `to_buffer` result (through memref views of it) lies before
the next op that may write a tensor in place (an op with tensor operands and results that is not
a pure view); so does every use of a buffer after `to_tensor ... restrict` wraps it (canonicalize
folds a later `to_buffer` of that tensor into the buffer itself).
Constants are exempt: their buffers are read-only globals, never written in place.

Before (rejected):
  %m = bufferization.to_buffer %y read_only : tensor<4xf32> to memref<4xf32>
  %t = linalg.transpose ins(%a ...) outs(%empty ...)     // may write into %y's buffer
  %v = vector.load %m[%c0] : memref<4xf32>, vector<4xf32>  // error: reads %y after that
After: unchanged when the rule holds.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch_mlir import ir

from fretsaw.errors import FretsawError
from fretsaw.passes.base import ModulePass

# Ops with tensor operands and results that only view or read them, never write a buffer.
NON_WRITING = {"tensor.expand_shape", "tensor.collapse_shape", "tensor.cast", "tensor.extract_slice",
               "tensor.reshape", "tensor.bitcast", "tensor.dim", "tensor.extract", "bufferization.to_buffer",
               "bufferization.to_tensor", "arith.constant"}


def is_tensor(value: ir.Value) -> bool:
    return isinstance(value.type, (ir.RankedTensorType, ir.UnrankedTensorType))


def may_write_tensor(op: ir.Operation) -> bool:
    """Whether `op` may bufferize to a write into the buffer of one of its tensor operands."""
    if op.name in NON_WRITING:
        return False
    return any(is_tensor(v) for v in op.operands) and any(is_tensor(r) for r in op.results)


def ancestor_in(op: ir.Operation, block: ir.Block) -> ir.Operation | None:
    """`op` or the ancestor of it that lies in `block`; None when it is outside `block`."""
    while op.block != block:
        parent = op.parent
        if parent is None or parent.name == "builtin.module":
            return None
        op = parent.operation
    return op


def memref_users(value: ir.Value, block: ir.Block) -> list[ir.Operation]:
    """The ops of `block` that use `value`, directly or nested, or through ops producing memrefs
    from it (views, casts); deallocs do not count."""
    users, pending, seen = [], [value], set()
    while pending:
        for use in pending.pop().uses:
            owner = use.owner.operation if hasattr(use.owner, "operation") else use.owner
            if owner.name == "memref.dealloc":
                continue
            top = ancestor_in(owner, block)
            if top is not None:
                users.append(top)
            for result in owner.results:
                if isinstance(result.type, ir.MemRefType) and result not in seen:
                    seen.add(result)
                    pending.append(result)
    return users


def first_writer_between(block_ops: list[ir.Operation], start: int, end: int) -> ir.Operation | None:
    for op in block_ops[start + 1:end]:
        if may_write_tensor(op):
            return op
    return None


def from_constant(value: ir.Value) -> bool:
    owner = value.owner
    return isinstance(owner, ir.OpView) and owner.operation.name == "arith.constant"


@dataclasses.dataclass(frozen=True)
class CheckBufferReads(ModulePass):
    """Reject memrefs of tensors used after a tensor op that may overwrite them (before bufferizing)."""

    name: ClassVar[str] = "check-buffer-reads"

    def run(self, module: ir.Operation) -> None:
        blocks = []

        def collect(op):
            for region in op.regions:
                blocks.extend(region.blocks)
            return ir.WalkResult.ADVANCE

        module.walk(collect)
        for block in blocks:
            self.check_block(block)

    def check_block(self, block: ir.Block) -> None:
        ops = [op.operation for op in block.operations]
        position = {op: i for i, op in enumerate(ops)}
        for i, op in enumerate(ops):
            if op.name == "bufferization.to_buffer" and not from_constant(op.operands[0]):
                check_uses(op, op.results[0], i, ops, position)
            if op.name == "bufferization.to_tensor" and "restrict" in op.attributes:
                # canonicalize folds to_buffer(to_tensor(%m)) to %m: later uses of %m are reads too
                check_uses(op, op.operands[0], i, ops, position)


def check_uses(op: ir.Operation, buffer: ir.Value, i: int, ops: list[ir.Operation], position: dict) -> None:
    """Raise unless every use of `buffer` after position `i` precedes the first tensor op after
    `i` that may write in place."""
    late = [u for u in memref_users(buffer, op.block) if position[u] > i]
    if not late:
        return
    last = max(late, key=lambda u: position[u])
    writer = first_writer_between(ops, i, position[last])
    if writer is None:
        return
    raise FretsawError(
        f"'{op.name}' op at {op.location}: its buffer is used by '{last.name}' at {last.location} after "
        f"'{writer.name}' at {writer.location}, which may overwrite that tensor's buffer in place; "
        f"bufferization cannot see memref uses, so the read could see the wrong data. A pass moved or "
        f"merged the read away from its loops (e.g. cse before one-shot-bufferize): read the tensor "
        f"again right before the loops that use it",
        op=op.name, location=str(op.location), pass_name=CheckBufferReads.name)
