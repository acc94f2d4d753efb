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
from fretsaw.passes.builders import (add, convert, f32, guarded, index, load, load_index, mul, read_buffer, store,
                                     table, weight_constant)
from fretsaw.passes.conv.epilogue import activate
from fretsaw.passes.conv.geometry import ceil_div
from fretsaw.passes.gpu.loops import delinearize, threads


def staged_input(conv: pconv.Conv, extent: list[int], element: ir.Type) -> ir.Value:
    """The conv's input as a memref of `element`s of at least `extent` spatial sizes: read in place
    when it is f32, unpadded and that large, else copied by GPU threads into a zero-bordered buffer
    that large (its padding low, zeros past the input), so that no read of a register tile tests a
    bound."""
    source = read_buffer(conv.input)
    n, c, *spatial = conv.input_shape
    low = conv.padding[:conv.rank]
    if not any(conv.padding) and all(e <= size for e, size in zip(extent, spatial)) and \
            isinstance(element, ir.F32Type):
        return source
    shape = [n, c] + [max(e, size + lo + hi) for e, size, lo, hi in
                      zip(extent, spatial, low, conv.padding[conv.rank:])]
    padded = memref.AllocOp(ir.MemRefType.get(shape, element), [], []).result
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
        store(convert(value, element), padded, [i_n, i_c, *at])
    return padded


def tile_rows(conv: pconv.Conv, rows: int) -> int:
    """Output rows of a thread's register tile: `rows`, or fewer for a short output (at most a
    third of the rows computed past its last)."""
    height = conv.output_shape[-2] if conv.rank >= 2 else 1
    best = 1
    for r in range(1, rows + 1):
        if ceil_div(height, r) * r <= height + max(1, height // 3):
            best = r
    return best


def lower_conv(op, width: int, rows: int, storage: ir.Type, compute: ir.Type) -> None:
    """Replace pconv op `op` by GPU loops whose threads compute register tiles of `rows` output
    rows x `width` adjacent outputs of a row (a vector); the staged input and constant weights
    held as `storage`, the sums computed in `compute` (f32 or f16), the output f32."""
    conv = pconv.Conv(op)
    patterns = conv.patterns
    num = len(patterns)
    n, cin, *_ = conv.input_shape
    _, cout, *out_spatial = conv.output_shape
    cin_g, cout_g = cin // conv.groups, cout // conv.groups
    fkw = conv.fkw()
    strides, dilations = conv.strides, conv.dilations
    kernel = conv.kernel_shape
    rows = tile_rows(conv, rows)
    height, columns = out_spatial[-2], out_spatial[-1]
    row_blocks, chunks = ceil_div(height, rows), ceil_div(columns, width)
    outer = [n, *out_spatial[:-2], row_blocks, chunks]  # what one workgroup's threads cover, for one filter
    # the input extent every tile reads without a bound check (the last tiles overhang the output)
    covered = [*out_spatial[:-2], row_blocks * rows, chunks * width]
    extent = [(o - 1) * s + (k - 1) * d + 1 for o, s, k, d in zip(covered, strides, kernel, dilations)]
    used = np.bincount(fkw.pattern, minlength=num) > 0  # patterns no kept kernel has emit no loop
    with ir.InsertionPoint(op), op.location:
        vtype = ir.VectorType.get([width], compute)
        x = staged_input(conv, extent, storage)
        values = conv.packed_values()
        narrow = values is not None and not isinstance(storage, ir.F32Type)
        w = read_buffer(weight_constant(values, storage) if narrow else conv.packed_weights)
        b = read_buffer(conv.bias) if conv.bias is not None else None
        order, begin, channel, offset = (table(t) for t in (fkw.order, fkw.stride, fkw.index, fkw.weight))
        out = memref.AllocOp(ir.MemRefType.get(conv.output_shape, ir.F32Type.get()), [], []).result
        with threads(int(np.prod(outer)), cout) as (i, q):
            i_n, *depth, row_block, chunk = delinearize(i, outer)
            first_row, first = mul(row_block, rows), mul(chunk, width)
            co = load_index(order, q)
            group_base = mul(arith.DivUIOp(co, index(cout_g)).result, cin_g)
            start = vector.BroadcastOp(vtype, convert(load(b, [co]) if b is not None else f32(0.0), compute)).result
            accs = [start] * rows
            depth_base = [mul(o, s) for o, s in zip(depth, strides[:-2])]
            row_base, column_base = mul(first_row, strides[-2]), mul(first, strides[-1])
            for p in range(num):
                if not used[p]:
                    continue
                taps = [tuple(int(t) for t in tap) for tap in zip(*np.nonzero(patterns[p]))]
                run = add(mul(q, num), p)
                loop = scf.ForOp(load_index(begin, run), load_index(begin, add(run, 1)), index(1), accs)
                with ir.InsertionPoint(loop.body):
                    k = loop.induction_variable
                    ci = add(group_base, load_index(channel, k))
                    base = load_index(offset, k)
                    weights = [vector.BroadcastOp(vtype, convert(load(w, [add(base, t)]), compute)).result
                               for t in range(len(taps))]
                    accs_in = list(loop.inner_iter_args)
                    # the tile's reads by input row: each input value loaded once for every
                    # (tap, output row, lane) that reads it, one input row's values live at a time
                    reads = {}
                    for t, tap in enumerate(taps):
                        depth_at = tuple(kk * d for kk, d in zip(tap[:-2], dilations[:-2]))
                        for r in range(rows):
                            line = (depth_at, r * strides[-2] + tap[-2] * dilations[-2])
                            reads.setdefault(line, []).append((t, r, tap[-1] * dilations[-1]))
                    for (depth_at, row_at), users in sorted(reads.items()):
                        at = [add(b_, o) for b_, o in zip(depth_base, depth_at)] + [add(row_base, row_at)]
                        loaded = {}
                        for t, r, shift in users:
                            lanes = []
                            for j in range(width):
                                column = j * strides[-1] + shift
                                if column not in loaded:
                                    loaded[column] = convert(load(x, [i_n, ci, *at, add(column_base, column)]),
                                                             compute)
                                lanes.append(loaded[column])
                            inputs = vector.FromElementsOp(vtype, lanes).result
                            accs_in[r] = vector.FMAOp(weights[t], inputs, accs_in[r]).result
                    scf.YieldOp(accs_in)
                accs = list(loop.results)
            for r, acc in enumerate(accs):
                if conv.activation != "none":
                    acc = activate(conv.activation, acc)
                row = add(first_row, r)
                for j in range(width):
                    value = convert(vector.ExtractOp(acc, [], [j]).result, ir.F32Type.get())
                    where = [i_n, co, *depth, row, add(first, j)]
                    bounds = [(row, height)] if height % rows else []
                    bounds += [(add(first, j), columns)] if columns % width else []
                    if not bounds:
                        store(value, out, where)
                        continue
                    inside = None
                    for value_at, limit in bounds:
                        ok = arith.CmpIOp(arith.CmpIPredicate.ult, value_at, index(limit)).result
                        inside = ok if inside is None else arith.AndIOp(inside, ok).result
                    with guarded(inside):
                        store(value, out, where)
        result = bufferization.ToTensorOp(op.results[0].type, out, restrict=True, writable=True).result
    op.results[0].replace_all_uses_with(result)
    op.erase()


@dataclasses.dataclass(frozen=True)
class Gpu(ModulePass):
    """Lower pconv convolutions (2-D and 3-D) to GPU-mapped loops over kept kernels and taps."""

    name: ClassVar[str] = "pconv-gpu"
    width: int = 4  # vector lanes per thread, along an output row
    rows: int = 4   # output rows per thread (fewer for short outputs)
    f16: bool = False        # staged input and constant weights in fp16, sums in fp16
    f32_sums: bool = False   # with f16: the sums in fp32 (fp16 storage only)

    def __post_init__(self):
        self.require_positive("width", "rows")
        if self.f32_sums and not self.f16:
            raise self.option_error("option f32-sums=true is for f16=true (fp16 storage, fp32 sums)")
        if self.width not in (1, 2, 3, 4):
            raise self.option_error(f"option width={self.width}: SPIR-V vectors have 2-4 lanes (1: scalar)")

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        with module.context:
            storage = ir.F16Type.get() if self.f16 else ir.F32Type.get()
            compute = ir.F32Type.get() if self.f32_sums or not self.f16 else storage
        for op in pconv.walk_convs(module):
            lower_conv(op, self.width, self.rows, storage, compute)
        module.verify()
