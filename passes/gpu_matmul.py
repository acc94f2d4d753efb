"""gpu-matmul: linear layers (static linalg.matmul from a fill) become GPU threads that keep their
sums in registers, reading constant weights in the layout they have, in pieces a storage buffer
can bind.

Upstream's parallel loops would load and store each output once per multiply-add and read a
weight transposed at run time; here a thread computes `width` adjacent outputs of a row of A as
a vector, one K loop broadcasting an A value into a multiply-add with a vector of weights. A
weight that is a transpose of a constant (how Torch-MLIR imports nn.Linear) is read through the
transpose: the N x K rows of the original constant, no copy. A constant larger than `max-bytes`
(the device's maxStorageBufferRange: VGG-16's first linear layer holds 411 MB, lavapipe binds
128 MiB) is cut along N into constants that fit, each computed by its own threads (kernels).
Other constant transposes are folded at compile time (dense-vectorize's fold).

Before:
  %t = linalg.transpose ins(%w : tensor<32x64xf32>) ... permutation = [1, 0]
  %y = linalg.matmul ins(%x, %t : tensor<1x64xf32>, tensor<64x32xf32>) outs(%fill : tensor<1x32xf32>)
After:
  scf.parallel (...) {mapping = [block_x, thread_x]} {            // a thread: 4 outputs of a row
    scf.for %k = 0 to 64 iter_args(%acc = %zero) -> (vector<4xf32>) {
      %a = vector.broadcast (memref.load %x[%m, %k]); %b = vector.from_elements (4 loads of %w[%n.., %k])
      vector.fma %a, %b, %acc }
    memref.store ...                                                 // lanes inside N
  }
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, memref, scf, vector

from fretsaw.dialect import pconv
from fretsaw.passes.base import ModulePass
from fretsaw.passes.builders import add, guarded, index, load, mul, read_buffer, store
from fretsaw.passes.conv.geometry import ceil_div
from fretsaw.passes.dense_vectorize import PLAIN_MATMUL, constant_through_transpose, fold_constant_transposes
from fretsaw.passes.gpu.loops import delinearize, threads
from fretsaw.passes.match import fill_value


def weight_rows(value: ir.Value) -> np.ndarray | None:
    """B (K x N) of a matmul as the N x K rows it is a transpose of, when B is a transpose of an f32
    constant; else None."""
    found = constant_through_transpose(value)
    if found is None or found[1] != [1, 0]:
        return None
    return found[0]


def constant_rows(rows: np.ndarray) -> ir.Value:
    ttype = ir.RankedTensorType.get(list(rows.shape), ir.F32Type.get())
    return read_buffer(arith.ConstantOp(ttype, ir.DenseElementsAttr.get(np.ascontiguousarray(rows), type=ttype)).result)


def lower_matmul(op, width: int, max_bytes: int) -> bool:
    """Replace linalg.matmul `op` (static f32, from a fill) by GPU threads; False when it is not one."""
    a_value, b_value, c_value = op.operands
    start = fill_value(c_value)
    if start is None or not all(isinstance(v.type, ir.RankedTensorType) and v.type.has_static_shape and
                                isinstance(v.type.element_type, ir.F32Type) for v in (a_value, b_value, c_value)):
        return False
    m, k = a_value.type.shape
    n = b_value.type.shape[1]
    rows = weight_rows(b_value)
    with ir.InsertionPoint(op), op.location:
        vtype = ir.VectorType.get([width], ir.F32Type.get())
        a = read_buffer(a_value)
        out = memref.AllocOp(ir.MemRefType.get([m, n], ir.F32Type.get()), [], []).result
        if rows is None:  # B read as it is, K x N
            pieces = [(0, n, read_buffer(b_value), False)]
        else:  # N x K rows, cut into constants that a storage buffer binds
            per_piece = max(width, (max_bytes // (4 * max(k, 1))) // width * width)
            pieces = [(lo, min(n, lo + per_piece), constant_rows(rows[lo:lo + per_piece]), True)
                      for lo in range(0, n, per_piece)]
        for lo, hi, b, transposed in pieces:
            count = hi - lo
            chunks = ceil_div(count, width)
            with threads(m * chunks) as (i, _):
                row, chunk = delinearize(i, [m, chunks])
                first = mul(chunk, width)
                # lanes past N read the piece's last column (not stored)
                columns = [arith.MinUIOp(add(first, j), index(count - 1)).result for j in range(width)]
                steps = scf.ForOp(index(0), index(k), index(1), [vector.BroadcastOp(vtype, start).result])
                with ir.InsertionPoint(steps.body):
                    kk = steps.induction_variable
                    a_k = vector.BroadcastOp(vtype, load(a, [row, kk])).result
                    lanes = [load(b, [c, kk] if transposed else [kk, add(c, lo)]) for c in columns]
                    scf.YieldOp([vector.FMAOp(a_k, vector.FromElementsOp(vtype, lanes).result,
                                              steps.inner_iter_args[0]).result])
                for j in range(width):
                    value = vector.ExtractOp(steps.results[0], [], [j]).result
                    where = [row, add(add(first, j), lo)]
                    if count % width == 0:
                        store(value, out, where)
                    else:
                        with guarded(arith.CmpIOp(arith.CmpIPredicate.ult, add(first, j), index(count)).result):
                            store(value, out, where)
        result = bufferization.ToTensorOp(op.results[0].type, out, restrict=True, writable=True).result
    op.results[0].replace_all_uses_with(result)
    op.erase()
    return True


@dataclasses.dataclass(frozen=True)
class GpuMatmul(ModulePass):
    """Lower static linalg.matmul to GPU threads with register sums; cut constant weights to fit a binding."""

    name: ClassVar[str] = "gpu-matmul"
    width: int = 4                # outputs per thread (vector lanes along N)
    max_bytes: int = 134217728    # the largest constant one kernel binds (maxStorageBufferRange)

    def __post_init__(self):
        self.require_positive("width", "max_bytes")
        if self.width not in (2, 3, 4):
            raise self.option_error(f"option width={self.width}: SPIR-V vectors have 2-4 lanes")

    def run(self, module: ir.Operation) -> None:
        for op in pconv.walk_ops(module, "linalg.matmul"):
            plain = "indexing_maps" not in op.attributes or str(op.attributes["indexing_maps"]) == PLAIN_MATMUL
            if plain:  # (a matmul with transposing or broadcasting maps stays upstream's)
                lower_matmul(op, self.width, self.max_bytes)
        fold_constant_transposes(module)
        module.verify()
