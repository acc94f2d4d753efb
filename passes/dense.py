"""dense-vectorize: the layers that stay dense (linear layers' matmuls) become SIMD loops, so they
do not give the sparse convs' win back.

1. A linalg.transpose of a constant (how torch-mlir imports a linear layer's weight) is folded
   at compile time, so the weights are read K x N, row by row, instead of transposed per call.
2. Each static linalg.matmul whose N is a multiple of the vector width becomes loops: threads
   over chunks of N (scf.parallel), then per row of A and register block of up to `vectors`
   vectors of N, K steps that each broadcast one A value and multiply-add one contiguous row
   segment of B into the block, which stays in registers.
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
from fretsaw.passes.lower import add, index, load, loop, mul, read_buffer
from fretsaw.passes.vectorize import parallel, vector_type, vload, vstore

PLAIN_MATMUL = ("[affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, "
                "affine_map<(d0, d1, d2) -> (d0, d1)>]")


def fold_constant_transposes(module: ir.Operation) -> None:
    """Replace each linalg.transpose of an f32 arith.constant by the transposed constant."""
    for op in pconv.walk_ops(module, "linalg.transpose"):
        source = op.operands[0].owner
        if not isinstance(source, ir.OpView) or source.operation.name != "arith.constant":
            continue
        value = source.attributes["value"]
        if not isinstance(value, ir.DenseElementsAttr) or not isinstance(value.type.element_type, ir.F32Type):
            continue
        permutation = list(op.attributes["permutation"])
        data = np.ascontiguousarray(np.transpose(pconv.elements_to_numpy(value), permutation))
        result_type = op.results[0].type
        with ir.InsertionPoint(op), op.location:
            folded = arith.ConstantOp(result_type, ir.DenseElementsAttr.get(data.astype(np.float32), type=result_type))
        op.results[0].replace_all_uses_with(folded.result)
        op.erase()


def register_block(n: int, width: int, vectors: int) -> int | None:
    """Vectors of outputs per register block: the most (up to `vectors`) that divide N; None
    when N is not a multiple of the vector width (a tiny layer: left to the scalar loops)."""
    if n % width:
        return None
    return next(v for v in range(vectors, 0, -1) if (n // width) % v == 0)


def fill_value(value: ir.Value) -> ir.Value | None:
    """The scalar a linalg.fill result holds, or None."""
    owner = value.owner
    if isinstance(owner, ir.OpView) and owner.operation.name == "linalg.fill":
        return owner.operands[0]
    return None


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
    v = register_block(n, width, vectors)
    if v is None or start is None:
        return
    block = v * width
    blocks_per_chunk = max(1, min(n // block, chunk // block))
    while (n // block) % blocks_per_chunk:
        blocks_per_chunk -= 1
    with ir.InsertionPoint(op), op.location:
        vtype = vector_type(width)
        a, b = read_buffer(a_value), read_buffer(b_value)
        out = memref.AllocOp(ir.MemRefType.get([m, n], ir.F32Type.get()), [], []).result
        with parallel(0, n // (block * blocks_per_chunk)) as part, loop(0, m) as row, \
                loop(0, blocks_per_chunk) as j:
            n0 = mul(add(mul(part, blocks_per_chunk), j), block)
            columns = [add(n0, i * width) for i in range(v)]
            accs = [vector.BroadcastOp(vtype, start).result] * v
            steps = scf.ForOp(index(0), index(k), index(1), accs)
            with ir.InsertionPoint(steps.body):
                kk = steps.induction_variable
                a_k = vector.BroadcastOp(vtype, load(a, [row, kk])).result
                scf.YieldOp([vector.FMAOp(a_k, vload(width, b, [kk, col]), acc).result
                             for col, acc in zip(columns, steps.inner_iter_args)])
            for col, acc in zip(columns, steps.results):
                vstore(acc, out, [row, col])
        result = bufferization.ToTensorOp(op.results[0].type, out, restrict=True, writable=True).result
    op.results[0].replace_all_uses_with(result)
    op.erase()


@dataclasses.dataclass(frozen=True)
class DenseVectorize(ModulePass):
    """Fold constant weight transposes; lower linalg.matmul to threaded SIMD loops."""

    name: ClassVar[str] = "dense-vectorize"
    width: int = 8    # fp32 lanes of the target's vectors
    vectors: int = 4  # at most this many vectors of outputs per register block
    chunk: int = 256  # about this many output columns per thread work item

    def run(self, module: ir.Operation) -> None:
        fold_constant_transposes(module)
        for op in pconv.walk_ops(module, "linalg.matmul"):
            plain = "indexing_maps" not in op.attributes or str(op.attributes["indexing_maps"]) == PLAIN_MATMUL
            static = all(isinstance(v.type, ir.RankedTensorType) and v.type.has_static_shape for v in op.operands)
            if plain and static:  # (a matmul with transposing or broadcasting maps stays upstream's)
                vectorize_matmul(op, self.width, self.vectors, self.chunk)
        module.verify()
