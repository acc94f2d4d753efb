"""persistent-workspace: large per-call buffers become module globals, allocated once.

After bufferization every conv's flat input copy and output temporary is a `memref.alloc` at the
top of the entry function, freed at its end. glibc serves blocks that large with fresh mmap pages,
so every call page-faults its whole working set again (a 64-channel 224x224 layer took 38-50 ms
where the same code on reused memory takes 16-25). A top-level alloc of a static shape of at least
`min-bytes` whose deallocs sit in the same block is replaced by an uninitialised private global,
its deallocs dropped: the memory is faulted in on the first call only. The price: the compiled
function is not reentrant (two threads calling it at once would share the buffers), and the
workspace stays allocated while the module lives.

Before:
  func.func @main(...) { %a = memref.alloc() : memref<1x64x1x51076xf32> ... memref.dealloc %a ... }
After:
  memref.global "private" @__fretsaw_workspace_0 : memref<1x64x1x51076xf32> = uninitialized
  func.func @main(...) { %a = memref.get_global @__fretsaw_workspace_0 : memref<1x64x1x51076xf32> ... }
"""

from __future__ import annotations

import dataclasses
from math import prod
from typing import ClassVar

from torch_mlir import ir
from torch_mlir.dialects import memref

from fretsaw.passes.base import ModulePass

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


@dataclasses.dataclass(frozen=True)
class PersistentWorkspace(ModulePass):
    """Turn large per-call buffers (top-level static allocs with their deallocs) into globals."""

    name: ClassVar[str] = "persistent-workspace"
    min_bytes: int = 131072  # glibc's default mmap threshold: smaller blocks come from the heap anyway

    def run(self, module: ir.Operation) -> None:
        body = module.regions[0].blocks[0]
        count = 0
        for fn in [op for op in body.operations if op.operation.name == "func.func"]:
            for block in fn.regions[0].blocks:
                # pick every alloc before changing anything: hoisting erases deallocs further down
                allocs = [o.operation for o in block.operations if hoistable(o.operation, self.min_bytes)]
                for op in allocs:
                    count = self._hoist(op, body, f"{PREFIX}{count}") + count

    @staticmethod
    def _hoist(op: ir.Operation, body: ir.Block, symbol: str) -> int:
        mtype = op.results[0].type
        with op.context, op.location:
            with ir.InsertionPoint.at_block_begin(body):
                memref.GlobalOp(symbol, ir.TypeAttr.get(mtype), sym_visibility="private",
                                initial_value=ir.UnitAttr.get(), alignment=64)
            with ir.InsertionPoint(op):
                workspace = memref.GetGlobalOp(mtype, symbol)
        for dealloc in deallocs_of(op):
            dealloc.erase()
        op.results[0].replace_all_uses_with(workspace.result)
        op.erase()
        return 1
