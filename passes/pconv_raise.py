"""pconv-raise: convolutions with constant weights become pconv.conv2d.

The layer's pattern library and each kernel's pattern id (or removal) are recovered from
the exact zeros of the weights; zero padding, the bias and a following ReLU / ReLU6 are
folded into the op. A conv whose kernel is larger than its padded input is refused, naming
the layer.

Before:
  %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] { tensor.yield %zero : f32 } ...
  %b = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%e : tensor<1x8x8x8xf32>) dimensions = [0, 2, 3]
  %c = linalg.conv_2d_nchw_fchw ins(%p, %w : ...) outs(%b : ...)
  %r = linalg.generic ... { arith.cmpf ugt ... arith.select ... }      // relu
After:
  %r = "pconv.conv2d"(%x, %packed, %bias) {activation = "relu", padding = array<i64: 1, 1, 1, 1>,
         patterns = dense<...> : tensor<Px3x3xi1>, kernel_pattern = dense<...> : tensor<8x3xi8>, ...}
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith

from fretsaw.dialect import pconv
from fretsaw.errors import op_error
from fretsaw.passes.base import ModulePass, verify_pconv
from fretsaw.passes.match import constant_array, producer, scalar_constant, single_user, through_reshapes

CONV_OPS = ("linalg.conv_2d_nchw_fchw", "linalg.conv_2d_ngchw_gfchw", "linalg.depthwise_conv_2d_nchw_chw")
GREATER = {2, 3, 9, 10}  # arith.cmpf ogt, oge, ugt, uge
LESS = {4, 5, 11, 12}  # arith.cmpf olt, ole, ult, ule


@dataclasses.dataclass
class ConvMatch:
    """What pconv-raise learned about one linalg convolution."""

    conv: ir.Operation
    input: ir.Value
    weight: np.ndarray  # (Cout, Cin/groups, KH, KW)
    groups: int
    padding: list[int]
    bias: ir.Value | None = None
    bias_values: np.ndarray | None = None  # a constant bias, one value per output channel
    result: ir.Value | None = None
    dead: list = dataclasses.field(default_factory=list)  # ops replaced, users first
    activation: str = "none"


def match_conv(conv) -> ConvMatch | None:
    """Recognise the conv, its weights, padding and bias; None when it cannot be raised."""
    kind = conv.name
    x, w, init = conv.operands[0], conv.operands[1], conv.operands[2]
    weight = constant_array(w)
    if weight is None:
        return None
    result = conv.results[0]
    dead = [conv]
    if kind == "linalg.conv_2d_nchw_fchw":
        groups = 1
    elif kind == "linalg.depthwise_conv_2d_nchw_chw":
        groups = weight.shape[0]
        weight = weight[:, None]
    else:  # ngchw_gfchw: (G, F, C, KH, KW) with expand_shape on input/init, collapse on the result
        groups, f = weight.shape[0], weight.shape[1]
        weight = weight.reshape((groups * f,) + weight.shape[2:])
        collapse = single_user(result)
        if collapse is None or collapse.name != "tensor.collapse_shape":
            return None
        x, init = through_reshapes(x), through_reshapes(init)
        if len(x.type.shape) != 4:  # a grouped Conv1d, which Torch-MLIR makes a grouped 2-D conv
            return None
        result = collapse.results[0]
        dead.insert(0, collapse)
    match = ConvMatch(conv, x, weight.astype(np.float32), groups, [0, 0, 0, 0], result=result, dead=dead)
    if not _match_padding(match) or not _match_init(match, init):
        return None
    _check_kernel_fits(match)
    _match_activation(match)
    return match


def _match_padding(match: ConvMatch) -> bool:
    pad = producer(match.input, "tensor.pad")
    if pad is None:
        return True
    low, high = list(pad.attributes["static_low"]), list(pad.attributes["static_high"])
    if len(pad.operands) != 1 or low[:2] != [0, 0] or high[:2] != [0, 0]:
        return True  # a pad we do not absorb stays in front of the conv
    yielded = pad.regions[0].blocks[0].operations[0].operands[0]
    if scalar_constant(yielded) != 0.0:
        return True
    match.input = pad.operands[0]
    match.padding = [low[2], low[3], high[2], high[3]]
    return True


def _check_kernel_fits(match: ConvMatch) -> None:
    """Refuse a conv whose dilated kernel is larger than its padded input (no output position)."""
    conv = match.conv
    height, width = match.input.type.shape[-2:]
    top, left, bottom, right = match.padding
    padded = [height + top + bottom, width + left + right]
    kernel = list(match.weight.shape[2:])
    dilations = pconv.elements_to_numpy(conv.attributes["dilations"]).tolist()
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    if spans[0] <= padded[0] and spans[1] <= padded[1]:
        return
    layer = conv.location.name_str if isinstance(conv.location, ir.NameLoc) else str(conv.location)
    raise op_error(conv, f"layer '{layer}': the kernel {kernel[0]}x{kernel[1]} (dilation {dilations[0]}x"
                         f"{dilations[1]}, spanning {spans[0]}x{spans[1]}) is larger than the padded input "
                         f"{padded[0]}x{padded[1]} (input {height}x{width}, padding top {top} left {left} bottom "
                         f"{bottom} right {right}), so the conv has no output position; give a larger input "
                         f"(example inputs, --input-shape), more padding or a smaller kernel", pass_name=Raise.name)


def _match_init(match: ConvMatch, init: ir.Value) -> bool:
    op = producer(init)
    if op is None:
        return False
    cout = match.weight.shape[0]
    if op.name == "linalg.fill":
        value = scalar_constant(op.operands[0])
        if value is None:
            return False
        match.bias_values = np.full(cout, value, np.float32)
        return True
    if op.name == "arith.constant":  # a bias folded to a constant (zero when BN had none)
        init_values = constant_array(init)
        if init_values is None:
            return False
        # a grouped conv's init is (N, G, F, OH, OW): one channel axis of G x F, as the result's
        init_values = init_values.reshape(init_values.shape[0], cout, *init_values.shape[-2:])
        per_channel = init_values[:1, :, :1, :1]
        if not (init_values == per_channel).all():
            return False
        match.bias_values = per_channel.reshape(cout).astype(np.float32)
        return True
    if op.name == "linalg.broadcast" and list(op.attributes["dimensions"]) == [0, 2, 3]:
        match.bias = op.operands[0]
        return True
    return False


def _clamp_bounds(generic, x_value: ir.Value) -> tuple[float | None, float | None] | None:
    """(low, high) when `generic` is an elementwise clamp of `x_value` by constants, else None."""
    inputs = list(generic.operands)[: len(generic.operands) - 1]
    iterators = [str(t) for t in generic.attributes["iterator_types"]]
    if x_value not in inputs or any("parallel" not in t for t in iterators):
        return None
    maps = [m.value for m in generic.attributes["indexing_maps"]]
    block = generic.regions[0].blocks[0]
    constants = {}
    for i, operand in enumerate(inputs):
        if operand == x_value:
            if not maps[i].is_permutation or list(maps[i].results) != list(maps[-1].results):
                return None
            x_arg = block.arguments[i]
        else:
            constants[i] = scalar_constant(operand)

    def const(v):
        if isinstance(v, ir.BlockArgument) and v.owner == block:
            return constants.get(v.arg_number)
        return scalar_constant(v)

    low = high = None
    current = x_arg
    ops = list(block.operations)
    i = 0
    while i < len(ops):
        op = ops[i]
        if op.name == "linalg.yield":
            return (low, high) if op.operands[0] == current else None
        if op.name == "arith.cmpf" and i + 1 < len(ops) and ops[i + 1].name == "arith.select":
            step = _cmp_select(op, ops[i + 1], current, const)
            i += 2
        elif op.name in ("arith.maximumf", "arith.maxnumf", "arith.minimumf", "arith.minnumf"):
            step = _minmax(op, current, const)
            i += 1
        else:
            return None
        if step is None:
            return None
        kind, bound, current = step
        if kind == "max":
            if high is not None:
                return None
            low = bound if low is None else max(low, bound)
        else:
            high = bound if high is None else min(high, bound)
    return None


def _cmp_select(cmp, select, current, const):
    a, b = cmp.operands
    t, f = select.operands[1], select.operands[2]
    if select.operands[0] != cmp.results[0] or {t, f} != {a, b} or current not in (a, b):
        return None
    other = b if a == current else a
    bound = const(other)
    pred = cmp.attributes["predicate"].value
    if bound is None or pred not in GREATER | LESS:
        return None
    picks_greater = (pred in GREATER) == (t == a)
    return ("max" if picks_greater else "min", bound, select.results[0])


def _minmax(op, current, const):
    a, b = op.operands
    if current not in (a, b):
        return None
    bound = const(b if a == current else a)
    if bound is None:
        return None
    return ("max" if "max" in op.name else "min", bound, op.results[0])


def _match_activation(match: ConvMatch) -> None:
    """Fold a following chain of clamps that amounts to ReLU or ReLU6."""
    low = high = None
    value, chain = match.result, []
    while True:
        user = single_user(value)
        if user is None or user.name != "linalg.generic":
            break
        bounds = _clamp_bounds(user, value)
        if bounds is None:
            break
        lo, hi = bounds
        if lo is not None:
            if high is not None:
                break
            low = lo if low is None else max(low, lo)
        if hi is not None:
            high = hi if high is None else min(high, hi)
        value = user.results[0]
        chain.append((user, low, high))
    # keep the longest prefix of the chain that is exactly relu or relu6
    for i in range(len(chain) - 1, -1, -1):
        generic, lo, hi = chain[i]
        if lo == 0.0 and hi in (None, 6.0):
            match.activation = "relu" if hi is None else "relu6"
            match.result = generic.results[0]
            match.dead = [g for g, _, _ in reversed(chain[: i + 1])] + match.dead
            return


def rewrite(match: ConvMatch) -> None:
    conv = match.conv
    weight = match.weight
    patterns, kernel_pattern = pconv.recover_patterns(weight)
    packed = pconv.pack_weights(weight, patterns, kernel_pattern)
    strides = pconv.elements_to_numpy(conv.attributes["strides"]).tolist()
    dilations = pconv.elements_to_numpy(conv.attributes["dilations"]).tolist()
    with ir.InsertionPoint(conv), conv.location:
        packed_value = arith.ConstantOp(ir.RankedTensorType.get([packed.size], ir.F32Type.get()),
                                        ir.DenseElementsAttr.get(packed)).result
        bias = match.bias
        if bias is None and match.bias_values is not None and match.bias_values.any():
            bias = arith.ConstantOp(ir.RankedTensorType.get([len(match.bias_values)], ir.F32Type.get()),
                                    ir.DenseElementsAttr.get(match.bias_values)).result
        new = pconv.build_conv(match.input, packed_value, bias, result_type=match.result.type,
                                 patterns=patterns, kernel_pattern=kernel_pattern, strides=strides,
                                 padding=match.padding, dilations=dilations, groups=match.groups,
                                 activation=match.activation)
    match.result.replace_all_uses_with(new.results[0])
    erase_dead(match.dead)


def erase_dead(roots: list) -> None:
    """Erase `roots` (now unused) and the pure producers that only they used."""
    doomed = {op.operation for op in roots}
    worklist = list(roots)
    while worklist:
        op = worklist.pop()
        for operand in op.operands:
            p = producer(operand)
            if p is None or p.name not in _PURE_PRODUCERS or p.operation in doomed:
                continue
            if all(use.owner.operation in doomed for r in p.results for use in r.uses):
                doomed.add(p.operation)
                worklist.append(p)
    while doomed:
        unused = [op for op in doomed if not any(True for r in op.results for _ in r.uses)]
        for op in unused:
            doomed.discard(op)
            op.erase()


_PURE_PRODUCERS = {"arith.constant", "tensor.pad", "tensor.empty", "tensor.expand_shape",
                   "tensor.collapse_shape", "linalg.fill", "linalg.broadcast"}


@dataclasses.dataclass(frozen=True)
class Raise(ModulePass):
    """Turn convolutions with constant weights into pconv.conv2d, recovering their sparsity."""

    name: ClassVar[str] = "pconv-raise"

    def run(self, module: ir.Operation) -> None:
        convs = [op for name in CONV_OPS for op in pconv.walk_ops(module, name)]
        for conv in convs:
            match = match_conv(conv)
            if match is not None:
                rewrite(match)
        verify_pconv(module)
