"""dense-vectorize's pooling: max and sum pooling of any rank (N, C, then 1-3 spatial dims) and
reductions over a tensor's trailing dims (global pooling) as threaded SIMD loops.

A pool is recovered (Pool) from each form torch-mlir imports one in:
- linalg.pooling_nchw_max / pooling_nchw_sum (2-D pooling; 1-D pooling is 2-D with one row);
- a linalg.generic with a pool's maps, input (n, c, o * stride + k * dilation, ...), window
  (k, ...), output (n, c, o, ...), and a body of maximumf / addf (3-D max pooling);
- a channels-last named pool between transposes from and back to channels first (3-D average
  pooling's sum, linalg.pooling_ndhwc_sum): the transposes are read through, not made.
Every form lowers the same way (vectorize_pool): a 3-D pool is a 2-D pool per output depth plane
with the depth window folded into its taps.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, memref, scf, vector

from fretsaw.dialect import pconv
from fretsaw.passes.builders import (add, index, lane_mask, loop, loops, mul, parallel, read_buffer, reassociation,
                                     splat, store, vector_type, vload)
from fretsaw.passes.cpu.blocks import lane_width
from fretsaw.passes.match import (fill_value, linear_terms, producer, scalar_constant, single_user, static_tensors,
                                  window_steps)

COMBINE = {"max": arith.MaximumFOp, "sum": arith.AddFOp}
BODY = {"arith.maximumf": "max", "arith.addf": "sum"}  # a generic's combining op -> its kind
# Windows and strides vectorize_pool unrolls; larger ones stay on upstream's loops (a 60x80 window at
# stride 10 became 9,600 masked loads of 80 lanes: minutes to compile and to run)
MAX_POOL_TAPS, MAX_POOL_STRIDE = 64, 4
PARALLEL, REDUCTION = "#linalg.iterator_type<parallel>", "#linalg.iterator_type<reduction>"


@dataclasses.dataclass(frozen=True)
class Pool:
    """What a pooling op computes, whatever form it was imported in: `kind` (max or sum) over
    the window taps of `source` (N, C, spatial dims), which is read as if padded in front of
    each spatial dim by `low` elements of `pad_value`, starting from the scalar `start`. Its
    result replaces `result` (N, C, output spatial dims); `ops` computed it from the pool's input
    and are erased, in order, once nothing reads them."""

    result: ir.Value
    source: ir.Value
    low: tuple[int, ...]
    pad_value: float
    window: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    kind: str
    start: ir.Value
    ops: tuple


def pool_input(value: ir.Value) -> tuple[ir.Value, tuple[int, ...], float] | None:
    """(unpadded input, pad in front of each spatial dim, pad value) of a pooling input: a
    tensor.pad of a constant on the spatial dims is read through, anything else is read as it is.
    (A pad behind is not needed: reads past a dim's end are masked off like those before it.)"""
    pad = producer(value, "tensor.pad")
    if pad is None:
        return value, (0,) * (value.type.rank - 2), 0.0
    low, high = list(pad.attributes["static_low"]), list(pad.attributes["static_high"])
    yielded = scalar_constant(pad.regions[0].blocks[0].operations[0].operands[0])
    if len(pad.operands) != 1 or low[:2] != [0, 0] or high[:2] != [0, 0] or yielded is None:
        return None
    return pad.operands[0], tuple(low[2:]), yielded


def make_pool(pool_op, value: ir.Value, result: ir.Value, window, strides, dilations, kind: str,
              ops: tuple) -> Pool | None:
    """The Pool of `pool_op` reading `value` (through a pad), or None when its input or init is
    not one vectorize_pool reads (a pad of a computed value, an init that is not a fill)."""
    read = pool_input(value)
    start = fill_value(pool_op.operands[2])
    if read is None or start is None:
        return None
    source, low, pad_value = read
    return Pool(result, source, low, pad_value, tuple(window), tuple(strides), tuple(dilations), kind, start, ops)


def permutation(op) -> list[int]:
    return list(op.attributes["permutation"])


def named_pool(op) -> Pool | None:
    """A named linalg pool, channels first (pooling_nchw_max) or channels last between a
    transpose from channels first and one back (how torch-mlir imports pooling_ndhwc_sum)."""
    layout, _, kind = op.operation.name.removeprefix("linalg.pooling_").partition("_")
    if kind not in COMBINE or not static_tensors(op.operands, f32=True):
        return None
    strides, dilations = ([int(v) for v in pconv.elements_to_numpy(op.attributes[name])]
                          for name in ("strides", "dilations"))
    window, rank = op.operands[1].type.shape, len(layout)
    if layout[1] == "c":
        return make_pool(op, op.operands[0], op.results[0], window, strides, dilations, kind, (op,))
    into = producer(op.operands[0], "linalg.transpose")
    back = single_user(op.results[0])
    if into is None or permutation(into) != [0, *range(2, rank), 1]:
        return None
    if back is None or back.operation.name != "linalg.transpose":
        return None
    if permutation(back) != [0, rank - 1, *range(1, rank - 1)]:
        return None
    return make_pool(op, into.operands[0], back.results[0], window, strides, dilations, kind, (back, op, into))


def generic_pool(op) -> Pool | None:
    """A linalg.generic that is a pool (how torch-mlir imports 3-D max pooling): iterators N, C,
    the output's spatial dims (parallel), then the window's (reduction); maps input (d0, d1,
    o_i * stride_i + k_i * dilation_i), window (k_i), output (d0, d1, o_i); a body of one
    maximumf / addf of the input and the output."""
    if len(op.inputs) != 2 or len(op.results) != 1 or not static_tensors(op.operands, f32=True):
        return None
    rank = op.results[0].type.rank
    spatial = rank - 2
    if [str(t) for t in op.attributes["iterator_types"]] != [PARALLEL] * rank + [REDUCTION] * spatial:
        return None
    source_map, window_map, out_map = (ir.AffineMapAttr(m).value.results for m in op.attributes["indexing_maps"])
    dims = [ir.AffineDimExpr.get(i) for i in range(rank + spatial)]
    if list(out_map) != dims[:rank] or list(window_map) != dims[rank:] or list(source_map)[:2] != dims[:2]:
        return None
    steps = window_steps([linear_terms(e) for e in list(source_map)[2:]], range(2, rank), range(rank, rank + spatial))
    if steps is None:
        return None
    block = op.regions[0].blocks[0]
    body = [o.operation for o in block.operations]
    if len(body) != 2 or body[0].name not in BODY or body[1].operands[0] != body[0].results[0]:
        return None
    if {body[0].operands[0], body[0].operands[1]} != {block.arguments[0], block.arguments[2]}:
        return None
    return make_pool(op, op.operands[0], op.results[0], op.operands[1].type.shape, *steps, BODY[body[0].name], (op,))


def vectorize_pool(pool: Pool, width: int) -> None:
    """`pool` as SIMD loops that read the unpadded input: threads over channels, then per output
    row (3-D pooling: per output depth plane and row) and vector of output columns, one load per
    window tap. The leading dims' taps (the rows', and 3-D pooling's depth) are computed once per
    output row: an input index before or past its dim's end reads the pad value (a masked-off
    load of a clamped index; a tap never outside for any output needs no check). Rows are walked
    in memory order, vectors inside them (a pool reads each input once: memory-bound, it wants
    sequential reads). A row's vectors come in three kinds. The first, whose window columns
    start left of the image, is emitted on its own and loads from column 0, its lanes moved right
    by the (static) overhang with the pad value shifted in. Those whose every load lies inside the
    row and whose outputs fill the vector (most of a wide row) take plain loads and stores. The
    rest take masked loads and stores, a load starting right of the image reading from the row's
    last column with no lane inside."""
    combine = COMBINE[pool.kind]
    n, c, *sizes, w = pool.source.type.shape
    _, _, *out_sizes, ow = pool.result.type.shape
    *windows, kw_size = pool.window
    *strides, sw = pool.strides
    *dilations, dw = pool.dilations
    *lows, left = pool.low
    if math.prod(pool.window) > MAX_POOL_TAPS or sw > MAX_POOL_STRIDE:
        return  # every tap is unrolled and each load spans lanes x stride columns: left to upstream's loops
    lanes = lane_width(ow, width)
    span = lanes * sw  # input columns one output vector's window column covers
    if left > span:
        return  # a pad wider than a vector's span: the second vector would start left of the image too
    peeled = 1 if left else 0
    vectors = -(-ow // lanes)
    # vectors from `peeled` on whose loads end inside the row and whose outputs fill the vector
    inner_end = max(peeled, min((w - span - (kw_size - 1) * dw + left) // span + 1, ow // lanes))
    op = pool.ops[0]
    with ir.InsertionPoint(op), op.location:
        i1 = ir.IntegerType.get_signless(1)
        mask_type = ir.VectorType.get([span], i1)
        source = read_buffer(pool.source)
        out = memref.AllocOp(ir.MemRefType.get([n, c, *out_sizes, ow], ir.F32Type.get()), [], []).result
        pad_vector = splat(vector_type(span), pool.pad_value)
        picks = [lane * sw for lane in range(lanes)]

        def prefix_mask(count, inside):
            """The first `count` lanes (an int or an index), none where `inside` (an i1; None: always)
            is false: one create_mask of a selected count, not a mask AND a broadcast i1 (LLVM 22's
            x86 backend turns the half of such a 16-lane masked load whose constant lanes are all
            false into an unmasked load, which read the next rows into 3-D pools' sums and maxima)."""
            if inside is None and isinstance(count, int):
                return vector.ConstantMaskOp(mask_type, [count]).result
            if inside is not None:
                count = arith.SelectOp(inside, index(count), index(0)).result
            return vector.CreateMaskOp(mask_type, [index(count)]).result

        def input_index(dim: int, position, k: int):
            """(input index, whether it is inside its dim: None when it is for every output) of
            output `position`'s tap `k` along leading dim `dim`, clamped into the dim."""
            offset = k * dilations[dim] - lows[dim]
            r = add(mul(position, strides[dim]), offset) if offset >= 0 else arith.SubIOp(
                mul(position, strides[dim]), index(-offset)).result
            if offset >= 0 and (out_sizes[dim] - 1) * strides[dim] + offset < sizes[dim]:
                return r, None
            inside = arith.AndIOp(
                arith.CmpIOp(arith.CmpIPredicate.sge, r, index(0)).result,
                arith.CmpIOp(arith.CmpIPredicate.slt, r, index(sizes[dim])).result).result
            return arith.MinSIOp(arith.MaxSIOp(r, index(0)).result, index(sizes[dim] - 1)).result, inside

        def window_taps(positions) -> list:
            """Per tap of the leading dims' window at output `positions`: (its input indices, whether
            they are all inside: an i1, or None when they always are)."""
            indices = {}  # (dim, tap) -> input_index
            taps = []
            for ks in itertools.product(*(range(k) for k in windows)):
                at, inside = [], None
                for dim, k in enumerate(ks):
                    if (dim, k) not in indices:
                        indices[dim, k] = input_index(dim, positions[dim], k)
                    clamped, within = indices[dim, k]
                    at.append(clamped)
                    if within is not None:
                        inside = within if inside is None else arith.AndIOp(inside, within).result
                taps.append((at, inside))
            return taps

        def output_vector(image, channel, positions, taps, j, kind: str):
            """Output columns j*lanes.. of the output row at `positions`; `kind` "first", "inner" or
            "edge" (see above)."""
            ow0 = mul(j, lanes)
            reads = []  # per window column: (start column, lanes inside the row or None: all, static right shift)
            for kw in range(kw_size):
                if kind == "first" and kw * dw < left:
                    shift = left - kw * dw
                    reads.append((index(0), min(span - shift, w), shift))
                    continue
                first = arith.SubIOp(add(mul(ow0, sw), kw * dw), index(left)).result
                if kind == "inner":
                    reads.append((first, None, 0))
                else:
                    reads.append((arith.MinSIOp(first, index(w - 1)).result, arith.SubIOp(index(w), first).result, 0))
            column_masks = [None if count is None else prefix_mask(count, None) for _, count, _ in reads]
            acc = vector.BroadcastOp(vector_type(lanes), pool.start).result
            for at, inside in taps:
                for (column, count, shift), columns in zip(reads, column_masks):
                    at_column = [image, channel, *at, column]
                    if count is None and inside is None:
                        x = vector.LoadOp(vector_type(span), source, at_column).result
                    else:
                        mask = columns if inside is None else prefix_mask(span if count is None else count, inside)
                        x = vector.MaskedLoadOp(vector_type(span), source, at_column, mask, pad_vector).result
                    if shift:  # lane i holds column i - shift: the pad value for i < shift
                        x = vector.ShuffleOp(x, pad_vector, [span + i if i < shift else i - shift
                                                             for i in range(span)]).result
                    if sw > 1:
                        x = vector.ShuffleOp(x, x, picks).result
                    acc = combine(acc, x).result
            if kind == "inner":
                vector.StoreOp(acc, out, [image, channel, *positions, ow0])
                return
            written = vector.CreateMaskOp(ir.VectorType.get([lanes], i1), [arith.SubIOp(index(ow), ow0).result])
            vector.MaskedStoreOp(out, [image, channel, *positions, ow0], written.result, acc)

        with loop(0, n) as image, parallel(0, c) as channel, loops(out_sizes) as positions:
            taps = window_taps(positions)
            if peeled:
                output_vector(image, channel, positions, taps, index(0), "first")
            if inner_end > peeled:
                with loop(peeled, inner_end) as j:
                    output_vector(image, channel, positions, taps, j, "inner")
            if vectors > inner_end:
                with loop(inner_end, vectors) as j:
                    output_vector(image, channel, positions, taps, j, "edge")
        result = bufferization.ToTensorOp(pool.result.type, out, restrict=True, writable=True).result
    pool.result.replace_all_uses_with(result)
    for dead in pool.ops:
        if not any(list(r.uses) for r in dead.results):
            dead.erase()


# A reduction's combining op -> (its vector.reduction kind, the value of lanes past the end)
REDUCTIONS = {"arith.addf": (vector.CombiningKind.ADD, 0.0),
              "arith.maximumf": (vector.CombiningKind.MAXIMUMF, -math.inf)}


def trailing_reduction(op) -> int | None:
    """The dims kept (p >= 1) when a linalg.generic reduces the trailing dims of one static f32
    input into a fill with addf / maximumf (global average or max pooling, a mean or amax over the
    last dims: torch-mlir's max also yields an index, which is allowed where nothing reads it);
    else None. Maps: the input's identity, each output's (d0, .., d(p-1)) then zeros."""
    if len(op.inputs) != 1 or not op.results or not static_tensors([op.inputs[0], op.results[0]], f32=True):
        return None  # (a generic without results: torch-mlir's run-time checks)
    iterators = [str(t) for t in op.attributes["iterator_types"]]
    kept = iterators.index(REDUCTION) if REDUCTION in iterators else len(iterators)
    if kept == 0 or iterators != [PARALLEL] * kept + [REDUCTION] * (len(iterators) - kept) or kept == len(iterators):
        return None
    maps = [ir.AffineMapAttr(m).value for m in op.attributes["indexing_maps"]]
    if maps[0] != ir.AffineMap.get_identity(len(iterators)):
        return None
    dims = [ir.AffineDimExpr.get(i) for i in range(kept)]
    for m in maps[1:]:
        if list(m.results)[:kept] != dims or any(not isinstance(e, ir.AffineConstantExpr) or e.value
                                                 for e in list(m.results)[kept:]):
            return None
    if any(list(r.uses) for r in list(op.results)[1:]) or fill_value(op.outputs[0]) is None:
        return None
    block = op.regions[0].blocks[0]
    combined = list(block.operations)[-1].operands[0].owner
    if not isinstance(combined, ir.OpView) or combined.operation.name not in REDUCTIONS:
        return None
    if {combined.operands[0], combined.operands[1]} != {block.arguments[0], block.arguments[1]}:
        return None
    return kept


def vectorize_reduction(op, kept: int, width: int, chunk: int) -> None:
    """A trailing_reduction as threads over chunks of about `chunk` input elements (whole runs,
    as the elementwise loops' chunks: a global pool over 512 x 98 floats is four; less than one
    thread's work is not worth waking another), per kept element (N x C for a global pool) its
    contiguous run of the input: vectors folded into one accumulator (a masked last vector), then
    vector.reduction into the fill's scalar."""
    name = list(op.regions[0].blocks[0].operations)[-1].operands[0].owner.operation.name
    kind, past_end = REDUCTIONS[name]
    combine = COMBINE[BODY[name]]
    shape = list(op.inputs[0].type.shape)
    rows, length = math.prod(shape[:kept]), math.prod(shape[kept:])
    full, tail = divmod(length, width)
    per_chunk = max(1, chunk // length)
    f32 = ir.F32Type.get()
    with ir.InsertionPoint(op), op.location:
        vtype = vector_type(width)
        source = memref.CollapseShapeOp(ir.MemRefType.get([rows, length], f32), read_buffer(op.inputs[0]),
                                        reassociation(range(kept), range(kept, len(shape)))).result
        out_shape = list(op.results[0].type.shape)
        out = memref.AllocOp(ir.MemRefType.get(out_shape, f32), [], []).result
        flat_out = memref.CollapseShapeOp(ir.MemRefType.get([rows], f32), out,
                                          reassociation(range(len(out_shape)))).result
        empty = splat(vtype, past_end)
        with parallel(0, -(-rows // per_chunk)) as part:
            end = arith.MinUIOp(mul(add(part, 1), per_chunk), index(rows)).result
            with loop(mul(part, per_chunk), end) as row:
                acc = empty
                if full:
                    steps = scf.ForOp(index(0), index(full), index(1), [empty])
                    with ir.InsertionPoint(steps.body):
                        x = vload(width, source, [row, mul(steps.induction_variable, width)])
                        scf.YieldOp([combine(steps.inner_iter_args[0], x).result])
                    acc = steps.results[0]
                if tail:
                    x = vector.MaskedLoadOp(vtype, source, [row, index(full * width)], lane_mask(width, tail),
                                            empty).result
                    acc = combine(acc, x).result
                store(vector.ReductionOp(f32, kind, acc, acc=fill_value(op.outputs[0])).result, flat_out, [row])
        result = bufferization.ToTensorOp(op.results[0].type, out, restrict=True, writable=True).result
    op.results[0].replace_all_uses_with(result)
    op.erase()


NAMED_POOLS = tuple(f"linalg.pooling_{layout}_{kind}" for layout in ("nchw", "nhwc", "ndhwc") for kind in COMBINE)


def lower_pools(module: ir.Operation, width: int, chunk: int) -> None:
    """Every static f32 pool (named or generic) and trailing reduction of `module` as SIMD loops
    (a reduction's threads take about `chunk` input elements each)."""
    for op in pconv.walk_ops(module, *NAMED_POOLS):
        pool = named_pool(op)
        if pool is not None:
            vectorize_pool(pool, width)
    for op in pconv.walk_ops(module, "linalg.generic"):
        pool = generic_pool(op)
        kept = None if pool is not None else trailing_reduction(op)
        if pool is not None:
            vectorize_pool(pool, width)
        elif kept is not None:
            vectorize_reduction(op, kept, width, chunk)
