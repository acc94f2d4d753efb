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
the next op that may write in place into that tensor's buffer; so does every use of a buffer after
`to_tensor ... restrict` wraps it (canonicalize folds a later `to_buffer` of that tensor into the
buffer itself). A tensor's buffer is that of its roots (`buffer_roots`: views lead to their
source, a linalg op's result to its init, an insert's to its destination, an scf.for's to its
iter_arg; a tensor.empty, an argument, a `to_tensor`, ... is a root of its own, as bufferization
gives different roots different buffers; an op it does not know may alias any of its operands).
An op may write into the roots of its linalg inits or insert destinations; any other op with
tensor results (or regions using tensors) into the roots of all its tensors.
Constants are exempt: their buffers are read-only globals, never written in place. (Every tensor
op counted as a writer at first: a conv read by an upstream op such as tanh and by a pooling or
residual add was then refused to compile, found by the fuzzer.)

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
from fretsaw.passes.match import memref_users

# Ops with tensor operands and results that only view or read them, never write a buffer.
NON_WRITING = {"tensor.expand_shape", "tensor.collapse_shape", "tensor.cast", "tensor.extract_slice",
               "tensor.reshape", "tensor.bitcast", "tensor.dim", "tensor.extract", "bufferization.to_buffer",
               "bufferization.to_tensor", "arith.constant"}


def is_tensor(value: ir.Value) -> bool:
    return isinstance(value.type, (ir.RankedTensorType, ir.UnrankedTensorType))


# Ops that write in place into one operand, by its position: an insert's destination.
DESTINATION = {"tensor.insert_slice": 1, "tensor.insert": 1, "tensor.parallel_insert_slice": 1}
VIEWS = {"tensor.expand_shape", "tensor.collapse_shape", "tensor.cast", "tensor.extract_slice", "tensor.reshape",
         "tensor.bitcast"}


def is_linalg(op: ir.Operation) -> bool:
    return op.name.startswith("linalg.")


# Ops whose tensor result is a buffer of its own (an allocation, or a read-only global).
FRESH = {"tensor.empty", "tensor.pad", "tensor.concat", "tensor.generate", "tensor.from_elements", "tensor.splat",
         "bufferization.alloc_tensor", "bufferization.to_tensor", "arith.constant"}


def buffer_roots(value: ir.Value) -> set:
    """The root tensors whose buffer `value` may live in after bufferization: views lead to their
    source, a linalg op's result to its init, an insert's to its destination, an scf.for's to its
    iter_arg; an allocating op's result (FRESH) and a block argument are roots; the result of any
    other op may be its own buffer or any of its tensor operands' (an over-approximation: a
    missed alias would let a wrong answer through, an extra one only refuses to compile)."""
    roots, pending = set(), [value]
    while pending:
        value = pending.pop()
        if not isinstance(value, ir.OpResult):
            roots.add(value)
            continue
        op = value.owner.operation if hasattr(value.owner, "operation") else value.owner
        if op.name in VIEWS:
            pending.append(op.operands[0])
        elif is_linalg(op):  # destination style: the results are the inits, which come last
            pending.append(op.operands[len(op.operands) - len(op.results) + value.result_number])
        elif op.name in DESTINATION:
            pending.append(op.operands[DESTINATION[op.name]])
        elif op.name == "scf.for":
            pending.append(op.operands[3 + value.result_number])
        else:
            roots.add(value)
            if op.name not in FRESH:
                pending += [v for v in op.operands if is_tensor(v)]
    return roots


def captured_tensors(op: ir.Operation) -> list[ir.Value]:
    """Tensors defined outside `op` and used inside its regions."""
    found = []

    def visit(inner):
        for v in inner.operands:
            if is_tensor(v) and ancestor_in_op(v, op) is None:
                found.append(v)
        return ir.WalkResult.ADVANCE

    for region in op.regions:
        for block in region.blocks:
            for inner in block.operations:
                inner.operation.walk(visit)
    return found


def ancestor_in_op(value: ir.Value, op: ir.Operation) -> ir.Operation | None:
    """`op` when `value` is defined inside it, else None."""
    owner = value.owner.owner if isinstance(value, ir.BlockArgument) else value.owner
    owner = owner.operation if hasattr(owner, "operation") else owner
    while owner is not None:
        if owner == op:
            return op
        parent = owner.parent
        owner = parent.operation if parent is not None and hasattr(parent, "operation") else parent
    return None


def written_roots(op: ir.Operation) -> set:
    """The buffer roots `op` may bufferize to a write into."""
    if op.name in NON_WRITING:
        return set()
    results = [r for r in op.results if is_tensor(r)]
    if is_linalg(op):
        written = list(op.operands)[len(op.operands) - len(op.results):] if results else []
    elif op.name in DESTINATION:
        written = [op.operands[DESTINATION[op.name]]]
    elif results or op.regions:
        written = [v for v in op.operands if is_tensor(v)] + captured_tensors(op)
    else:
        written = []
    return set().union(*(buffer_roots(v) for v in written if is_tensor(v)))



def first_writer_between(block_ops: list[ir.Operation], start: int, end: int, roots: set,
                         writes: dict) -> ir.Operation | None:
    """The first op strictly between positions `start` and `end` that may write into one of
    `roots`; `writes` caches each op's written roots (a block's ops are scanned once per read)."""
    for op in block_ops[start + 1:end]:
        if op not in writes:
            writes[op] = written_roots(op)
        if writes[op] & roots:
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
        writes: dict = {}
        for i, op in enumerate(ops):
            if op.name == "bufferization.to_buffer" and not from_constant(op.operands[0]):
                check_uses(op, op.results[0], buffer_roots(op.operands[0]), i, ops, position, writes)
            if op.name == "bufferization.to_tensor" and "restrict" in op.attributes:
                # canonicalize folds to_buffer(to_tensor(%m)) to %m: later uses of %m are reads too
                check_uses(op, op.operands[0], {op.results[0]}, i, ops, position, writes)


def check_uses(op: ir.Operation, buffer: ir.Value, roots: set, i: int, ops: list[ir.Operation],
               position: dict, writes: dict) -> None:
    """Raise unless every use of `buffer` (the buffer of a tensor with root in `roots`) after
    position `i` precedes the first op after `i` that may write in place into one of `roots`."""
    late = [u for u in memref_users(buffer, op.block) if position[u] > i]
    if not late:
        return
    last = max(late, key=lambda u: position[u])
    writer = first_writer_between(ops, i, position[last], roots, writes)
    if writer is None:
        return
    raise FretsawError(
        f"'{op.name}' op at {op.location}: its buffer is used by '{last.name}' at {last.location} after "
        f"'{writer.name}' at {writer.location}, which may overwrite that tensor's buffer in place; "
        f"bufferization cannot see memref uses, so the read could see the wrong data. A pass moved or "
        f"merged the read away from its loops (e.g. cse before one-shot-bufferize): read the tensor "
        f"again right before the loops that use it",
        op=op.name, location=str(op.location), pass_name=CheckBufferReads.name)
