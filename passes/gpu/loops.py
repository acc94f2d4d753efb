"""Loops mapped to the GPU: scf.parallel nests whose dimensions carry the gpu mapping that
upstream convert-parallel-loops-to-gpu turns into a gpu.launch (dimensions on block_* are
workgroups, on thread_* the threads of one), and flat indices taken apart into coordinates."""

from __future__ import annotations

from contextlib import contextmanager

from torch_mlir import ir
from torch_mlir.dialects import arith, scf

from fretsaw.passes.builders import guarded, index

WORKGROUP = 64  # threads per workgroup of the loops fretsaw maps (a multiple of every subgroup size)


def mapping(*processors: str) -> ir.ArrayAttr:
    """The `mapping` attribute of an scf.parallel whose dimensions run on `processors`
    (block_x .. block_z, thread_x .. thread_z, sequential)."""
    return ir.ArrayAttr.get([ir.Attribute.parse(f"#gpu.loop_dim_map<processor = {p}, map = (d0) -> (d0), "
                                                f"bound = (d0) -> (d0)>") for p in processors])


@contextmanager
def mapped_parallel(uppers, processors):
    """`with mapped_parallel([a, b], ["block_y", "block_x"]) as (i, j):` an scf.parallel from 0 to
    each bound, its dimensions mapped to `processors`."""
    op = scf.ParallelOp([], [index(0) for _ in uppers], [index(u) for u in uppers], [index(1) for _ in uppers], [])
    op.attributes["mapping"] = mapping(*processors)
    body = op.regions[0].blocks.append(*[ir.IndexType.get() for _ in uppers])
    with ir.InsertionPoint(body):
        yield list(body.arguments)
        scf.ReduceOp([], 0)


@contextmanager
def threads(count: int, workgroups_y: int = 1):
    """`with threads(n) as (i, y):` `n` threads in workgroups of WORKGROUP along x, the body run
    by those with i < n; `workgroups_y` workgroups along y (y = 0 .. workgroups_y - 1), each
    running all `n`. Threads of one workgroup share their y: loops bounded by values of y are
    uniform across the workgroup. One scf.parallel carries both levels (canonicalize would merge
    a nest of two into one and drop their mapping)."""
    groups = -(-count // WORKGROUP)
    # dimensions of one iteration are left out: canonicalize would drop them, and the mapping with them
    dims = [(size, processor) for size, processor in ((workgroups_y, "block_y"), (groups, "block_x"))
            if size > 1] + [(WORKGROUP, "thread_x")]
    with mapped_parallel(*zip(*dims)) as ivs:
        named = dict(zip((p for _, p in dims), ivs))
        y = named.get("block_y", index(0))
        group = named.get("block_x")
        lane = named["thread_x"]
        i = lane if group is None else arith.AddIOp(arith.MulIOp(group, index(WORKGROUP)).result, lane).result
        if count % WORKGROUP == 0:
            yield i, y
        else:
            with guarded(arith.CmpIOp(arith.CmpIPredicate.ult, i, index(count)).result):
                yield i, y


def delinearize(flat: ir.Value, sizes) -> list[ir.Value]:
    """The coordinates of row-major index `flat` in an array of `sizes` (static)."""
    coords = []
    rest = flat
    for size in reversed(list(sizes)[1:]):
        coords.append(arith.RemUIOp(rest, index(size)).result)
        rest = arith.DivUIOp(rest, index(size)).result
    coords.append(rest)
    return coords[::-1]
