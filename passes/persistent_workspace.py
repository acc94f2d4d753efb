"""persistent-workspace: large per-call buffers live in one module global, allocated once, and
buffers that are never live at the same time share its memory.

After bufferization every conv's flat input copy and output temporary is a `memref.alloc` at the
top of the entry function, freed at its end. glibc serves blocks that large with fresh mmap pages,
so every call page-faults its whole working set again, which can cost as much as the layer's
arithmetic. Each top-level alloc of a static shape of at least `min-bytes` whose deallocs sit in
the same block becomes a `memref.view` into one uninitialised private i8 global (64-byte aligned
offsets), its deallocs dropped: the memory is faulted in on the first call only. Its live range
runs from the alloc to its last use (through views too; the deallocation pipeline puts every
dealloc at the function's end); buffers whose ranges overlap get disjoint bytes, the others may
share (largest first, each at the lowest offset clear of the buffers live with it). One buffer per
layer would make every layer write to memory the previous layers left cold: with the arena a
network's layers keep reusing a few cache-warm buffers. The price: the compiled function is not
reentrant (two threads calling it at once would share the buffers: the host executable serialises
calls with a lock, the AArch64 artifact documents one call at a time), and the workspace stays
allocated while the module lives.

Before:
  func.func @main(...) { %a = memref.alloc() : memref<1x64x1x51076xf32> ... memref.dealloc %a
                         %b = memref.alloc() : memref<1x64x58x58xf32> ... memref.dealloc %b ... }
After:
  memref.global "private" @__fretsaw_workspace_0 : memref<13074944xi8> = uninitialized
  func.func @main(...) { %w = memref.get_global @__fretsaw_workspace_0 : memref<13074944xi8>
                         %a = memref.view %w[%c0][] : memref<13074944xi8> to memref<1x64x1x51076xf32>
                         %b = memref.view %w[%c0][] : ... (the same bytes: %a is dead by then) }
"""

from __future__ import annotations

import dataclasses
from math import prod
from typing import ClassVar

from torch_mlir import ir
from torch_mlir.dialects import memref

from fretsaw.passes.base import ModulePass
from fretsaw.passes.builders import index

PREFIX = "__fretsaw_workspace_"


def hoistable(op: ir.Operation, min_bytes: int) -> bool:
    """A static, operand-free alloc of at least `min_bytes` freed only in its own block."""
    if op.name != "memref.alloc" or len(op.operands):
        return False
    mtype = ir.MemRefType(op.results[0].type)
    if not mtype.has_static_shape or mtype.layout.value != ir.AffineMap.get_identity(mtype.rank):
        return False
    if prod(mtype.shape) * mtype.element_type.width // 8 < min_bytes:
        return False
    deallocs = deallocs_of(op)
    return bool(deallocs) and all(d.block == op.block for d in deallocs)


def deallocs_of(op: ir.Operation) -> list[ir.Operation]:
    owners = [use.owner.operation for use in op.results[0].uses]
    return [owner for owner in owners if owner.name == "memref.dealloc"]


ALIGN = 64


def last_use(op: ir.Operation, block: ir.Block, position: dict) -> int:
    """Position in `block` of the last op that uses the alloc's buffer, directly or through views
    of it (any op with memref results that uses it), nested uses counted at their ancestor in
    `block`; deallocs do not count (the deallocation pipeline puts them at the function's end)."""
    last, pending = position[op], [op.results[0]]
    while pending:
        for use in pending.pop().uses:
            owner = use.owner.operation
            top = owner
            while top.block != block:
                top = top.parent.operation
            if top.name == "memref.dealloc":
                continue
            last = max(last, position[top])
            pending += [r for r in owner.results if isinstance(r.type, ir.MemRefType)]
    return last


def byte_size(op: ir.Operation) -> int:
    mtype = ir.MemRefType(op.results[0].type)
    return -(-prod(mtype.shape) * mtype.element_type.width // 8 // ALIGN) * ALIGN


def plan_offsets(ranges: list[tuple[int, int]], sizes: list[int]) -> tuple[list[int], int]:
    """Byte offsets for buffers live over the inclusive op-position `ranges`: largest first, each
    at the lowest ALIGN-ed offset that overlaps no placed buffer whose range overlaps its own.
    Returns (offsets, arena size)."""
    offsets: list[int | None] = [None] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], ranges[i])):
        busy = sorted((offsets[j], offsets[j] + sizes[j]) for j in range(len(sizes))
                      if offsets[j] is not None and ranges[j][0] <= ranges[i][1] and ranges[i][0] <= ranges[j][1])
        offset = 0
        for low, high in busy:
            if offset + sizes[i] <= low:
                break
            offset = max(offset, high)
        offsets[i] = offset
    return offsets, max((o + s for o, s in zip(offsets, sizes)), default=0)


@dataclasses.dataclass(frozen=True)
class PersistentWorkspace(ModulePass):
    """Turn large per-call buffers (top-level static allocs with their deallocs) into views of one
    global arena, sharing bytes between buffers that are never live together."""

    name: ClassVar[str] = "persistent-workspace"
    min_bytes: int = 131072  # glibc's default mmap threshold: smaller blocks come from the heap anyway

    def run(self, module: ir.Operation) -> None:
        body = module.regions[0].blocks[0]
        count = 0
        for fn in [op for op in body.operations if op.operation.name == "func.func"]:
            for block in fn.regions[0].blocks:
                # pick every alloc and its range before changing anything: hoisting erases deallocs
                position = {op.operation: i for i, op in enumerate(block.operations)}
                allocs = [o.operation for o in block.operations if hoistable(o.operation, self.min_bytes)]
                if not allocs:
                    continue
                ranges = [(position[op], last_use(op, block, position)) for op in allocs]
                offsets, total = plan_offsets(ranges, [byte_size(op) for op in allocs])
                self._hoist(allocs, offsets, total, block, body, f"{PREFIX}{count}")
                count += 1

    @staticmethod
    def _hoist(allocs: list[ir.Operation], offsets: list[int], total: int, block: ir.Block, body: ir.Block,
               symbol: str) -> None:
        with allocs[0].context, ir.Location.unknown():
            arena = ir.MemRefType.get([total], ir.IntegerType.get_signless(8))
            with ir.InsertionPoint.at_block_begin(body):
                memref.GlobalOp(symbol, ir.TypeAttr.get(arena), sym_visibility="private",
                                initial_value=ir.UnitAttr.get(), alignment=ALIGN)
            with ir.InsertionPoint.at_block_begin(block):
                workspace = memref.GetGlobalOp(arena, symbol).result
            for op, offset in zip(allocs, offsets):
                with ir.InsertionPoint(op), op.location:
                    view = memref.ViewOp(op.results[0].type, workspace, index(offset), []).result
                for dealloc in deallocs_of(op):
                    dealloc.erase()
                op.results[0].replace_all_uses_with(view)
                op.erase()
