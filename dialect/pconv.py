"""The pconv dialect: loading, builders, accessors and the semantic verifier.

`pconv.conv2d(input, packed_weights[, bias]) -> output` is a 2-D convolution (NCHW) and
`pconv.conv3d` the same over NCDHW: one op per spatial rank, one Python accessor (`Conv`),
builder (`build_conv`) and verifier (`verify_conv`) for both. Their kernels each keep one
shape of a small library (pattern sparsity) or are removed (connectivity sparsity); a dense
layer is the one-pattern library whose pattern keeps every tap.

Attributes (r = spatial rank, 2 or 3):
  patterns        P x K1 x .. x Kr i1   the layer's pattern library
  kernel_pattern  Cout x Cin/groups i8  pattern id of each kernel, -1 = removed
  strides         array<i64: r values>
  padding         array<i64: low 1..r, high 1..r>  zero padding (2-D: top, left, bottom, right)
  dilations       array<i64: r values>
  groups          i64
  activation      "none" | "relu" | "relu6"  applied after the bias
  operandSegmentSizes  array<i32: 1, 1, 0 or 1>  whether the bias is there
Optional (IRDL here has no optional attributes: the file lists them, this verifier checks them):
  group_shape     array<i64: gOut, gIn>  kernel groups (KGS): the kernels of each gOut filters x
                  gIn input channels block share one pattern id (-1: the group is removed, Vanilla);
                  gOut divides the filters of a conv group (Cout/groups). pconv-raise sets it on a
                  conv3d whose weights have it (recover_groups). For a lowering it means: the gOut
                  filters of a group read the same (input channel, position) columns, so they may be
                  computed together, each input value loaded once for all gOut of them
  filter_order, filter_groups   i32 tables added by pconv-filter-kernel-reorder
  fkw_stride, fkw_index         i32 tables added by pconv-pack-fkw: packed_weights in FKW order
  fretsaw.schedule     array<i64: rows, vectors, tile, units, filters> from tuning (valid: passes/conv/schedule.py
                       schedule_problem; checked here against the conv, by pconv-vectorize
                       against its target too)
`packed_weights` holds only the kept weights, in canonical order: filters in order, inside
a filter the kept kernels by input channel, inside a kernel the kept taps row-major.
(dialect/fkw.py describes the reorder and FKW tables.)
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
CONV3D = "pconv.conv3d"
OP_RANKS = {CONV2D: 2, CONV3D: 3}  # op name -> spatial rank
OPS = {rank: name for name, rank in OP_RANKS.items()}
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


def conv_output_size(spatial, kernel, strides, padding, dilations) -> tuple[int, ...]:
    """Output spatial sizes of a convolution of any rank (padding = lows, then highs)."""
    rank = len(spatial)
    return tuple((spatial[i] + padding[i] + padding[rank + i] - (dilations[i] * (kernel[i] - 1) + 1)) // strides[i] + 1
                 for i in range(rank))


def packed_length(patterns: np.ndarray, kernel_pattern: np.ndarray) -> int:
    """Number of kept weights the kernel-pattern map selects."""
    taps = patterns.reshape(len(patterns), -1).sum(axis=1)
    kept = kernel_pattern[kernel_pattern >= 0]
    return int(taps[kept].sum())


def pack_weights(weight: np.ndarray, patterns: np.ndarray, kernel_pattern: np.ndarray) -> np.ndarray:
    """Canonical packed weights of a dense (Cout, Cin/g, K1, .., Kr) weight array."""
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
    """(patterns P x K1 x .. x Kr, kernel_pattern Cout x Cin_g) from the exact zeros of `weight`
    (Cout x Cin_g x K1 x .. x Kr).

    Patterns are ordered by how many kernels use them, most used first. When there are more
    distinct shapes than MAX_PATTERNS, or their taps add up to more than MAX_PATTERN_TAPS,
    the sparsity is unstructured: every kept kernel gets the full pattern (connectivity is still
    exploited, zeros inside a kernel are multiplied). The lowerings unroll every pattern's taps,
    so the code grows with the taps of all patterns: random zeros in a large kernel make a pattern
    per kernel or so, and compile time explodes for loops that each run over one kernel.
    """
    cout, cin_g, *kernel = weight.shape
    masks = (weight != 0).reshape(cout * cin_g, int(np.prod(kernel)))
    alive = masks.any(axis=1)
    kernel_pattern = np.full(cout * cin_g, -1, dtype=np.int64)
    if not alive.any():
        return np.ones((1, *kernel), dtype=bool), kernel_pattern.reshape(cout, cin_g)
    unique, inverse, counts = np.unique(masks[alive], axis=0, return_inverse=True, return_counts=True)
    if len(unique) > MAX_PATTERNS or unique.sum() > MAX_PATTERN_TAPS:
        kernel_pattern[alive] = 0
        return np.ones((1, *kernel), dtype=bool), kernel_pattern.reshape(cout, cin_g)
    order = np.lexsort((np.arange(len(unique)), -counts))
    rank = np.empty(len(unique), dtype=np.int64)
    rank[order] = np.arange(len(unique))
    kernel_pattern[alive] = rank[inverse.reshape(-1)]
    return unique[order].reshape(-1, *kernel), kernel_pattern.reshape(cout, cin_g)


GROUP_SIDES = (16, 8, 4, 2, 1)  # kernel-group sides recover_groups tries (RT3D's groups are powers of two)


def recover_groups(weight: np.ndarray, groups: int = 1) -> tuple[int, int] | None:
    """The kernel-group shape (gOut, gIn) of a 3-D conv's weights (Cout x Cin_g x K1 x K2 x K3, `groups`
    conv groups): the largest block of gOut filters x gIn input channels, each a power of two up to
    16 dividing Cout/groups and Cin_g, at least two filters, whose kernels all keep exactly the same
    positions (RT3D KGS; Vanilla, whole groups removed, shares the empty set). Of equal sizes the
    one with more filters wins: a lowering shares each input load among a group's filters. None
    for 2-D weights (their structure is patterns) and when no block of two filters shares its mask.

    Found from the exact zeros, as recover_patterns finds patterns; the kernels of a group then get
    one pattern id also when recover_patterns falls back to the dense pattern (unstructured), so the
    verifier's check of group_shape against kernel_pattern holds either way.
    """
    cout, cin_g, *kernel = weight.shape
    if len(kernel) != 3:
        return None
    masks = (weight != 0).reshape(cout * cin_g, -1)
    _, ids = np.unique(masks, axis=0, return_inverse=True)
    ids = ids.reshape(cout, cin_g)
    cout_g = cout // groups
    shapes = [(g_out, g_in) for g_out in GROUP_SIDES for g_in in GROUP_SIDES
              if g_out > 1 and cout_g % g_out == 0 and cin_g % g_in == 0]
    for g_out, g_in in sorted(shapes, key=lambda s: (s[0] * s[1], s[0]), reverse=True):
        blocks = ids.reshape(cout // g_out, g_out, cin_g // g_in, g_in)
        if (blocks == blocks[:, :1, :, :1]).all():
            return g_out, g_in
    return None


@dataclass(frozen=True)
class Conv:
    """Read access to a pconv convolution's operands and attributes, whatever its rank."""

    op: ir.Operation

    @property
    def rank(self) -> int:
        """Spatial dimensions: 2 for pconv.conv2d, 3 for pconv.conv3d."""
        return OP_RANKS[self.op.name]

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        return tuple(self.patterns.shape[1:])

    @property
    def group_shape(self) -> tuple[int, int] | None:
        """(gOut, gIn) of kernel-group structure, None without."""
        return tuple(self._array("group_shape")) if "group_shape" in self.op.attributes else None

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


def build_conv(input: ir.Value, packed_weights: ir.Value, bias: ir.Value | None, *,
               result_type: ir.Type, patterns: np.ndarray, kernel_pattern: np.ndarray,
               strides, padding, dilations, groups: int, activation: str = "none",
               group_shape: tuple[int, int] | None = None) -> ir.Operation:
    """Create a pconv.conv2d or pconv.conv3d (by the patterns' rank) at the current insertion point
    and location."""
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
    if group_shape is not None:
        attributes["group_shape"] = ir.DenseI64ArrayAttr.get([int(g) for g in group_shape])
    name = OPS.get(patterns.ndim - 1)
    if name is None:
        raise ValueError(f"pconv convolutions have 2 or 3 spatial dims, got patterns of shape {patterns.shape}")
    return ir.Operation.create(name, results=[result_type], operands=operands, attributes=attributes)


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


def _check_arrays(conv: Conv, op) -> None:
    rank = conv.rank
    for name, length, low in (("strides", rank, 1), ("dilations", rank, 1), ("padding", 2 * rank, 0)):
        attr = op.attributes[name]
        values = list(attr) if isinstance(attr, ir.DenseI64ArrayAttr) else None
        if values is None or len(values) != length or min(values) < low:
            shown = values if values is not None else attr
            raise op_error(op, f"{name} must be array<i64: {length} integers >= {low}> for {rank} spatial dims, "
                               f"got {shown}")
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


def _check_tables(conv: Conv, op, cout: int, cin: int) -> tuple[np.ndarray, np.ndarray]:
    patterns_type = op.attributes["patterns"].type
    element = patterns_type.element_type
    dims = " x ".join(f"K{i + 1}" for i in range(conv.rank))
    if patterns_type.rank != conv.rank + 1 or not isinstance(element, ir.IntegerType) or element.width != 1:
        raise op_error(op, f"patterns must be a P x {dims} i1 table ({conv.rank} spatial dims), got {patterns_type}")
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


def _check_groups(conv: Conv, op, kernel_pattern: np.ndarray) -> None:
    """group_shape (gOut, gIn) must tile Cout x Cin/groups with gOut dividing a conv group's filters,
    and the kernels of each group share one pattern id (-1: the whole group removed)."""
    if "group_shape" not in op.attributes:
        return
    attr = op.attributes["group_shape"]
    values = list(attr) if isinstance(attr, ir.DenseI64ArrayAttr) else []
    if len(values) != 2 or min(values) < 1:
        raise op_error(op, f"group_shape must be array<i64: gOut, gIn> of two integers >= 1, got {attr}")
    g_out, g_in = values
    cout, cin_g = kernel_pattern.shape
    if cout % g_out or cin_g % g_in:
        raise op_error(op, f"group_shape {g_out}x{g_in} does not tile the {cout}x{cin_g} kernels (Cout x Cin/groups)")
    if (cout // conv.groups) % g_out:
        raise op_error(op, f"group_shape {g_out}x{g_in}: {g_out} filters do not divide the {cout // conv.groups} "
                           f"filters of a conv group (groups={conv.groups}); a kernel group's filters must read the "
                           f"same input channels")
    blocks = kernel_pattern.reshape(cout // g_out, g_out, cin_g // g_in, g_in).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(cout // g_out, cin_g // g_in, -1)
    mixed = np.argwhere((blocks != blocks[:, :, :1]).any(axis=2))
    if len(mixed):
        f, c = mixed[0]
        ids = sorted(set(blocks[f, c].tolist()))
        raise op_error(op, f"kernel group (filters {f * g_out}..{(f + 1) * g_out - 1}, input channels "
                           f"{c * g_in}..{(c + 1) * g_in - 1}) mixes pattern ids {ids}: the kernels of a group of "
                           f"group_shape {g_out}x{g_in} share one pattern (or are removed together)")


def _check_optional_tables(op) -> None:
    """The reorder and FKW attributes, when present, are 1-D i32 tables."""
    for name in ("filter_order", "filter_groups", "fkw_stride", "fkw_index"):
        if name not in op.attributes:
            continue
        attr = op.attributes[name]
        kind = attr.type if isinstance(attr, ir.DenseIntElementsAttr) else None
        if kind is None or kind.rank != 1 or not isinstance(kind.element_type, ir.IntegerType) \
                or kind.element_type.width != 32:
            raise op_error(op, f"{name} must be a 1-D i32 table (dense<...> : tensor<Nxi32>), got {attr}")


def _check_schedule(conv: Conv, op) -> None:
    """A tuned `fretsaw.schedule` must be array<i64: rows, vectors, tile, units, filters> (or the
    three or four first, as earlier tunings wrote it) that pconv-vectorize's schedule_problem
    accepts for this conv (the target's bounds are checked by the pass). A pointwise conv3d,
    which pconv-vectorize computes as a 2-D GEMM the tuner does not search, takes none."""
    from fretsaw.passes.conv.geometry import pointwise  # the schedule means what the lowering does
    from fretsaw.passes.conv.schedule import SCHEDULE, schedule_problem

    if SCHEDULE not in op.attributes:
        return
    if conv.rank != 2 and pointwise(conv):
        raise op_error(op, f"{SCHEDULE}: a pointwise {op.name} takes no tuned schedule; remove the attribute")
    schedule = op.attributes[SCHEDULE]
    if not isinstance(schedule, ir.DenseI64ArrayAttr) or len(list(schedule)) not in (3, 4, 5):
        raise op_error(op, f"{SCHEDULE} must be array<i64: rows, vectors, tile, units, filters>, got {schedule}")
    problem = schedule_problem(list(schedule), conv)
    if problem:
        raise op_error(op, f"{SCHEDULE} = {schedule}: {problem}; tune again or remove the attribute")


def verify_conv(op) -> None:
    """Raise a FretsawError naming `op` and the mismatch when a pconv convolution is inconsistent."""
    _check_segments(op)
    conv = Conv(op)
    rank = conv.rank
    n, cin, *spatial = _ranked(conv.input, "input", rank + 2, op)
    out_shape = _ranked(op.results[0], "output", rank + 2, op)
    (num_packed,) = _ranked(conv.packed_weights, "packed_weights", 1, op)
    _check_arrays(conv, op)
    cout = out_shape[1]
    patterns, kernel_pattern = _check_tables(conv, op, cout, cin)
    _check_groups(conv, op, kernel_pattern)
    expected_len = packed_length(patterns, kernel_pattern)
    if num_packed != expected_len:
        raise op_error(op, f"packed_weights has {num_packed} elements but kernel_pattern and patterns "
                           f"keep {expected_len} weights")
    if conv.bias is not None:
        (num_bias,) = _ranked(conv.bias, "bias", 1, op)
        if num_bias != cout:
            raise op_error(op, f"bias has {num_bias} elements but the output has {cout} channels")
    _check_optional_tables(op)
    problem = fkw_tables.check(patterns, kernel_pattern, **conv.fkw_attributes())
    if problem:
        raise op_error(op, problem)
    out_spatial = conv_output_size(spatial, patterns.shape[1:], conv.strides, conv.padding, conv.dilations)
    if min(out_spatial) < 1:
        padding = conv.padding
        span = [(k - 1) * d + 1 for k, d in zip(patterns.shape[1:], conv.dilations)]
        padded = [size + padding[i] + padding[rank + i] for i, size in enumerate(spatial)]
        raise op_error(op, f"the kernel spans {'x'.join(map(str, span))} (with dilation) but the padded input is only "
                           f"{'x'.join(map(str, padded))}: the convolution has no output position")
    expected_out = [n, cout, *out_spatial]
    if out_shape != expected_out:
        raise op_error(op, f"output shape {out_shape} does not match the convolution's shape {expected_out}")
    _check_schedule(conv, op)


def verify_module(module_op) -> None:
    """Run the semantic verifier on every pconv op under `module_op`."""
    for op in walk_convs(module_op):
        verify_conv(op)


def walk_convs(root) -> list:
    """All pconv convolutions (of any rank) nested under `root`, in pre-order."""
    return walk_ops(root, *OP_RANKS)


def walk_ops(root, *names: str) -> list:
    """All operations named one of `names` nested under `root`, in pre-order."""
    found = []

    def visit(op):
        if op.name in names:
            found.append(op.opview if hasattr(op, "opview") else op)
        return ir.WalkResult.ADVANCE

    root.walk(visit)
    return found
