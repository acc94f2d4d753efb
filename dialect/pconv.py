"""The pconv dialect: loading, builders, accessors and the semantic verifier.

`pconv.conv2d(input, packed_weights[, bias]) -> output` is a 2-D convolution, NCHW, whose
kernels each keep one shape of a small library (pattern sparsity) or are removed
(connectivity sparsity). A dense layer is the one-pattern library whose pattern keeps
every tap.

Attributes:
  patterns        P x KH x KW i1      the layer's pattern library
  kernel_pattern  Cout x Cin/groups i8  pattern id of each kernel, -1 = removed
  strides         array<i64: sh, sw>
  padding         array<i64: top, left, bottom, right>  zero padding of the input
  dilations       array<i64: dh, dw>
  groups          i64
  activation      "none" | "relu" | "relu6"  applied after the bias
  operandSegmentSizes  array<i32: 1, 1, 0 or 1>  whether the bias is there
  fretsaw.schedule     optional array<i64: rows, vectors, tile> from tuning (valid: passes/vectorize.py
                       schedule_problem; the verifier checks it against the conv, pconv-vectorize
                       against its target too)
`packed_weights` holds only the kept weights, in canonical order: filters in order, inside
a filter the kept kernels by input channel, inside a kernel the kept taps row-major.
Optional, added by pconv-filter-kernel-reorder and pconv-pack-fkw (see dialect/fkw.py):
  filter_order, filter_groups   the order filters are computed in, cut into balanced groups
  fkw_stride, fkw_index         the FKW arrays; with them packed_weights is in FKW order
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import irdl

from fretsaw.dialect import fkw as fkw_tables
from fretsaw.errors import op_error

CONV2D = "pconv.conv2d"
ACTIVATIONS = ("none", "relu", "relu6")
MAX_PATTERNS = 127  # patterns per layer: kernel_pattern's i8 ids 0..126, -1 = removed
# Taps of all a layer's patterns together beyond which its sparsity counts as unstructured
# (recover_patterns): 56 patterns of 4 taps (every 3x3 candidate of fretsaw.prune) stay below.
MAX_PATTERN_TAPS = 256


def load(ctx: ir.Context) -> None:
    """Load the IRDL definition of pconv into `ctx`."""
    text = resources.files(__package__).joinpath("pconv.irdl.mlir").read_text()
    irdl.load_dialects(ir.Module.parse(text, ctx))


def elements_to_numpy(attr: ir.Attribute) -> np.ndarray:
    """The values of a dense elements attribute as a numpy array (splats expanded)."""
    if not isinstance(attr, ir.DenseElementsAttr):
        raise TypeError(f"expected dense elements, got {attr}")
    shape = attr.type.shape
    if attr.is_splat:
        return np.full(shape, attr.get_splat_value().value)
    return np.array(attr).reshape(shape)


def conv_output_hw(in_hw, kernel_hw, strides, padding, dilations) -> tuple[int, int]:
    """Output height and width of a convolution (padding = top, left, bottom, right)."""
    out = []
    for i in range(2):
        span = dilations[i] * (kernel_hw[i] - 1) + 1
        out.append((in_hw[i] + padding[i] + padding[i + 2] - span) // strides[i] + 1)
    return out[0], out[1]


def packed_length(patterns: np.ndarray, kernel_pattern: np.ndarray) -> int:
    """Number of kept weights the kernel-pattern map selects."""
    taps = patterns.reshape(len(patterns), -1).sum(axis=1)
    kept = kernel_pattern[kernel_pattern >= 0]
    return int(taps[kept].sum())


def pack_weights(weight: np.ndarray, patterns: np.ndarray, kernel_pattern: np.ndarray) -> np.ndarray:
    """Canonical packed weights of a dense (Cout, Cin/g, KH, KW) weight array."""
    masks = np.zeros(weight.shape, dtype=bool)
    kept = kernel_pattern >= 0
    masks[kept] = patterns[kernel_pattern[kept]]
    return weight[masks].astype(np.float32)


def unpack_weights(packed: np.ndarray, patterns: np.ndarray, kernel_pattern: np.ndarray) -> np.ndarray:
    """Inverse of pack_weights: the dense weight array with zeros where nothing is kept."""
    cout, cin_g = kernel_pattern.shape
    weight = np.zeros((cout, cin_g) + patterns.shape[1:], dtype=np.float32)
    masks = np.zeros(weight.shape, dtype=bool)
    kept = kernel_pattern >= 0
    masks[kept] = patterns[kernel_pattern[kept]]
    weight[masks] = packed
    return weight


def recover_patterns(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(patterns P x KH x KW, kernel_pattern Cout x Cin_g) from the exact zeros of `weight`.

    Patterns are ordered by how many kernels use them, most used first. When there are more
    distinct shapes than MAX_PATTERNS, or their taps add up to more than MAX_PATTERN_TAPS,
    the sparsity is unstructured: every kept kernel gets the full pattern (connectivity is still
    exploited, zeros inside a kernel are multiplied). The lowerings unroll every pattern's taps,
    so the code grows with the taps of all patterns: a 7x7 conv with half its taps zero at random
    (112 patterns, 2,800 taps) took minutes to compile, for loops that each ran over one kernel.
    """
    cout, cin_g, kh, kw = weight.shape
    masks = (weight != 0).reshape(cout * cin_g, kh * kw)
    alive = masks.any(axis=1)
    kernel_pattern = np.full(cout * cin_g, -1, dtype=np.int64)
    if not alive.any():
        return np.ones((1, kh, kw), dtype=bool), kernel_pattern.reshape(cout, cin_g)
    unique, inverse, counts = np.unique(masks[alive], axis=0, return_inverse=True, return_counts=True)
    if len(unique) > MAX_PATTERNS or unique.sum() > MAX_PATTERN_TAPS:
        kernel_pattern[alive] = 0
        return np.ones((1, kh, kw), dtype=bool), kernel_pattern.reshape(cout, cin_g)
    order = np.lexsort((np.arange(len(unique)), -counts))
    rank = np.empty(len(unique), dtype=np.int64)
    rank[order] = np.arange(len(unique))
    kernel_pattern[alive] = rank[inverse.reshape(-1)]
    return unique[order].reshape(-1, kh, kw), kernel_pattern.reshape(cout, cin_g)



@dataclass(frozen=True)
class Conv2d:
    """Read access to a pconv.conv2d operation's operands and attributes."""

    op: ir.Operation

    @property
    def input(self) -> ir.Value:
        return self.op.operands[0]

    @property
    def packed_weights(self) -> ir.Value:
        return self.op.operands[1]

    @property
    def bias(self) -> ir.Value | None:
        return self.op.operands[2] if len(self.op.operands) > 2 else None

    @property
    def patterns(self) -> np.ndarray:
        return elements_to_numpy(self.op.attributes["patterns"]).astype(bool)

    @property
    def kernel_pattern(self) -> np.ndarray:
        return elements_to_numpy(self.op.attributes["kernel_pattern"]).astype(np.int64)

    def _array(self, name: str) -> list[int]:
        return list(self.op.attributes[name])

    @property
    def strides(self) -> list[int]:
        return self._array("strides")

    @property
    def padding(self) -> list[int]:
        return self._array("padding")

    @property
    def dilations(self) -> list[int]:
        return self._array("dilations")

    @property
    def groups(self) -> int:
        return self.op.attributes["groups"].value

    @property
    def activation(self) -> str:
        return self.op.attributes["activation"].value

    @property
    def input_shape(self) -> list[int]:
        return list(self.input.type.shape)

    @property
    def output_shape(self) -> list[int]:
        return list(self.op.results[0].type.shape)

    def read_channels(self) -> np.ndarray:
        """The input channels some kept kernel reads, ascending."""
        cout, cin_g = self.kernel_pattern.shape
        kept = (self.kernel_pattern >= 0).reshape(self.groups, cout // self.groups, cin_g).any(axis=1)
        return np.nonzero(kept.ravel())[0]

    def optional_table(self, name: str) -> np.ndarray | None:
        attr = self.op.attributes[name] if name in self.op.attributes else None
        return None if attr is None else elements_to_numpy(attr).astype(np.int64)

    def fkw_attributes(self) -> dict:
        return {name: self.optional_table(f) for name, f in (("order", "filter_order"), ("groups", "filter_groups"),
                                                           ("stride", "fkw_stride"), ("index", "fkw_index"))}

    def fkw(self) -> "fkw_tables.Fkw":
        """How to walk the kept kernels: the op's filter order and FKW tables (canonical without)."""
        return fkw_tables.Fkw.of(self.patterns, self.kernel_pattern, **self.fkw_attributes())

    def packed_attr(self) -> ir.DenseElementsAttr | None:
        """The packed weights' dense constant, or None when they are not one (no copy made)."""
        owner = self.packed_weights.owner
        if not isinstance(owner, ir.OpView) or owner.operation.name != "arith.constant":
            return None
        value = owner.attributes["value"]
        return value if isinstance(value, ir.DenseElementsAttr) else None

    def packed_values(self) -> np.ndarray | None:
        """The packed weights when they are a constant, else None."""
        value = self.packed_attr()
        return None if value is None else elements_to_numpy(value).astype(np.float32)


def build_conv2d(input: ir.Value, packed_weights: ir.Value, bias: ir.Value | None, *,
                 result_type: ir.Type, patterns: np.ndarray, kernel_pattern: np.ndarray,
                 strides, padding, dilations, groups: int, activation: str = "none") -> ir.Operation:
    """Create a pconv.conv2d at the current insertion point and location."""
    operands = [input, packed_weights] + ([bias] if bias is not None else [])
    attributes = {
        "patterns": ir.DenseElementsAttr.get(np.ascontiguousarray(patterns, dtype=bool)),
        "kernel_pattern": ir.DenseElementsAttr.get(np.ascontiguousarray(kernel_pattern, dtype=np.int8)),
        "strides": ir.DenseI64ArrayAttr.get([int(s) for s in strides]),
        "padding": ir.DenseI64ArrayAttr.get([int(p) for p in padding]),
        "dilations": ir.DenseI64ArrayAttr.get([int(d) for d in dilations]),
        "groups": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), int(groups)),
        "activation": ir.StringAttr.get(activation),
        "operandSegmentSizes": ir.DenseI32ArrayAttr.get([1, 1, 1 if bias is not None else 0]),
    }
    return ir.Operation.create(CONV2D, results=[result_type], operands=operands, attributes=attributes)


def _ranked(value: ir.Value, what: str, rank: int, op) -> list[int]:
    tensor = value.type
    if not isinstance(tensor, ir.RankedTensorType):
        raise op_error(op, f"{what} must be a ranked tensor, got {value.type}")
    if tensor.rank != rank:
        raise op_error(op, f"{what} must have rank {rank}, got {value.type}")
    if not isinstance(tensor.element_type, ir.F32Type):
        raise op_error(op, f"{what} must have f32 elements, got {value.type}")
    if not tensor.has_static_shape:
        raise op_error(op, f"{what} must have a static shape, got {value.type}")
    return list(tensor.shape)


def _check_arrays(conv: Conv2d, op) -> None:
    for name, length, low in (("strides", 2, 1), ("dilations", 2, 1), ("padding", 4, 0)):
        values = conv._array(name)
        if len(values) != length or min(values) < low:
            raise op_error(op, f"{name} must hold {length} integers >= {low}, got {values}")
    if conv.activation not in ACTIVATIONS:
        raise op_error(op, f"activation must be one of {ACTIVATIONS}, got '{conv.activation}'")


def _check_segments(op) -> None:
    """operandSegmentSizes must say what the operands are: input, packed_weights, then 0 or 1 bias."""
    count = len(op.operands)
    if count not in (2, 3):
        raise op_error(op, f"takes input, packed_weights and an optional bias, got {count} operands")
    segments = op.attributes["operandSegmentSizes"] if "operandSegmentSizes" in op.attributes else None
    if not isinstance(segments, ir.DenseI32ArrayAttr):
        raise op_error(op, f"operandSegmentSizes must be array<i32: 1, 1, 0 or 1> (the bias present or not), "
                           f"got {segments}")
    expected = [1, 1, count - 2]
    if list(segments) != expected:
        raise op_error(op, f"operandSegmentSizes is {segments} but the op has {count} operands: it must be "
                           f"array<i32: {', '.join(map(str, expected))}>")


def _check_tables(conv: Conv2d, op, cout: int, cin: int) -> tuple[np.ndarray, np.ndarray]:
    patterns_type = op.attributes["patterns"].type
    element = patterns_type.element_type
    if patterns_type.rank != 3 or not isinstance(element, ir.IntegerType) or element.width != 1:
        raise op_error(op, f"patterns must be a P x KH x KW i1 table, got {patterns_type}")
    map_type = op.attributes["kernel_pattern"].type
    if not isinstance(map_type.element_type, ir.IntegerType) or map_type.element_type.width != 8:
        raise op_error(op, f"kernel_pattern must hold i8 pattern ids (-1 = removed), got {map_type}")
    patterns, kernel_pattern = conv.patterns, conv.kernel_pattern
    if len(patterns) == 0:
        raise op_error(op, "patterns is empty: a layer needs at least one pattern")
    if len(patterns) > MAX_PATTERNS:
        raise op_error(op, f"patterns holds {len(patterns)} patterns, more than the {MAX_PATTERNS} a layer may have "
                           f"(pattern ids are i8, -1 = removed)")
    empty = [i for i, p in enumerate(patterns) if not p.any()]
    if empty:
        raise op_error(op, f"pattern {empty[0]} keeps no tap; mark removed kernels -1 in kernel_pattern instead")
    groups = conv.groups
    if groups < 1 or cin % groups or cout % groups:
        raise op_error(op, f"groups={groups} must divide input channels ({cin}) and output channels ({cout})")
    expected = (cout, cin // groups)
    if kernel_pattern.shape != expected:
        raise op_error(op, f"kernel_pattern is {'x'.join(map(str, kernel_pattern.shape))} but must be "
                           f"Cout x Cin/groups = {expected[0]}x{expected[1]}")
    bad = kernel_pattern[(kernel_pattern < -1) | (kernel_pattern >= len(patterns))]
    if bad.size:
        raise op_error(op, f"kernel_pattern holds pattern id {int(bad[0])}, outside -1..{len(patterns) - 1}")
    return patterns, kernel_pattern


def _check_schedule(conv: Conv2d, op) -> None:
    """A tuned `fretsaw.schedule` must be array<i64: rows, vectors, tile> that pconv-vectorize's
    schedule_problem accepts for this conv (the target's bounds are checked by the pass)."""
    from fretsaw.passes.conv.schedule import SCHEDULE, schedule_problem  # the schedule means what the lowering does

    if SCHEDULE not in op.attributes:
        return
    schedule = op.attributes[SCHEDULE]
    if not isinstance(schedule, ir.DenseI64ArrayAttr) or len(list(schedule)) != 3:
        raise op_error(op, f"{SCHEDULE} must be array<i64: rows, vectors, tile>, got {schedule}")
    problem = schedule_problem(list(schedule), conv)
    if problem:
        raise op_error(op, f"{SCHEDULE} = {schedule}: {problem}; tune again or remove the attribute")


def verify_conv2d(op) -> None:
    """Raise a FretsawError naming `op` and the mismatch when a pconv.conv2d is inconsistent."""
    _check_segments(op)
    conv = Conv2d(op)
    n, cin, h, w = _ranked(conv.input, "input", 4, op)
    out_shape = _ranked(op.results[0], "output", 4, op)
    (num_packed,) = _ranked(conv.packed_weights, "packed_weights", 1, op)
    _check_arrays(conv, op)
    cout = out_shape[1]
    patterns, kernel_pattern = _check_tables(conv, op, cout, cin)
    expected_len = packed_length(patterns, kernel_pattern)
    if num_packed != expected_len:
        raise op_error(op, f"packed_weights has {num_packed} elements but kernel_pattern and patterns "
                           f"keep {expected_len} weights")
    if conv.bias is not None:
        (num_bias,) = _ranked(conv.bias, "bias", 1, op)
        if num_bias != cout:
            raise op_error(op, f"bias has {num_bias} elements but the output has {cout} channels")
    problem = fkw_tables.check(patterns, kernel_pattern, **conv.fkw_attributes())
    if problem:
        raise op_error(op, problem)
    oh, ow = conv_output_hw((h, w), patterns.shape[1:], conv.strides, conv.padding, conv.dilations)
    if oh < 1 or ow < 1:
        top, left, bottom, right = conv.padding
        span = [(k - 1) * d + 1 for k, d in zip(patterns.shape[1:], conv.dilations)]
        raise op_error(op, f"the kernel spans {span[0]}x{span[1]} (with dilation) but the padded input is only "
                           f"{h + top + bottom}x{w + left + right}: the convolution has no output position")
    expected_out = [n, cout, oh, ow]
    if out_shape != expected_out:
        raise op_error(op, f"output shape {out_shape} does not match the convolution's shape {expected_out}")
    _check_schedule(conv, op)


def verify_module(module_op) -> None:
    """Run the semantic verifier on every pconv op under `module_op`."""
    for op in walk_ops(module_op, CONV2D):
        verify_conv2d(op)


def walk_ops(root, name: str) -> list:
    """All operations named `name` nested under `root`, in pre-order."""
    found = []

    def visit(op):
        if op.name == name:
            found.append(op.opview if hasattr(op, "opview") else op)
        return ir.WalkResult.ADVANCE

    root.walk(visit)
    return found
