"""What fretsaw's passes on pconv convs share: a conv's constant bias, a conv rebuilt from dense
weights (its sparsity recovered again), the output channels a conv's users read."""

from __future__ import annotations

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith

from fretsaw.dialect import pconv
from fretsaw.passes.match import constant_array


def bias_values(conv: pconv.Conv) -> np.ndarray | None:
    """The conv's bias (zeros without one), None when it is not a constant."""
    if conv.bias is None:
        return np.zeros(conv.output_shape[1], dtype=np.float32)
    values = constant_array(conv.bias)
    return None if values is None else values.astype(np.float32)



def rebuild(op, weight: np.ndarray, bias: np.ndarray) -> None:
    """Replace pconv op `op` by the same conv of dense `weight` (its sparsity, kernel groups included,
    recovered again) and `bias`."""
    conv = pconv.Conv(op)
    patterns, kernel_pattern = pconv.recover_patterns(weight)
    packed = pconv.pack_weights(weight, patterns, kernel_pattern)
    with ir.InsertionPoint(op), op.location:
        f32 = ir.F32Type.get()
        packed_value = arith.ConstantOp(ir.RankedTensorType.get([packed.size], f32),
                                        ir.DenseElementsAttr.get(packed)).result
        bias_value = arith.ConstantOp(ir.RankedTensorType.get([len(bias)], f32), ir.DenseElementsAttr.get(bias)).result
        new = pconv.build_conv(conv.input, packed_value, bias_value, result_type=op.results[0].type,
                                 patterns=patterns, kernel_pattern=kernel_pattern, strides=conv.strides,
                                 padding=conv.padding, dilations=conv.dilations, groups=conv.groups,
                                 activation=conv.activation, group_shape=pconv.recover_groups(weight, conv.groups))
    op.results[0].replace_all_uses_with(new.results[0])
    op.erase()



def read_by_users(op) -> np.ndarray | None:
    """Per output channel of pconv op `op`: whether a user reads it; None unless every user is a
    pconv conv taking the result as its input (anything else may read every channel)."""
    result = op.results[0]
    read = np.zeros(pconv.Conv(op).output_shape[1], dtype=bool)
    users = [use.owner for use in result.uses]
    for user in users:
        if user.operation.name not in pconv.OP_RANKS or user.operands[0] != result or \
                any(operand == result for operand in list(user.operands)[1:]):
            return None
        read[pconv.Conv(user).read_channels()] = True
    return read if users else None

