"""pconv-gpu: pconv.conv2d and pconv.conv3d become GPU loops (workgroups x threads) that skip
removed kernels and zero taps.

Each workgroup computes one filter (a filter position of the reorder: filter_order), so every
loop bound in it is uniform across its threads; each thread computes `width` adjacent outputs of
one output row as a vector (lanes along the row). For each pattern a loop runs over the filter's
kept kernels of that pattern (the FKW runs: fkw_stride), the pattern's taps unrolled: removed
kernels and zero taps are never visited, and a dense conv is the one all-ones pattern. The input
is first copied into a zero-bordered buffer when the conv pads, so that no tap tests its
bounds; the bias starts the accumulators and the activation (passes/conv/epilogue.py) ends them.
The loops carry the gpu mapping (passes/gpu/loops.py) that upstream convert-parallel-loops-to-gpu
turns into kernels.

Before:
  %y = "pconv.conv2d"(%x, %w) {patterns = dense<...> : tensor<2x3x3xi1>, ...}
After:
  scf.parallel (%q, %wg) ... {mapping = [block_y, block_x]} {     // filter position, output chunk
    scf.parallel (%t) ... {mapping = [thread_x]} {
      %acc0 = vector.broadcast %bias                               // filter order[%q]
      %acc1 = scf.for %k = %run_begin to %run_end iter_args(%a = %acc0) -> (vector<4xf32>) {
        %w = memref.load %weights[...]; %i = vector.from_elements ...   // per tap of pattern 0
        vector.fma %wv, %i, %a ...
      }
      ... the other patterns' runs ...; memref.store of each lane
  } }
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, memref, scf, vector

from fretsaw.dialect import pconv
from fretsaw.passes.base import ModulePass, verify_pconv
from fretsaw.passes.builders import add, f32, guarded, index, load, load_index, mul, read_buffer, store, table
from fretsaw.passes.conv.epilogue import activate
from fretsaw.passes.conv.geometry import ceil_div
from fretsaw.passes.gpu.loops import delinearize, threads


def padded_input(conv: pconv.Conv) -> ir.Value:
    """The conv's input as a memref; copied by GPU threads into a zero-bordered buffer when it pads."""
    source = read_buffer(conv.input)
    if not any(conv.padding):
        return source
    n, c, *spatial = conv.input_shape
    low, high = conv.padding[:conv.rank], conv.padding[conv.rank:]
    shape = [n, c] + [size + lo + hi for size, lo, hi in zip(spatial, low, high)]
    padded = memref.AllocOp(ir.MemRefType.get(shape, ir.F32Type.get()), [], []).result
    with threads(int(np.prod(shape))) as (i, _):
        i_n, i_c, *at = delinearize(i, shape)
        inside = None
        reads = []
        for a, lo, size in zip(at, low, spatial):
            shifted = arith.SubIOp(a, index(lo)).result
            ok = arith.AndIOp(arith.CmpIOp(arith.CmpIPredicate.sge, shifted, index(0)).result,
                              arith.CmpIOp(arith.CmpIPredicate.slt, shifted, index(size)).result).result
            inside = ok if inside is None else arith.AndIOp(inside, ok).result
            # clamped, so the read stays inside the source whether or not it is used
            reads.append(arith.MinSIOp(arith.MaxSIOp(shifted, index(0)).result, index(size - 1)).result)
        value = arith.SelectOp(inside, load(source, [i_n, i_c, *reads]), f32(0.0)).result
        store(value, padded, [i_n, i_c, *at])
    return padded


def lower_conv(op, width: int) -> None:
    """Replace pconv op `op` by GPU loops of `width`-lane vectors along its output rows."""
    conv = pconv.Conv(op)
    patterns = conv.patterns
    num = len(patterns)
    n, cin, *_ = conv.input_shape
    _, cout, *out_spatial = conv.output_shape
    cin_g, cout_g = cin // conv.groups, cout // conv.groups
    fkw = conv.fkw()
    strides, dilations = conv.strides, conv.dilations
    columns = out_spatial[-1]
    chunks = ceil_div(columns, width)
    outer = [n, *out_spatial[:-1], chunks]  # what one workgroup's threads cover, for one filter
    used = np.bincount(fkw.pattern, minlength=num) > 0  # patterns no kept kernel has emit no loop
    with ir.InsertionPoint(op), op.location:
        vtype = ir.VectorType.get([width], ir.F32Type.get())
        x = padded_input(conv)
        w = read_buffer(conv.packed_weights)
        b = read_buffer(conv.bias) if conv.bias is not None else None
        order, begin, channel, offset = (table(t) for t in (fkw.order, fkw.stride, fkw.index, fkw.weight))
        out = memref.AllocOp(ir.MemRefType.get(conv.output_shape, ir.F32Type.get()), [], []).result
        with threads(int(np.prod(outer)), cout) as (i, q):
            i_n, *rows, chunk = delinearize(i, outer)
            first = mul(chunk, width)
            co = load_index(order, q)
            group_base = mul(arith.DivUIOp(co, index(cout_g)).result, cin_g)
            acc = vector.BroadcastOp(vtype, load(b, [co]) if b is not None else f32(0.0)).result
            # each lane's output column, clamped to the row's last so that the reads of the lanes
            # past the row's end stay inside the input (those lanes are not stored)
            lanes = [arith.MinUIOp(add(first, j), index(columns - 1)).result for j in range(width)]
            row_base = [mul(r, s) for r, s in zip(rows, strides[:-1])]
            column_base = [mul(c, strides[-1]) for c in lanes]
            for p in range(num):
                if not used[p]:
                    continue
                taps = list(zip(*np.nonzero(patterns[p])))
                run = add(mul(q, num), p)
                loop = scf.ForOp(load_index(begin, run), load_index(begin, add(run, 1)), index(1), [acc])
                with ir.InsertionPoint(loop.body):
                    k = loop.induction_variable
                    a = loop.inner_iter_args[0]
                    ci = add(group_base, load_index(channel, k))
                    base = load_index(offset, k)
                    for t, tap in enumerate(taps):
                        weight = vector.BroadcastOp(vtype, load(w, [add(base, t)])).result
                        at = [add(r, int(kk) * d) for r, kk, d in zip(row_base, tap[:-1], dilations[:-1])]
                        shift = int(tap[-1]) * dilations[-1]
                        inputs = [load(x, [i_n, ci, *at, add(c, shift)]) for c in column_base]
                        a = vector.FMAOp(weight, vector.FromElementsOp(vtype, inputs).result, a).result
                    scf.YieldOp([a])
                acc = loop.results[0]
            if conv.activation != "none":
                acc = activate(conv.activation, acc)
            for j in range(width):
                value = vector.ExtractOp(acc, [], [j]).result
                where = [i_n, co, *rows, add(first, j)]
                if columns % width == 0:
                    store(value, out, where)
                else:
                    with guarded(arith.CmpIOp(arith.CmpIPredicate.ult, add(first, j), index(columns)).result):
                        store(value, out, where)
        result = bufferization.ToTensorOp(op.results[0].type, out, restrict=True, writable=True).result
    op.results[0].replace_all_uses_with(result)
    op.erase()


@dataclasses.dataclass(frozen=True)
class Gpu(ModulePass):
    """Lower pconv convolutions (2-D and 3-D) to GPU-mapped loops over kept kernels and taps."""

    name: ClassVar[str] = "pconv-gpu"
    width: int = 4  # vector lanes per thread, along an output row

    def __post_init__(self):
        self.require_positive("width")
        if self.width not in (1, 2, 3, 4):
            raise self.option_error(f"option width={self.width}: SPIR-V vectors have 2-4 lanes (1: scalar)")

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in pconv.walk_convs(module):
            lower_conv(op, self.width)
        module.verify()
