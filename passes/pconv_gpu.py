"""pconv-gpu: pconv.conv2d and pconv.conv3d become GPU loops (workgroups x threads) that skip
removed kernels and zero taps.

Each workgroup computes one filter (a filter position of the reorder: filter_order), so every
loop bound in it is uniform across its threads; each thread computes a register tile of `rows`
output rows x `width` adjacent outputs of a row (a vector per row). For each pattern a loop runs
over the filter's kept kernels of that pattern (the FKW runs: fkw_stride), the pattern's taps
unrolled: removed kernels and zero taps are never visited. Inside a kernel, each input value of
the tile's window is loaded once for every (tap, row, lane) that reads it, one input row at a
time: on a GPU whose loads cost more than its FMAs (lavapipe: a load per invocation ~12 ns, an
FMA loop step under 1 ns) the loads per multiply-add decide the speed. A dense conv (groups 1,
one pattern, every kernel kept) computes blocks of `filters` filters per workgroup instead, one
loop over the input channels sharing each window among the block's filters. The input is first
copied into a zero-bordered buffer (in fp16 with f16=true) when the conv pads or its tiles read
past it, so that no read tests a bound; the bias starts the sums and the activation
(passes/conv/epilogue.py) ends them; lanes and rows past the output are not stored. The loops
carry the gpu mapping (passes/gpu/loops.py) that upstream convert-parallel-loops-to-gpu turns
into kernels.

Before:
  %y = "pconv.conv2d"(%x, %w) {patterns = dense<...> : tensor<2x3x3xi1>, ...}
After:
  scf.parallel (%q, %wg, %t) ... {mapping = [block_y, block_x, thread_x]} {   // filter position, tiles
    %acc0 = vector.broadcast %bias                                 // filter order[%q]
    %acc1:4 = scf.for %k = %run_begin to %run_end iter_args(...) -> (vector<4xf32>, ...) {  // pattern 0
      memref.load %weights[...] ...; memref.load %input[...] ...  // each window value once
      vector.fma %w, (vector.from_elements ...), %a ...          // per tap and tile row
    }
    ... the other patterns' runs ...; memref.store of each lane inside the output
  }
"""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
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
    """Output rows of a thread's register tile: the most, up to `rows` and the output's height, that
    compute at most a third more rows than the output has."""
    height = conv.output_shape[-2]
    fits = [r for r in range(1, min(rows, height) + 1) if ceil_div(height, r) * r <= height + max(1, height // 3)]
    return max(fits)


class TileEmitter:
    """GPU loops of one pconv conv: threads computing register tiles of `rows` output rows x `width`
    adjacent outputs of a row (a vector), the staged input and constant weights held as `storage`,
    the sums computed in `compute` (f32 or f16), the output f32. A workgroup computes one filter
    (emit_filters: a loop per FKW pattern run, taps unrolled), or for a dense conv a block of
    `filters` filters (emit_blocks). Blocks of pattern-pruned filters were measured slower on
    lavapipe: their kernels on a channel differ in pattern, and a branch per filter and pattern
    cost more than the window loads they share."""

    def __init__(self, op, width: int, rows: int, filters: int, accumulators: int, storage: ir.Type,
                 compute: ir.Type):
        self.op, self.conv = op, pconv.Conv(op)
        conv = self.conv
        self.width, self.storage, self.compute = width, storage, compute
        self.patterns = conv.patterns
        self.num = len(self.patterns)
        n, cin, *_ = conv.input_shape
        _, self.cout, *out_spatial = conv.output_shape
        self.cin_g, self.cout_g = cin // conv.groups, self.cout // conv.groups
        self.fkw = conv.fkw()
        self.used = np.bincount(self.fkw.pattern, minlength=self.num) > 0  # patterns no kernel has emit nothing
        dense = conv.groups == 1 and bool((conv.kernel_pattern >= 0).all()) and int(self.used.sum()) == 1
        self.filters = min(filters, self.cout) if dense else 1  # a block of filters: dense convs only
        # the tile's rows: as many as asked that keep the block's sums within `accumulators` vectors
        self.rows = tile_rows(conv, max(1, min(rows, accumulators // self.filters)))
        self.height, self.columns = out_spatial[-2], out_spatial[-1]
        row_blocks, chunks = ceil_div(self.height, self.rows), ceil_div(self.columns, width)
        self.outer = [n, *out_spatial[:-2], row_blocks, chunks]  # one workgroup's threads cover, per filter
        # the input extent every tile reads without a bound check (the last tiles overhang the output)
        covered = [*out_spatial[:-2], row_blocks * self.rows, chunks * width]
        self.extent = [(o - 1) * s + (k - 1) * d + 1
                       for o, s, k, d in zip(covered, conv.strides, conv.kernel_shape, conv.dilations)]

    def taps(self, p: int) -> list[tuple[int, ...]]:
        return [tuple(int(t) for t in tap) for tap in zip(*np.nonzero(self.patterns[p]))]

    def lower(self) -> None:
        conv = self.conv
        with ir.InsertionPoint(self.op), self.op.location:
            self.vtype = ir.VectorType.get([self.width], self.compute)
            self.x = staged_input(conv, self.extent, self.storage)
            values = conv.packed_values()
            narrow = values is not None and not isinstance(self.storage, ir.F32Type)
            self.w = read_buffer(weight_constant(values, self.storage) if narrow else conv.packed_weights)
            self.b = read_buffer(conv.bias) if conv.bias is not None else None
            self.order = table(self.fkw.order)
            self.out = memref.AllocOp(ir.MemRefType.get(conv.output_shape, ir.F32Type.get()), [], []).result
            if self.filters > 1:
                self.emit_blocks(self.filters)
            else:
                self.emit_filters()
            result = bufferization.ToTensorOp(self.op.results[0].type, self.out, restrict=True, writable=True).result
        self.op.results[0].replace_all_uses_with(result)
        self.op.erase()

    def tile(self, i) -> None:
        """The thread's tile: its coordinates and the bases its reads are offsets from."""
        strides = self.conv.strides
        self.i_n, *self.depth, row_block, chunk = delinearize(i, self.outer)
        self.first_row, self.first = mul(row_block, self.rows), mul(chunk, self.width)
        self.depth_base = [mul(o, s) for o, s in zip(self.depth, strides[:-2])]
        self.row_base, self.column_base = mul(self.first_row, strides[-2]), mul(self.first, strides[-1])

    def start(self, co) -> ir.Value:
        bias = load(self.b, [co]) if self.b is not None else f32(0.0)
        return vector.BroadcastOp(self.vtype, convert(bias, self.compute)).result

    def weights(self, base, count: int) -> list[ir.Value]:
        return [vector.BroadcastOp(self.vtype, convert(load(self.w, [add(base, t)]), self.compute)).result
                for t in range(count)]

    def window(self, ci, taps: list[tuple[int, ...]]) -> dict:
        """Every input value the tile's (tap, row, lane)s of `taps` read from channel `ci`, loaded
        once each, by input line: {(depth offsets, row offset): {column offset: value}}."""
        strides, dilations = self.conv.strides, self.conv.dilations
        lines: dict = {}
        for tap in taps:
            depth_at = tuple(kk * d for kk, d in zip(tap[:-2], dilations[:-2]))
            for r in range(self.rows):
                columns = lines.setdefault((depth_at, r * strides[-2] + tap[-2] * dilations[-2]), set())
                columns.update(j * strides[-1] + tap[-1] * dilations[-1] for j in range(self.width))
        values = {}
        for (depth_at, row_at), columns in sorted(lines.items()):
            at = [add(b, o) for b, o in zip(self.depth_base, depth_at)] + [add(self.row_base, row_at)]
            values[(depth_at, row_at)] = {
                c: convert(load(self.x, [self.i_n, ci, *at, add(self.column_base, c)]), self.compute)
                for c in sorted(columns)}
        return values

    def multiply_add(self, values: dict, taps, weights, accs: list) -> list:
        """`accs` (one per tile row) plus every tap's weight times the tile's input vector it reads."""
        strides, dilations = self.conv.strides, self.conv.dilations
        accs = list(accs)
        for t, tap in enumerate(taps):
            depth_at = tuple(kk * d for kk, d in zip(tap[:-2], dilations[:-2]))
            for r in range(self.rows):
                line = values[(depth_at, r * strides[-2] + tap[-2] * dilations[-2])]
                shift = tap[-1] * dilations[-1]
                lanes = [line[j * strides[-1] + shift] for j in range(self.width)]
                accs[r] = vector.FMAOp(weights[t], vector.FromElementsOp(self.vtype, lanes).result, accs[r]).result
        return accs

    def emit_filters(self) -> None:
        """A workgroup per filter position: per pattern one loop over its FKW run, taps unrolled."""
        fkw, num = self.fkw, self.num
        begin, channel, offset = (table(t) for t in (fkw.stride, fkw.index, fkw.weight))
        with threads(int(np.prod(self.outer)), self.cout) as (i, q):
            self.tile(i)
            co = load_index(self.order, q)
            group_base = mul(arith.DivUIOp(co, index(self.cout_g)).result, self.cin_g)
            accs = [self.start(co)] * self.rows
            for p in range(num):
                if not self.used[p]:
                    continue
                taps = self.taps(p)
                run = add(mul(q, num), p)
                loop = scf.ForOp(load_index(begin, run), load_index(begin, add(run, 1)), index(1), accs)
                with ir.InsertionPoint(loop.body):
                    k = loop.induction_variable
                    weights = self.weights(load_index(offset, k), len(taps))
                    values = self.window(add(group_base, load_index(channel, k)), taps)
                    scf.YieldOp(self.multiply_add(values, taps, weights, loop.inner_iter_args))
                accs = list(loop.results)
            self.store(accs, co)

    def emit_blocks(self, filters: int) -> None:
        """A dense conv (groups = 1, one pattern, no kernel removed): a workgroup per block of
        `filters` filter positions, a loop over the input channels, each channel's window loaded
        once for every filter of the block."""
        positions = len(self.fkw.order)
        blocks = ceil_div(positions, filters)
        cin = self.cin_g
        # the first packed weight of each (block, channel, filter)'s kernel; a last block's
        # positions past Cout repeat the last filter (computed, not stored)
        kernel_of = np.zeros((positions, cin), dtype=np.int64)
        position = np.repeat(np.arange(positions), np.diff(self.fkw.stride[::self.num]))
        kernel_of[position, self.fkw.index] = self.fkw.weight
        padded = np.minimum(np.arange(blocks * filters), positions - 1)
        offset = table(kernel_of[padded].reshape(blocks, filters, cin).transpose(0, 2, 1).ravel())
        taps = self.taps(int(np.argmax(self.used)))
        with threads(int(np.prod(self.outer)), blocks) as (i, block):
            self.tile(i)
            first_position = mul(block, filters)
            cos = [load_index(self.order, arith.MinUIOp(add(first_position, f), index(positions - 1)).result)
                   for f in range(filters)]
            accs = [acc for co in cos for acc in [self.start(co)] * self.rows]
            loop = scf.ForOp(index(0), index(cin), index(1), accs)
            with ir.InsertionPoint(loop.body):
                c = loop.induction_variable
                values = self.window(c, taps)
                sums = list(loop.inner_iter_args)
                slots = mul(add(mul(block, cin), c), filters)
                for f in range(filters):
                    weights = self.weights(load_index(offset, add(slots, f)), len(taps))
                    rows = slice(f * self.rows, (f + 1) * self.rows)
                    sums[rows] = self.multiply_add(values, taps, weights, sums[rows])
                scf.YieldOp(sums)
            for f, co in enumerate(cos):
                stored = arith.CmpIOp(arith.CmpIPredicate.ult, add(first_position, f), index(positions)).result
                with guarded(stored) if positions % filters else nullcontext():
                    self.store(list(loop.results)[f * self.rows:(f + 1) * self.rows], co)

    def store(self, accs: list, co) -> None:
        """The tile's sums, activated, into the output of filter `co` (lanes and rows inside it)."""
        for r, acc in enumerate(accs):
            if self.conv.activation != "none":
                acc = activate(self.conv.activation, acc)
            row = add(self.first_row, r)
            for j in range(self.width):
                value = convert(vector.ExtractOp(acc, [], [j]).result, ir.F32Type.get())
                where = [self.i_n, co, *self.depth, row, add(self.first, j)]
                bounds = [(row, self.height)] if self.height % self.rows else []
                bounds += [(add(self.first, j), self.columns)] if self.columns % self.width else []
                if not bounds:
                    store(value, self.out, where)
                    continue
                inside = None
                for value_at, limit in bounds:
                    ok = arith.CmpIOp(arith.CmpIPredicate.ult, value_at, index(limit)).result
                    inside = ok if inside is None else arith.AndIOp(inside, ok).result
                with guarded(inside):
                    store(value, self.out, where)


@dataclasses.dataclass(frozen=True)
class Gpu(ModulePass):
    """Lower pconv convolutions (2-D and 3-D) to GPU-mapped loops over kept kernels and taps."""

    name: ClassVar[str] = "pconv-gpu"
    width: int = 4  # vector lanes per thread, along an output row
    rows: int = 8   # output rows per thread (fewer for short outputs, or to fit `accumulators`)
    filters: int = 4  # filters per workgroup of a dense ungrouped conv (1: a workgroup per filter)
    accumulators: int = 16  # vectors of sums per thread (rows x filters of its tile)
    f16: bool = False        # staged input and constant weights in fp16, sums in fp16
    f32_sums: bool = False   # with f16: the sums in fp32 (fp16 storage only)

    def __post_init__(self):
        self.require_positive("width", "rows", "filters", "accumulators")
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
            TileEmitter(op, self.width, self.rows, self.filters, self.accumulators, storage, compute).lower()
        module.verify()
