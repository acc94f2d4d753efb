"""IR builders shared by fretsaw's lowerings: index arithmetic, loops, loads and stores, constant
tables, vectors. Each builds at the current insertion point and location."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, memref, scf, vector


def index(value) -> ir.Value:
    if isinstance(value, ir.Value):
        return value
    return arith.ConstantOp(ir.IndexType.get(), int(value)).result



def f32(value: float) -> ir.Value:
    return arith.ConstantOp(ir.F32Type.get(), float(value)).result



def add(a, b):
    return arith.AddIOp(index(a), index(b)).result



def mul(a, b):
    return arith.MulIOp(index(a), index(b)).result



@contextmanager
def loop(lower, upper):
    """`with loop(lb, ub) as i:` builds an scf.for and puts the insertion point in its body."""
    op = scf.ForOp(index(lower), index(upper), index(1))
    with ir.InsertionPoint(op.body):
        yield op.induction_variable
        scf.YieldOp([])



def load(buffer, indices) -> ir.Value:
    return memref.LoadOp(buffer, [index(i) for i in indices]).result



def store(value, buffer, indices) -> None:
    memref.StoreOp(value, buffer, [index(i) for i in indices])



def read_buffer(tensor: ir.Value) -> ir.Value:
    """A read-only memref view of `tensor` (bufferization resolves it to the tensor's buffer)."""
    ttype = tensor.type
    mtype = ir.MemRefType.get(list(ttype.shape), ttype.element_type)
    return bufferization.ToBufferOp(mtype, tensor, read_only=True).result



def table(values: np.ndarray) -> ir.Value:
    """A constant i32 table as a read-only memref."""
    data = np.ascontiguousarray(values, dtype=np.int32)
    ttype = ir.RankedTensorType.get([data.size], ir.IntegerType.get_signless(32))
    return read_buffer(arith.ConstantOp(ttype, ir.DenseElementsAttr.get(data, type=ttype)).result)



def load_index(buffer, i) -> ir.Value:
    return arith.IndexCastOp(ir.IndexType.get(), load(buffer, [i])).result



@contextmanager
def loops(uppers):
    """`with loops([a, b]) as (i, j):` scf.for loops from 0 to each bound, nested in order, the
    insertion point in the innermost body (none for no bounds: `with loops([]) as ()`)."""
    with ExitStack() as stack:
        yield [stack.enter_context(loop(0, upper)) for upper in uppers]



@contextmanager
def parallel(lower, upper):
    """`with parallel(lb, ub) as i:` an scf.parallel (threads, once lowered to OpenMP)."""
    op = scf.ParallelOp([], [index(lower)], [index(upper)], [index(1)], [])
    body = op.regions[0].blocks.append(ir.IndexType.get())
    with ir.InsertionPoint(body):
        yield body.arguments[0]
        scf.ReduceOp([], 0)



@contextmanager
def guarded(condition):
    """`with guarded(cond):` an scf.if without results around the body."""
    op = scf.IfOp(condition)
    with ir.InsertionPoint(op.then_block):
        yield
        scf.YieldOp([])



def weight_constant(values: np.ndarray, element: ir.Type) -> ir.Value:
    """A 1-D weight constant of `element` type (f32 or f16) holding `values`."""
    dtype = np.float16 if isinstance(element, ir.F16Type) else np.float32
    data = np.ascontiguousarray(values, dtype=dtype).ravel()
    ttype = ir.RankedTensorType.get([data.size], element)
    return arith.ConstantOp(ttype, ir.DenseElementsAttr.get(data, type=ttype)).result



def vector_type(width: int, element: ir.Type | None = None) -> ir.VectorType:
    return ir.VectorType.get([width], element or ir.F32Type.get())



def splat(vtype: ir.VectorType, value: float) -> ir.Value:
    attr = ir.FloatAttr.get(vtype.element_type, value)
    return arith.ConstantOp(vtype, ir.DenseElementsAttr.get_splat(vtype, attr)).result



def element_of(buffer) -> ir.Type:
    return ir.MemRefType(buffer.type).element_type



def vload(width: int, buffer, indices) -> ir.Value:
    """A vector of `width` elements of the buffer's type."""
    return vector.LoadOp(vector_type(width, element_of(buffer)), buffer, [index(i) for i in indices]).result



def convert(value: ir.Value, element: ir.Type) -> ir.Value:
    """`value` (a float or a vector of floats) as `element` (f32 <-> f16), unchanged when it is one."""
    vtype = value.type
    is_vector = isinstance(vtype, ir.VectorType)
    source = vtype.element_type if is_vector else vtype
    if source == element:
        return value
    target = vector_type(vtype.shape[0], element) if is_vector else element
    wider = element.width > source.width
    return (arith.ExtFOp(target, value) if wider else arith.TruncFOp(target, value)).result



def vstore(value, buffer, indices, mask=None) -> None:
    """Store a vector at `indices`: only the lanes of `mask` when one is given, else whole."""
    if mask is None:
        vector.StoreOp(value, buffer, [index(i) for i in indices])
    else:
        vector.MaskedStoreOp(buffer, [index(i) for i in indices], mask, value)



def lane_mask(width: int, lanes: int) -> ir.Value:
    """A constant vector<width x i1> mask of its first `lanes` lanes (none when `lanes` <= 0)."""
    return vector.ConstantMaskOp(ir.VectorType.get([width], ir.IntegerType.get_signless(1)), [max(0, lanes)]).result



def masked_vload(width: int, buffer, indices, mask) -> ir.Value:
    """A vector of `width` elements of the buffer's type: the lanes of `mask` loaded, the others zero."""
    vtype = vector_type(width, element_of(buffer))
    return vector.MaskedLoadOp(vtype, buffer, [index(i) for i in indices], mask, splat(vtype, 0.0)).result



def i32_elements(values) -> ir.DenseElementsAttr:
    return ir.DenseElementsAttr.get(np.ascontiguousarray(values, dtype=np.int32))



def reassociation(*groups) -> ir.ArrayAttr:
    """The dims groups of a collapse_shape / expand_shape: `reassociation([0, 1], [2, 3, 4])`."""
    i64 = ir.IntegerType.get_signless(64)
    return ir.ArrayAttr.get([ir.ArrayAttr.get([ir.IntegerAttr.get(i64, d) for d in group]) for group in groups])
