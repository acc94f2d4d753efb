"""gpu-map-loops: the loops upstream made of the rest of the graph (linalg -> parallel loops) and its
buffer copies become GPU-mapped loops, so that nothing but buffer bookkeeping stays on the host.

A top-level scf.parallel without a mapping is flattened into one dimension of threads in
workgroups (passes/gpu/loops.py), its coordinates taken apart again inside; its reductions and
nested loops run per thread. A memref.copy becomes one thread per element. A top-level scf.for
(an op with only reduction dimensions) runs on one thread. Loops fretsaw mapped itself
(pconv-gpu) are left alone. Every bound must be static.

Before:
  scf.parallel (%i, %j) = (%c0, %c0) to (%c8, %c100) step (%c1, %c1) { ... }
After:
  scf.parallel (%wg, %t) = (%c0, %c0) to (%c13, %c64) ... {
    %flat = %wg * 64 + %t; scf.if %flat < 800 { %i = %flat / 100; %j = %flat % 100; ... }
  } {mapping = [block_x, thread_x]}
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith

from fretsaw.errors import op_error
from fretsaw.passes.base import ModulePass
from fretsaw.passes.builders import add, load, mul, store
from fretsaw.passes.gpu.loops import delinearize, threads
from fretsaw.passes.match import constant_int


def static(op, value: ir.Value, what: str) -> int:
    number = constant_int(value)
    if number is None:
        raise op_error(op, f"gpu-map-loops needs static loop bounds, but the {what} is not a constant")
    return number


def map_parallel(op) -> None:
    """Flatten unmapped top-level scf.parallel `op` into mapped threads; its body moves inside."""
    lowers = [static(op, v, "lower bound") for v in op.lowerBound]
    uppers = [static(op, v, "upper bound") for v in op.upperBound]
    steps = [static(op, v, "step") for v in op.step]
    trips = [max(0, -(-(u - lo) // s)) for lo, u, s in zip(lowers, uppers, steps)]
    body = op.regions[0].blocks[0]
    with ir.InsertionPoint(op), op.location:
        if int(np.prod(trips)) == 0:
            op.erase()
            return
        with threads(int(np.prod(trips))) as (flat, _):
            coords = delinearize(flat, trips)
            for arg, coord, lo, step in zip(body.arguments, coords, lowers, steps):
                arg.replace_all_uses_with(add(mul(coord, step), lo) if (lo, step) != (0, 1) else coord)
            anchor = arith.ConstantOp(ir.IndexType.get(), 0)
            for inner in list(body.operations)[:-1]:  # all but its scf.reduce
                inner.move_before(anchor)
            anchor.erase()
    op.erase()


def map_copy(op) -> None:
    """memref.copy `op` as one thread per element."""
    source, target = op.operands
    shape = list(source.type.shape)
    with ir.InsertionPoint(op), op.location:
        if int(np.prod(shape)) > 0:
            with threads(int(np.prod(shape))) as (flat, _):
                at = delinearize(flat, shape) if shape else []
                store(load(source, at), target, at)
    op.erase()


def map_serial(op) -> None:
    """Top-level `op` (an scf.for) run by one thread."""
    with ir.InsertionPoint(op), op.location:
        with threads(1) as _:
            anchor = arith.ConstantOp(ir.IndexType.get(), 0)
    op.move_before(anchor)
    anchor.erase()


@dataclasses.dataclass(frozen=True)
class MapLoops(ModulePass):
    """Map the loops and copies left on the host (linalg's parallel loops) to GPU workgroups and threads."""

    name: ClassVar[str] = "gpu-map-loops"

    def run(self, module: ir.Operation) -> None:
        for func in module.regions[0].blocks[0].operations:
            if func.operation.name != "func.func":
                continue
            for op in list(func.regions[0].blocks[0].operations):
                name = op.operation.name
                if name == "scf.parallel" and "mapping" not in op.attributes:
                    map_parallel(op)
                elif name == "memref.copy":
                    map_copy(op)
                elif name == "scf.for":
                    map_serial(op)
        module.verify()
