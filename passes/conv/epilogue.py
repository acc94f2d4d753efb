"""A conv's epilogue: its fused activation after the bias, defined once for every lowering and
for the passes that evaluate it on constants (numpy)."""

from __future__ import annotations

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith

# activation -> its numpy twin (on the values the IR builder below computes on)
ACTIVATIONS = {"none": lambda v: v, "relu": lambda v: np.maximum(v, 0), "relu6": lambda v: np.clip(v, 0, 6)}
# activation -> (lower bound, upper bound) of the clamp it is; None = unbounded
BOUNDS = {"none": (None, None), "relu": (0.0, None), "relu6": (0.0, 6.0)}


def constant_like(value: ir.Value, number: float) -> ir.Value:
    """`number` as a constant of `value`'s type (a float, or a splat vector of floats)."""
    vtype = value.type
    if isinstance(vtype, ir.VectorType):
        attr = ir.FloatAttr.get(vtype.element_type, number)
        return arith.ConstantOp(vtype, ir.DenseElementsAttr.get_splat(vtype, attr)).result
    return arith.ConstantOp(vtype, ir.FloatAttr.get(vtype, number)).result


def activate(kind: str, value: ir.Value) -> ir.Value:
    """`kind` applied to `value` (a float or a vector of floats) at the current insertion point:
    arith.maximumf / minimumf, which propagate NaN as PyTorch's relu and hardtanh do."""
    low, high = BOUNDS[kind]
    if low is not None:
        value = arith.MaximumFOp(value, constant_like(value, low)).result
    if high is not None:
        value = arith.MinimumFOp(value, constant_like(value, high)).result
    return value
