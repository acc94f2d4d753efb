"""Queries on IR values shared by fretsaw's passes: the op producing a value, its single user,
the ops of a block that use a buffer or its views (memref_users), the numbers of a (reshaped)
constant, the scalar of a fill, whether shapes are static, the strides and dilations of a
windowed read's affine map."""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from fretsaw.dialect.pconv import elements_to_numpy


def producer(value: ir.Value, name: str | None = None):
    """The op defining `value` (None for block arguments or when its name is not `name`)."""
    if not isinstance(value, ir.OpResult):
        return None
    op = value.owner
    if name is not None and op.operation.name != name:
        return None
    return op



def single_user(value: ir.Value):
    users = [use.owner for use in value.uses]
    return users[0] if len(users) == 1 else None



def through_reshapes(value: ir.Value) -> ir.Value:
    """Follow tensor.expand_shape / collapse_shape back to the reshaped source."""
    op = producer(value)
    while op is not None and op.name in ("tensor.expand_shape", "tensor.collapse_shape"):
        value = op.operands[0]
        op = producer(value)
    return value



def ancestor_in(op: ir.Operation, block: ir.Block) -> ir.Operation | None:
    """`op` or the ancestor of it that lies in `block`; None when it is outside `block`."""
    while op.block != block:
        parent = op.parent
        if parent is None or parent.name == "builtin.module":
            return None
        op = parent.operation
    return op


def memref_users(value: ir.Value, block: ir.Block) -> list[ir.Operation]:
    """The ops of `block` that use `value`, directly or nested, or through ops producing memrefs
    from it (views, casts); deallocs do not count."""
    users, pending, seen = [], [value], set()
    while pending:
        for use in pending.pop().uses:
            owner = use.owner.operation if hasattr(use.owner, "operation") else use.owner
            if owner.name == "memref.dealloc":
                continue
            top = ancestor_in(owner, block)
            if top is not None:
                users.append(top)
            for result in owner.results:
                if isinstance(result.type, ir.MemRefType) and result not in seen:
                    seen.add(result)
                    pending.append(result)
    return users



def constant_array(value: ir.Value) -> np.ndarray | None:
    """The numbers of a (reshaped) dense constant, in `value`'s shape; None if not constant."""
    source = producer(through_reshapes(value), "arith.constant")
    if source is None or not isinstance(source.attributes["value"], ir.DenseElementsAttr):
        return None
    return elements_to_numpy(source.attributes["value"]).reshape(value.type.shape)



def scalar_constant(value: ir.Value) -> float | None:
    op = producer(value, "arith.constant")
    if op is None:
        return None
    attr = op.attributes["value"]
    if isinstance(attr, ir.FloatAttr):
        return attr.value
    if isinstance(attr, ir.DenseElementsAttr) and (attr.is_splat or attr.type.rank == 0):
        return float(elements_to_numpy(attr).reshape(-1)[0])
    return None




def constant_int(value: ir.Value) -> int | None:
    """The integer of an arith.constant of integer or index type, else None."""
    op = producer(value, "arith.constant")
    if op is None or not isinstance(op.attributes["value"], ir.IntegerAttr):
        return None
    return ir.IntegerAttr(op.attributes["value"]).value



def static_tensors(values, f32: bool = False) -> bool:
    """Whether every value is a statically shaped tensor (of f32 with `f32`), and there is one."""
    values = list(values)
    return bool(values) and all(isinstance(v.type, ir.RankedTensorType) and v.type.has_static_shape
                                and (not f32 or v.type.element_type == ir.F32Type.get()) for v in values)



def fill_value(value: ir.Value) -> ir.Value | None:
    """The scalar a linalg.fill result holds, or None."""
    fill = producer(value, "linalg.fill")
    return None if fill is None else fill.operands[0]


def linear_terms(expr: ir.AffineExpr) -> dict[int, int] | None:
    """{dim position: factor} of an affine expression that is a sum of dims times constants, else None."""
    if isinstance(expr, ir.AffineDimExpr):
        return {expr.position: 1}
    if isinstance(expr, ir.AffineMulExpr):
        term, factor = (expr.lhs, expr.rhs) if isinstance(expr.rhs, ir.AffineConstantExpr) else (expr.rhs, expr.lhs)
        inner = linear_terms(term)
        if not isinstance(factor, ir.AffineConstantExpr) or inner is None:
            return None
        return {d: f * factor.value for d, f in inner.items()}
    if isinstance(expr, ir.AffineAddExpr):
        lhs, rhs = linear_terms(expr.lhs), linear_terms(expr.rhs)
        if lhs is None or rhs is None or lhs.keys() & rhs.keys():
            return None
        return lhs | rhs
    return None


def window_steps(terms: list, outputs, taps) -> tuple[list[int], list[int]] | None:
    """(strides, dilations) when each of `terms` (linear_terms of a windowed input's spatial
    indices, as a conv or pool reads it) is output dim o * stride + window dim k * dilation, o
    and k taken in turn from `outputs` and `taps`, every stride and dilation >= 1; else None."""
    outputs, taps = list(outputs), list(taps)
    if not len(terms) == len(outputs) == len(taps):
        return None
    strides, dilations = [], []
    for dims, o, k in zip(terms, outputs, taps):
        if dims is None or set(dims) != {o, k}:
            return None
        strides.append(dims[o])
        dilations.append(dims[k])
    if min(strides + dilations, default=1) < 1:
        return None
    return strides, dilations
