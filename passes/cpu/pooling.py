"""dense-vectorize's pooling: max and sum pooling (NCHW) as threaded SIMD loops that read the
unpadded input with masked loads (see dense_vectorize's docstring, step 3)."""

from __future__ import annotations

from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, memref, vector

from fretsaw.dialect import pconv
from fretsaw.passes.builders import add, index, loop, mul, parallel, read_buffer, splat, vector_type
from fretsaw.passes.cpu.blocks import lane_width
from fretsaw.passes.match import fill_value, producer, scalar_constant

POOLS = {"linalg.pooling_nchw_max": arith.MaximumFOp, "linalg.pooling_nchw_sum": arith.AddFOp}
# Windows and strides vectorize_pool unrolls; larger ones stay on upstream's loops (a 60x80 window at
# stride 10 became 9,600 masked loads of 80 lanes: minutes to compile and to run)
MAX_POOL_TAPS, MAX_POOL_STRIDE = 64, 4


def pool_input(value: ir.Value) -> tuple[ir.Value, int, int, float] | None:
    """(unpadded input, top pad, left pad, pad value) of a pooling input: a tensor.pad of a
    constant on H and W is read through, anything else is read as it is."""
    pad = producer(value, "tensor.pad")
    if pad is None:
        return value, 0, 0, 0.0
    low, high = list(pad.attributes["static_low"]), list(pad.attributes["static_high"])
    yielded = scalar_constant(pad.regions[0].blocks[0].operations[0].operands[0])
    if len(pad.operands) != 1 or low[:2] != [0, 0] or high[:2] != [0, 0] or yielded is None:
        return None
    return pad.operands[0], low[2], low[3], yielded


def vectorize_pool(op, width: int) -> None:
    """Max or sum pooling (NCHW) as SIMD loops that read the unpadded input with masked loads.
    Every load starts inside its input row: the first vector of a row, whose window columns start
    left of the image, is emitted on its own and loads from column 0, its lanes moved right by the
    (static) overhang with the pad value shifted in; a load starting right of the image has no
    lane inside it and reads from the row's last column."""
    combine = POOLS[op.operation.name]
    read = pool_input(op.operands[0])
    start = fill_value(op.operands[2])
    if read is None or start is None:
        return
    source_value, top, left, pad_value = read
    n, c, h, w = source_value.type.shape
    kh_size, kw_size = op.operands[1].type.shape
    _, _, oh, ow = op.results[0].type.shape
    sh, sw = (int(v) for v in pconv.elements_to_numpy(op.attributes["strides"]))
    dh, dw = (int(v) for v in pconv.elements_to_numpy(op.attributes["dilations"]))
    if kh_size * kw_size > MAX_POOL_TAPS or sw > MAX_POOL_STRIDE:
        return  # every tap is unrolled and each load spans lanes x stride columns: left to upstream's loops
    lanes = lane_width(ow, width)
    span = lanes * sw  # input columns one output vector's window column covers
    if left > span:
        return  # a pad wider than a vector's span: the second vector would start left of the image too
    with ir.InsertionPoint(op), op.location:
        i1 = ir.IntegerType.get_signless(1)
        mask_type = ir.VectorType.get([span], i1)
        source = read_buffer(source_value)
        out = memref.AllocOp(ir.MemRefType.get([n, c, oh, ow], ir.F32Type.get()), [], []).result
        pad_vector = splat(vector_type(span), pad_value)
        picks = [lane * sw for lane in range(lanes)]

        def output_vector(image, channel, j, first_vector: bool):
            """Output columns j*lanes.. of every output row."""
            ow0 = mul(j, lanes)
            reads = []  # per window column: (start column, lane mask, static right shift)
            for kw in range(kw_size):
                if first_vector and kw * dw < left:
                    shift = left - kw * dw
                    reads.append((index(0), vector.ConstantMaskOp(mask_type, [min(span - shift, w)]).result, shift))
                    continue
                first = arith.SubIOp(add(mul(ow0, sw), kw * dw), index(left)).result
                inside = vector.CreateMaskOp(mask_type, [arith.SubIOp(index(w), first).result]).result
                reads.append((arith.MinSIOp(first, index(w - 1)).result, inside, 0))
            written = vector.CreateMaskOp(ir.VectorType.get([lanes], i1), [arith.SubIOp(index(ow), ow0).result])
            with loop(0, oh) as row:
                acc = vector.BroadcastOp(vector_type(lanes), start).result
                for kh in range(kh_size):
                    r = arith.SubIOp(add(mul(row, sh), kh * dh), index(top)).result
                    r_inside = arith.AndIOp(
                        arith.CmpIOp(arith.CmpIPredicate.sge, r, index(0)).result,
                        arith.CmpIOp(arith.CmpIPredicate.slt, r, index(h)).result).result
                    r_clamped = arith.MinSIOp(arith.MaxSIOp(r, index(0)).result, index(h - 1)).result
                    r_mask = vector.BroadcastOp(mask_type, r_inside).result
                    for column, inside, shift in reads:
                        mask = arith.AndIOp(inside, r_mask).result
                        x = vector.MaskedLoadOp(vector_type(span), source, [image, channel, r_clamped, column],
                                                mask, pad_vector).result
                        if shift:  # lane i holds column i - shift: the pad value for i < shift
                            x = vector.ShuffleOp(x, pad_vector, [span + i if i < shift else i - shift
                                                                 for i in range(span)]).result
                        if sw > 1:
                            x = vector.ShuffleOp(x, x, picks).result
                        acc = combine(acc, x).result
                vector.MaskedStoreOp(out, [image, channel, row, ow0], written.result, acc)

        with loop(0, n) as image, parallel(0, c) as channel:
            peeled = 1 if left else 0
            if peeled:
                output_vector(image, channel, index(0), True)
            with loop(peeled, -(-ow // lanes)) as j:
                output_vector(image, channel, j, False)
        result = bufferization.ToTensorOp(op.results[0].type, out, restrict=True, writable=True).result
    op.results[0].replace_all_uses_with(result)
    op.erase()


