"""dense-vectorize: the layers that stay dense (linear layers' matmuls, pooling, elementwise ops)
become SIMD loops, so they do not give the sparse convs' win back.

1. A linalg.transpose of a constant (how torch-mlir imports a linear layer's weight) is folded
   at compile time, so the weights are read K x N, row by row, instead of transposed per call
   (a matmul's weight panels, below, are read through it: no transposed copy is made for them).
2. Each static linalg.matmul whose N is a multiple of the vector width (or of a half, a quarter,
   ... of it, down to 4 lanes: 1000 classes take 8 of AVX-512's 16) becomes loops: threads
   over chunks of N (scf.parallel), then per row of A and register block of up to `vectors`
   vectors of N, K steps that each broadcast one A value and multiply-add one contiguous row
   segment of B into the block, which stays in registers.
3. Each static max or sum pool (average pooling's sum; torch-mlir pads the input with tensor.pad
   first) becomes loops (passes/cpu/pooling.py): 2-D pools (linalg.pooling_nchw_max / _sum),
   3-D max pools (a linalg.generic with a pool's maps) and 3-D average pools (pooling_ndhwc_sum
   between transposes, read through) alike: threads over channels, then per output row (3-D:
   depth plane and row) and vector of output columns, one load per window tap that reads the
   unpadded input directly (lanes left of, right of, above or below the image take the pad
   value, masked: no padded copy; a row's first vector is emitted apart and shifts its lanes, so
   no load starts outside its row), strided lanes picked with one shuffle, folded with maximumf /
   addf. A reduction of an input's trailing dims into a fill (a global average or max pool)
   becomes threads over the kept elements, each a vector loop and a vector.reduction.
4. Each elementwise linalg.generic (every iterator parallel, every map the identity, f32 tensors
   of one static shape, a body of arith float ops, abs, sqrt or fma) becomes one loop over the flattened elements:
   threads over chunks, a vector per step (a masked one for the tail), the body's ops applied to
   vectors (values from outside the body broadcast). Run after linalg-fuse-elementwise-ops, a
   residual add and its ReLU are one pass over memory on both threads instead of two serial ones
   (`elementwise=false` leaves them for that later run).
(Upstream's transform-dialect tiling + vectorisation was tried first; on this MLIR it turned the
1 x K x N tiles into transposed B reads and per-lane reductions instead of this broadcast form.)

Before:
  %t = linalg.transpose ins(%cst : tensor<32x64xf32>) ... permutation = [1, 0]
  %y = linalg.matmul ins(%x, %t : tensor<1x64xf32>, tensor<64x32xf32>) outs(%fill ...)
After:
  %t = arith.constant dense<...> : tensor<64x32xf32>
  scf.parallel (%chunk) ... { scf.for %m ... { scf.for %block ... {
    %acc:4 = scf.for %k ... iter_args(...) { %a = vector.broadcast ...; vector.fma %a, %b_row_segment, ... } } } }
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, memref, scf, vector

from fretsaw.dialect import pconv
from fretsaw.passes.base import ModulePass
from fretsaw.passes.builders import (add, index, lane_mask, load, loop, masked_vload, mul, parallel, read_buffer,
                                     reassociation, vector_type, vload, vstore)
from fretsaw.passes.cpu.pooling import lower_pools
from fretsaw.passes.match import fill_value, static_tensors

PLAIN_MATMUL = ("[affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, "
                "affine_map<(d0, d1, d2) -> (d0, d1)>]")


def weights_view(attr: ir.DenseElementsAttr) -> np.ndarray:
    """An f32 constant's values as a read-only view of the attribute's own storage: a copy of a
    linear layer's weights (VGG-16's first: 411 MB) is already what repacking them makes."""
    if attr.is_splat:
        return pconv.elements_to_numpy(attr).astype(np.float32)
    return np.asarray(attr).reshape(attr.type.shape)


def constant_through_transpose(value: ir.Value) -> tuple[np.ndarray, list[int]] | None:
    """(values, permutation) when `value` is an f32 constant, or a linalg.transpose of one (read
    through it: a transposed copy would be a second constant as large as the weights): the
    constant's values as weights_view gives them and the transpose's permutation (the identity
    for the constant itself); else None."""
    owner, permutation = value.owner, list(range(len(value.type.shape)))
    if isinstance(owner, ir.OpView) and owner.operation.name == "linalg.transpose":
        owner, permutation = owner.operands[0].owner, list(owner.attributes["permutation"])
    if not isinstance(owner, ir.OpView) or owner.operation.name != "arith.constant":
        return None
    attr = owner.attributes["value"]
    if not isinstance(attr, ir.DenseElementsAttr) or not isinstance(attr.type.element_type, ir.F32Type):
        return None
    return weights_view(attr), permutation


def fold_constant_transposes(module: ir.Operation) -> None:
    """Replace each linalg.transpose of an f32 arith.constant by the transposed constant (erase
    it where nothing reads it any more: the matmuls' panels read through it)."""
    for op in pconv.walk_ops(module, "linalg.transpose"):
        if not list(op.results[0].uses):
            op.erase()
            continue
        source = op.operands[0].owner
        if not isinstance(source, ir.OpView) or source.operation.name != "arith.constant":
            continue
        value = source.attributes["value"]
        if not isinstance(value, ir.DenseElementsAttr) or not isinstance(value.type.element_type, ir.F32Type):
            continue
        permutation = list(op.attributes["permutation"])
        data = np.ascontiguousarray(np.transpose(weights_view(value), permutation))  # the one copy
        result_type = op.results[0].type
        with ir.InsertionPoint(op), op.location:
            folded = arith.ConstantOp(result_type, ir.DenseElementsAttr.get(data, type=result_type))
        op.results[0].replace_all_uses_with(folded.result)
        op.erase()


def register_block(n: int, width: int, vectors: int) -> int | None:
    """Vectors of outputs per register block: of the counts up to 2 x `vectors` that divide N's
    vectors, the nearest to `vectors` (the larger on a tie); None when N is not a multiple of the
    vector width (a tiny layer: left to the scalar loops). 1000 classes in 125 vectors of 8 take 5,
    not 1: with one accumulator chain every FMA waits on the previous one's latency."""
    if n % width:
        return None
    counts = [v for v in range(1, 2 * vectors + 1) if (n // width) % v == 0]
    return min(counts, key=lambda v: (abs(v - vectors), -v))


def constant_panels(value: ir.Value, block: int) -> ir.Value | None:
    """A constant K x N matrix as N / `block` panels of K x `block` (a new constant: each register
    block's K rows lie end to end), or None when `value` is not an f32 constant or a transpose of
    one (constant_through_transpose; a transposed copy would be held as long as the context). A
    linear layer at batch 1 reads each weight once, so the matmul is a stream through memory:
    K x N row segments of `block` columns are N * 4 bytes apart, the panels one sequential read,
    which is what a memory-bound layer needs (VGG-16's classifier is hundreds of MB of weights)."""
    found = constant_through_transpose(value)
    if found is None:
        return None
    values, permutation = found
    k, n = value.type.shape
    data = np.transpose(values, permutation).reshape(k, n // block, block).transpose(1, 0, 2)
    ttype = ir.RankedTensorType.get([n // block, k, block], ir.F32Type.get())
    return arith.ConstantOp(ttype, ir.DenseElementsAttr.get(np.ascontiguousarray(data), type=ttype)).result


def vectorize_matmul(op, width: int, vectors: int, chunk: int) -> None:
    """C = fill + A @ B as loops: threads over chunks of N, then per row of A and register block
    of `vectors` vectors of N, K steps that each broadcast one A value and multiply-add one
    contiguous row segment of B. The accumulators start from the fill's scalar: reading the
    filled tensor through a buffer would hide that read from bufferization, which may then
    reuse the filled buffer for another op first (torch-mlir's linear layers share one fill)."""
    a_value, b_value = op.operands[0], op.operands[1]
    start = fill_value(op.operands[2])
    m, k = a_value.type.shape
    n = b_value.type.shape[1]
    while n % width and width > 4:  # 1000 classes: 8 lanes when 16 do not divide N
        width //= 2
    v = register_block(n, width, vectors)
    if v is None or start is None:
        return
    block = v * width
    blocks_per_chunk = max(1, min(n // block, chunk // block))
    while (n // block) % blocks_per_chunk:
        blocks_per_chunk -= 1
    with ir.InsertionPoint(op), op.location:
        vtype = vector_type(width)
        panels = constant_panels(b_value, block)
        a, b = read_buffer(a_value), read_buffer(panels if panels is not None else b_value)
        out = memref.AllocOp(ir.MemRefType.get([m, n], ir.F32Type.get()), [], []).result
        with parallel(0, n // (block * blocks_per_chunk)) as part, loop(0, m) as row, \
                loop(0, blocks_per_chunk) as j:
            panel = add(mul(part, blocks_per_chunk), j)
            n0 = mul(panel, block)
            columns = [add(n0, i * width) for i in range(v)]
            accs = [vector.BroadcastOp(vtype, start).result] * v
            steps = scf.ForOp(index(0), index(k), index(1), accs)
            with ir.InsertionPoint(steps.body):
                kk = steps.induction_variable
                a_k = vector.BroadcastOp(vtype, load(a, [row, kk])).result
                segments = [vload(width, b, [panel, kk, i * width] if panels is not None else [kk, col])
                            for i, col in enumerate(columns)]
                scf.YieldOp([vector.FMAOp(a_k, segment, acc).result
                             for segment, acc in zip(segments, steps.inner_iter_args)])
            for col, acc in zip(columns, steps.results):
                vstore(acc, out, [row, col])
        result = bufferization.ToTensorOp(op.results[0].type, out, restrict=True, writable=True).result
    op.results[0].replace_all_uses_with(result)
    op.erase()


ELEMENTWISE_CHUNK = 16384  # elements per thread work item: 64 KiB of each operand
ELEMENTWISE = {"arith.addf", "arith.subf", "arith.mulf", "arith.divf", "arith.negf", "arith.maximumf",
               "arith.minimumf", "arith.maxnumf", "arith.minnumf", "arith.cmpf", "arith.select", "arith.constant",
               "math.absf", "math.sqrt", "math.fma"}  # (math ops LLVM has vector intrinsics for)


def elementwise_body(op) -> bool:
    """Whether a linalg.generic is elementwise over identically shaped f32 tensors with a body
    `replay` can apply to vectors: arith float ops (and abs, sqrt, fma) on the inputs and on f32 or
    i1 values from outside, never reading the output."""
    if any(str(t) != '#linalg.iterator_type<parallel>' for t in op.attributes["iterator_types"]):
        return False
    maps = list(ir.ArrayAttr(op.attributes["indexing_maps"]))
    values = list(op.operands) + list(op.results)
    if not static_tensors(values, f32=True) or any(v.type.shape != values[0].type.shape for v in values):
        return False
    rank = len(values[0].type.shape)
    if any(ir.AffineMapAttr(m).value != ir.AffineMap.get_identity(rank) for m in maps):
        return False
    block = op.regions[0].blocks[0]
    outs = list(block.arguments)[len(op.inputs):]
    if any(len(list(a.uses)) for a in outs) or len(op.results) != 1:
        return False
    body = list(block.operations)
    scalar = (ir.F32Type.get(), ir.IntegerType.get_signless(1))
    return all(o.operation.name in ELEMENTWISE for o in body[:-1]) and all(
        v.type in scalar for o in body[:-1] for v in list(o.operands) + list(o.results))


def replay(block: ir.Block, inputs: list, vtype: ir.VectorType) -> ir.Value:
    """The generic's body applied to vectors: `inputs` for its input arguments."""
    values = dict(zip(list(block.arguments), inputs))
    mask_type = ir.VectorType.get(vtype.shape, ir.IntegerType.get_signless(1))

    def operand(v):
        if v in values:
            return values[v]
        return vector.BroadcastOp(mask_type if isinstance(v.type, ir.IntegerType) else vtype, v).result

    for o in list(block.operations)[:-1]:
        o = o.operation
        if o.name == "arith.constant":
            values[o.results[0]] = operand(arith.ConstantOp(o.results[0].type, o.attributes["value"]).result)
            continue
        result_type = mask_type if isinstance(o.results[0].type, ir.IntegerType) else vtype
        attributes = {name: o.attributes[name] for name in o.attributes}
        new = ir.Operation.create(o.name, results=[result_type], operands=[operand(v) for v in o.operands],
                                  attributes=attributes)
        values[o.results[0]] = new.results[0]
    return operand(list(block.operations)[-1].operands[0])


def vectorize_elementwise(op, width: int, chunk: int) -> None:
    """An elementwise linalg.generic as one threaded vector loop over its flattened elements."""
    shape = list(op.results[0].type.shape)
    total = int(np.prod(shape))
    full, tail = divmod(total, width)
    per_chunk = max(1, min(full, chunk // width))
    chunks = -(-full // per_chunk) if full else 0
    f32 = ir.F32Type.get()
    with ir.InsertionPoint(op), op.location:
        vtype = vector_type(width)
        flat_type = ir.MemRefType.get([total], f32)
        everything = reassociation(range(len(shape)))
        ins = [memref.CollapseShapeOp(flat_type, read_buffer(v), everything).result for v in op.inputs]
        out = memref.AllocOp(ir.MemRefType.get(shape, f32), [], []).result
        flat_out = memref.CollapseShapeOp(flat_type, out, everything).result
        block = op.regions[0].blocks[0]
        if chunks:
            with parallel(0, chunks) as c:
                end = arith.MinUIOp(mul(add(c, 1), per_chunk), index(full)).result
                with loop(mul(c, per_chunk), end) as v:
                    at = mul(v, width)
                    vstore(replay(block, [vload(width, x, [at]) for x in ins], vtype), flat_out, [at])
        if tail:
            mask = lane_mask(width, tail)
            at = index(full * width)
            loaded = [masked_vload(width, x, [at], mask) for x in ins]
            vector.MaskedStoreOp(flat_out, [at], mask, replay(block, loaded, vtype))
        result = bufferization.ToTensorOp(op.results[0].type, out, restrict=True, writable=True).result
    op.results[0].replace_all_uses_with(result)
    op.erase()


@dataclasses.dataclass(frozen=True)
class DenseVectorize(ModulePass):
    """Fold constant weight transposes; lower linalg.matmul, 2-D and 3-D max/sum pooling, trailing
    reductions and elementwise generics to threaded SIMD loops."""

    name: ClassVar[str] = "dense-vectorize"
    width: int = 8    # fp32 lanes of the target's vectors
    vectors: int = 4  # at most this many vectors of outputs per register block
    chunk: int = 256  # about this many output columns per thread work item
    elementwise: bool = True  # also lower elementwise generics (the pipelines run a first pass without,
                              # then upstream's linalg-fuse-elementwise-ops, then this one again: the
                              # fusion pass would otherwise fold a linear layer's weight transpose and
                              # flatten into its matmul, a generic contraction left to scalar loops)

    def __post_init__(self):
        self.require_positive("width", "vectors", "chunk")

    def run(self, module: ir.Operation) -> None:
        for op in pconv.walk_ops(module, "linalg.matmul"):
            plain = "indexing_maps" not in op.attributes or str(op.attributes["indexing_maps"]) == PLAIN_MATMUL
            if plain and static_tensors(op.operands):  # (a matmul with transposing or broadcasting maps stays upstream's)
                vectorize_matmul(op, self.width, self.vectors, self.chunk)
        fold_constant_transposes(module)  # after the matmuls: their panels read through the transposes
        for op in pconv.walk_ops(module, "linalg.generic") if self.elementwise else []:
            if elementwise_body(op):
                vectorize_elementwise(op, self.width, ELEMENTWISE_CHUNK)
        lower_pools(module, self.width, ELEMENTWISE_CHUNK)
        module.verify()
