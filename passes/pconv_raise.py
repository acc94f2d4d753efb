"""pconv-raise: convolutions with constant weights become pconv.conv2d or pconv.conv3d.

Raised: linalg.conv_2d_nchw_fchw, conv_2d_ngchw_gfchw, depthwise_conv_2d_nchw_chw,
conv_3d_ncdhw_fcdhw, and the linalg.generic that Torch-MLIR makes of a grouped 3-D conv
(recognised by its indexing maps, iterators and multiply-add body; `grouped_generic`). One
matcher serves both spatial ranks. The layer's pattern library and each kernel's pattern id (or
removal) are recovered from the exact zeros of the weights, and for a conv3d its kernel-group
shape (pconv.recover_groups); zero padding, the bias and a following ReLU / ReLU6 are folded into
the op. A conv whose every filter reads only its one input channel is raised as the depthwise
conv it is (frontend/depthwise.py passes a 3-D depthwise conv through Torch-MLIR so). A conv
whose kernel is larger than its padded input is refused, naming the layer.

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
from fretsaw.passes.match import (constant_array, linear_terms, producer, scalar_constant, single_user,
                                  through_reshapes, window_steps)

CONV_OPS = ("linalg.conv_2d_nchw_fchw", "linalg.conv_2d_ngchw_gfchw", "linalg.depthwise_conv_2d_nchw_chw",
            "linalg.conv_3d_ncdhw_fcdhw")
DENSE_OPS = ("linalg.conv_2d_nchw_fchw", "linalg.conv_3d_ncdhw_fcdhw")  # weight (F, C, K1, .., Kr)
GREATER = {2, 3, 9, 10}  # arith.cmpf ogt, oge, ugt, uge
LESS = {4, 5, 11, 12}  # arith.cmpf olt, ole, ult, ule


@dataclasses.dataclass
class ConvMatch:
    """What pconv-raise learned about one linalg convolution."""

    conv: ir.Operation
    input: ir.Value
    weight: np.ndarray  # (Cout, Cin/groups, K1, .., Kr)
    groups: int
    strides: list[int]
    dilations: list[int]
    padding: list[int]  # lows, then highs
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
    if kind == "linalg.generic":
        steps = grouped_generic(conv)
        if steps is None:
            return None
        strides, dilations = steps
    else:
        strides, dilations = (pconv.elements_to_numpy(conv.attributes[name]).tolist()
                              for name in ("strides", "dilations"))
    if kind in DENSE_OPS:
        groups = 1
    elif kind == "linalg.depthwise_conv_2d_nchw_chw":
        groups = weight.shape[0]
        weight = weight[:, None]
    else:  # grouped, (G, F, C, K1, .., Kr) with expand_shape on input/init, collapse on the result
        groups, f = weight.shape[0], weight.shape[1]
        weight = weight.reshape((groups * f,) + weight.shape[2:])
        collapse = single_user(result)
        if collapse is None or collapse.name != "tensor.collapse_shape":
            return None
        x, init = through_reshapes(x), through_reshapes(init)
        if len(x.type.shape) != weight.ndim:  # a grouped Conv1d, which Torch-MLIR makes a grouped 2-D conv
            return None
        result = collapse.results[0]
        dead.insert(0, collapse)
    rank = weight.ndim - 2
    match = ConvMatch(conv, x, weight.astype(np.float32), groups, strides, dilations, [0] * (2 * rank),
                      result=result, dead=dead)
    if not _match_padding(match) or not _match_init(match, init):
        return None
    _check_kernel_fits(match)
    _match_activation(match)
    _narrow_to_depthwise(match)
    return match


def grouped_generic(generic) -> tuple[list[int], list[int]] | None:
    """(strides, dilations) when `generic` is a grouped convolution as Torch-MLIR writes one of r
    spatial dims, else None: loops (n, g, f, o1..or) parallel then (c, k1..kr) reduction, input
    (N, G, C, I1..Ir) read at (n, g, c, oi * stride + ki * dilation), weight (G, F, C, K1..Kr) at
    (g, f, c, k1..kr), output (N, G, F, O1..Or) at (n, g, f, o1..or), body out + in * w."""
    if len(generic.operands) != 3 or len(generic.results) != 1:
        return None
    iterators = [str(t) for t in generic.attributes["iterator_types"]]
    rank = (len(iterators) - 4) // 2
    if rank not in pconv.OPS or iterators != ["#linalg.iterator_type<parallel>"] * (rank + 3) + \
            ["#linalg.iterator_type<reduction>"] * (rank + 1):
        return None
    maps = [ir.AffineMapAttr(m).value for m in generic.attributes["indexing_maps"]]
    if any(m.n_symbols for m in maps):
        return None
    dims = [linear_terms(e) for m in maps for e in m.results]
    x_map, w_map, y_map = dims[:rank + 3], dims[rank + 3:2 * rank + 6], dims[2 * rank + 6:]
    outputs, kernel = range(3, rank + 3), range(rank + 4, 2 * rank + 4)
    channel = rank + 3
    if y_map != [{d: 1} for d in range(rank + 3)] or \
            w_map != [{d: 1} for d in (1, 2, channel, *kernel)] or x_map[:3] != [{0: 1}, {1: 1}, {channel: 1}]:
        return None
    steps = window_steps(x_map[3:], outputs, kernel)
    if steps is None or not _multiply_add(generic):
        return None
    return steps


def _multiply_add(generic) -> bool:
    """Whether the body is `yield out + in * w` (operands of either op in either order)."""
    block = generic.regions[0].blocks[0]
    ops = list(block.operations)
    if [op.name for op in ops] != ["arith.mulf", "arith.addf", "linalg.yield"]:
        return False
    x, w, out = block.arguments
    mul, add, done = ops
    return {*mul.operands} == {x, w} and {*add.operands} == {mul.results[0], out} and \
        done.operands[0] == add.results[0]


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
    match.padding = low[2:] + high[2:]
    return True


# the sides of the padding, by spatial rank, in the order of the op's padding (lows, then highs)
SIDES = {2: ("top", "left", "bottom", "right"), 3: ("front", "top", "left", "back", "bottom", "right")}


def _check_kernel_fits(match: ConvMatch) -> None:
    """Refuse a conv whose dilated kernel is larger than its padded input (no output position)."""
    conv = match.conv
    rank = match.weight.ndim - 2
    spatial = match.input.type.shape[2:]
    padding = match.padding
    padded = [size + padding[i] + padding[rank + i] for i, size in enumerate(spatial)]
    kernel = list(match.weight.shape[2:])
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, match.dilations)]
    if all(s <= p for s, p in zip(spans, padded)):
        return

    def sizes(values):
        return "x".join(map(str, values))

    sides = " ".join(f"{side} {amount}" for side, amount in zip(SIDES[rank], padding))
    layer = conv.location.name_str if isinstance(conv.location, ir.NameLoc) else str(conv.location)
    raise op_error(conv, f"layer '{layer}': the kernel {sizes(kernel)} (dilation {sizes(match.dilations)}, spanning "
                         f"{sizes(spans)}) is larger than the padded input {sizes(padded)} (input {sizes(spatial)}, "
                         f"padding {sides}), so the conv has no output position; give a larger input "
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
        # a grouped conv's init is (N, G, F, O1, ..): one channel axis of G x F, as the result's
        init_values = init_values.reshape(init_values.shape[0], cout, -1)
        per_channel = init_values[:1, :, :1]
        if not (init_values == per_channel).all():
            return False
        match.bias_values = per_channel.reshape(cout).astype(np.float32)
        return True
    rank = match.weight.ndim - 2
    if op.name == "linalg.broadcast" and list(op.attributes["dimensions"]) == [0, *range(2, rank + 2)]:
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


def _narrow_to_depthwise(match: ConvMatch) -> None:
    """A conv whose every filter reads at most its own channel, Cout = M x Cin and filter o channel
    o // M, is the depthwise conv (groups = Cin) of those kernels: raised as one, its removed
    kernels are not kernels at all (how frontend/depthwise.py brings a 3-D depthwise conv through
    Torch-MLIR, which lowers none)."""
    weight, groups = match.weight, match.groups
    cout, cin_g = weight.shape[:2]
    cin = cin_g * groups
    if cin_g == 1 or cout % cin or not weight.any():
        return
    filters = np.arange(cout)
    local = filters // (cout // cin) - (filters // (cout // groups)) * cin_g  # own channel, inside the group
    own = weight[filters, local]
    others = weight.copy()
    others[filters, local] = 0
    if others.any():
        return
    match.weight, match.groups = own[:, None], cin


def rewrite(match: ConvMatch) -> None:
    conv = match.conv
    weight = match.weight
    patterns, kernel_pattern = pconv.recover_patterns(weight)
    packed = pconv.pack_weights(weight, patterns, kernel_pattern)
    with ir.InsertionPoint(conv), conv.location:
        packed_value = arith.ConstantOp(ir.RankedTensorType.get([packed.size], ir.F32Type.get()),
                                        ir.DenseElementsAttr.get(packed)).result
        bias = match.bias
        if bias is None and match.bias_values is not None and match.bias_values.any():
            bias = arith.ConstantOp(ir.RankedTensorType.get([len(match.bias_values)], ir.F32Type.get()),
                                    ir.DenseElementsAttr.get(match.bias_values)).result
        new = pconv.build_conv(match.input, packed_value, bias, result_type=match.result.type,
                                 patterns=patterns, kernel_pattern=kernel_pattern, strides=match.strides,
                                 padding=match.padding, dilations=match.dilations, groups=match.groups,
                                 activation=match.activation,
                                 group_shape=pconv.recover_groups(weight, match.groups))
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
    """Turn convolutions with constant weights into pconv.conv2d / conv3d, recovering their sparsity."""

    name: ClassVar[str] = "pconv-raise"

    def run(self, module: ir.Operation) -> None:
        # the convs are picked before any rewrite, which erases the elementwise generics it folds
        convs = [op for op in pconv.walk_ops(module, *CONV_OPS, "linalg.generic")
                 if op.name != "linalg.generic" or grouped_generic(op) is not None]
        for conv in convs:
            match = match_conv(conv)
            if match is not None:
                rewrite(match)
        verify_pconv(module)
