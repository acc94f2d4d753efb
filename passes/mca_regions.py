"""mca-regions: mark every SIMD inner loop as an llvm-mca code region and count its iterations.

For `fretsaw bench --target aarch64`'s static cost estimate (fretsaw/mca.py): each innermost
`scf.for` whose body multiply-adds vectors (the kernel loops of pconv-vectorize, the channel
loops of its dense blocks and of dense-vectorize) gets the assembler comments
`// LLVM-MCA-BEGIN rN` / `// LLVM-MCA-END rN` around its body, which llvm-mca reads as region N,
and an increment of element N of the public global `fretsaw_mca_counts` (i64), which a run of
the instrumented code (on one thread) turns into the loop's dynamic iteration count. Cycles per
iteration (llvm-mca) x iterations (the run) = the inner loops' estimated cycles. Not part of any
compile pipeline: the markers are side-effecting inline asm, which pins the loop body in place.

Before:
  scf.for %k = %a to %b step %c1 iter_args(...) { ... vector.fma ... scf.yield ... }
After:
  memref.global @fretsaw_mca_counts : memref<1xi64> = dense<0>
  scf.for %k = ... {
    %n = memref.load %counts[%c0]; memref.store (%n + 1), %counts[%c0]
    llvm.inline_asm has_side_effects "// LLVM-MCA-BEGIN r0", ""
    ... vector.fma ...
    llvm.inline_asm has_side_effects "// LLVM-MCA-END r0", ""
    scf.yield ...
  }
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch_mlir import ir
from torch_mlir.dialects import arith, llvm, memref

from fretsaw.passes.base import ModulePass

COUNTS = "fretsaw_mca_counts"
LOOPS = ("scf.for", "scf.parallel", "scf.while", "scf.forall")


def walk_ops(op: ir.Operation):
    for region in op.regions:
        for block in region.blocks:
            for child in block.operations:
                yield child.operation
                yield from walk_ops(child.operation)


def simd_inner_loops(module: ir.Operation) -> list[ir.Operation]:
    """Innermost scf.for loops with a vector.fma in their body, in program order."""
    found = []
    for op in walk_ops(module):
        if op.name != "scf.for":
            continue
        inside = [child.name for child in walk_ops(op)]
        if "vector.fma" in inside and not any(name in LOOPS for name in inside):
            found.append(op)
    return found


@dataclasses.dataclass(frozen=True)
class McaRegions(ModulePass):
    """Mark SIMD inner loops as llvm-mca regions and count their iterations in fretsaw_mca_counts."""

    name: ClassVar[str] = "mca-regions"

    def run(self, module: ir.Operation) -> None:
        loops = simd_inner_loops(module)
        if not loops:
            return
        with module.context, module.location:
            i64 = ir.IntegerType.get_signless(64)
            ctype = ir.MemRefType.get([len(loops)], i64)
            with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
                zeros = ir.DenseElementsAttr.get_splat(ir.RankedTensorType.get([len(loops)], i64),
                                                       ir.IntegerAttr.get(i64, 0))
                memref.GlobalOp(COUNTS, ir.TypeAttr.get(ctype), sym_visibility="public", initial_value=zeros)
        for n, loop in enumerate(loops):
            body = loop.regions[0].blocks[0]
            with loop.context, loop.location:
                with ir.InsertionPoint.at_block_begin(body):
                    counts = memref.GetGlobalOp(ctype, COUNTS).result
                    at = arith.ConstantOp(ir.IndexType.get(), n).result
                    one = arith.ConstantOp(i64, 1).result
                    memref.StoreOp(arith.AddIOp(memref.LoadOp(counts, [at]).result, one).result, counts, [at])
                    llvm.InlineAsmOp(None, [], f"// LLVM-MCA-BEGIN r{n}", "", has_side_effects=True)
                with ir.InsertionPoint(body.operations[len(body.operations) - 1]):  # before scf.yield
                    llvm.InlineAsmOp(None, [], f"// LLVM-MCA-END r{n}", "", has_side_effects=True)
