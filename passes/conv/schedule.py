"""A conv's schedule: how it is computed on a SIMD target (register block, channel tile, lanes,
load sharing), chosen by one function of (conv, target), `plan`, which pconv-vectorize, the
tuner (fretsaw/tune.py: `candidates`) and the verifier's check of a tuned schedule all call.

A tuned schedule travels on the op as `fretsaw.schedule = array<i64: rows, vectors, tile, units,
filters>` (0 = the heuristic's choice; `filters`, the filters per block, is the kernel-group
lowering's only: plan_groups; the three- and four-count forms of earlier tunings leave the rest
to the heuristic); `schedule_problem` is the one definition of a valid one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from torch_mlir import ir

from fretsaw.dialect import pconv
from fretsaw.errors import op_error
from fretsaw.passes.conv.geometry import ceil_div, output_plane, pointwise, unit_1x1
from fretsaw.passes.cpu.blocks import (CACHE, CACHE_L2, GROUP_FBLOCKS, GROUP_TILE, GROUP_WASTE, RESERVED,
                                       SET_ACCUMULATORS, WHOLE_TILE_GROUPS, WHOLE_TILE_L1, block_budget,
                                       block_shapes, channel_tile, column_sets, depthwise, depthwise_block,
                                       filter_block, group_blocks, group_registers, group_unit_bytes, lane_shifts,
                                       lane_width, pointwise_vectors, register_block, set_accumulators,
                                       weights_fit, wide_blocks)
from fretsaw.passes.conv.groups import block_waste, dense_weights
from fretsaw.passes.conv.units import UNITS
from fretsaw.passes.cpu.staging import Layout, Plane

# A conv's tuned schedule (fretsaw/tune.py): array<i64: rows, vectors, tile[, units[, filters]]>; 0 = the heuristic's.
SCHEDULE = "fretsaw.schedule"
COUNTS = ("rows", "vectors", "tile", "units", "filters")
# Work units a schedule may ask for: more only multiply the units' bookkeeping
MAX_UNITS = 4096
# The tuner's search space beside the heuristic's choice: register block shapes tried, and the
# bounds of those shapes (not for wide blocks, which take a whole row's vectors)
BLOCKS = 5
MAX_ROWS = 6
MAX_VECTORS = 4


@dataclasses.dataclass(frozen=True)
class SimdTarget:
    """A CPU as a conv schedule sees it (pconv-vectorize's options; fretsaw.target.CpuTarget
    describes the whole machine).

    width:        lanes of one SIMD register (of the compute type: fp16 lanes with f16)
    accumulators: vector registers a register block may take
    shifts:       lane shifts of two vectors cost less than an unaligned load (AVX-512)
    cache:        bytes of L1 data cache a channel tile's input rows may take (the CPU's `l1`)
    l2:           bytes of L2 cache a kernel-group work unit's inputs and weights may take for it
                  to run all its channels in one tile (the CPU's `l2`: plan_groups)
    """

    width: int
    accumulators: int
    shifts: bool = False
    cache: int = CACHE
    l2: int = CACHE_L2

    @classmethod
    def of(cls, cpu) -> "SimdTarget":
        """The schedule's view of a fretsaw.target.CpuTarget computing in fp32."""
        return cls(cpu.vector_width, cpu.accumulators, cpu.shifts, cpu.l1, cpu.l2)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How pconv-vectorize computes one conv.

    rows, vectors: the register block, output rows x vectors per filter (or filter block)
    tile:          input channels per channel tile
    lanes:         lanes of the conv's vectors (lane_width: fewer than the target's for narrow outputs)
    shifts:        unaligned input vectors are lane shifts of aligned ones (lane_shifts)
    fblock:        filters computed together (a dense layer's filter blocks; else 1)
    columns:       tap column offsets with an accumulator set each (ColumnSets; () = plain)
    taps_first:    a filter block runs tap by tap (its weights of a channel do not fit in
                   registers beside its accumulators: weights_fit), else input vector by vector
    units:         work units the threads share, about (passes/conv/units.py: row groups or
                   column chunks x ranges of filters): more balance the threads, fewer re-read
                   less of the input per filter range
    """

    rows: int
    vectors: int
    tile: int
    lanes: int
    shifts: bool
    fblock: int
    columns: tuple[int, ...]
    taps_first: bool = False
    units: int = UNITS

    @property
    def counts(self) -> tuple[int, int, int, int]:
        return self.rows, self.vectors, self.tile, self.units


def counts_of(schedule) -> tuple[int, int, int, int, int]:
    """(rows, vectors, tile, units, filters) of a schedule given with or without its last counts (0 then)."""
    values = [int(value) for value in schedule]
    return tuple(values + [0] * (len(COUNTS) - len(values)))


def schedule_of(op) -> tuple[int, int, int, int, int]:
    """The (rows, vectors, tile, units, filters) the op's `fretsaw.schedule` attribute asks for,
    zeros without one (and for the counts it does not give)."""
    if SCHEDULE not in op.attributes:
        return 0, 0, 0, 0, 0
    return counts_of(ir.DenseI64ArrayAttr(op.attributes[SCHEDULE]))


def heuristic(conv: pconv.Conv, target: SimdTarget, rows: int = 0, vectors: int = 0, tile: int = 0,
              units: int = 0) -> Schedule:
    """The schedule with the given counts, the heuristics' choice where they are 0: the register
    block (register_block; depthwise_block for a depthwise conv), then the channel tile: L1 tiles
    (channel_tile), but all the channels for the pattern loops of a small plane on a core of an
    L1 larger than WHOLE_TILE_L1."""
    oh, ow = output_plane(conv)
    lanes, shifts = lane_width(ow, target.width), lane_shifts(ow, target.width, target.shifts)
    fblock = filter_block(conv)
    columns = column_sets(conv, lanes, shifts)
    budget, taps = block_budget(target.accumulators, fblock), int(conv.patterns[0].sum())
    if not (rows and vectors):
        rows_share = fblock == 1 or weights_fit(fblock, taps, fblock * budget, target.accumulators)
        if depthwise(conv):
            rows, vectors = depthwise_block(oh, ow, lanes, budget, wide_blocks(conv, shifts))
        else:
            rows, vectors = register_block(oh, ow, lanes, budget, wide_blocks(conv, shifts), columns, rows_share)
        if fblock == 1 and unit_1x1(conv) and not any(conv.padding):  # pointwise, as pconv-vectorize flattens it
            vectors = pointwise_vectors(conv, lanes, vectors, target.cache)
    taps_first = fblock > 1 and not weights_fit(fblock, taps, fblock * rows * vectors, target.accumulators)
    cin_g = conv.input_shape[1] // conv.groups
    layout = Layout.of(conv, lanes, rows, vectors)
    if tile:
        tile = min(tile, cin_g)
    elif fblock == 1 and layout.groups <= WHOLE_TILE_GROUPS and conv.patterns.shape[1:] != (1, 1) and \
            target.cache > WHOLE_TILE_L1:
        tile = cin_g  # a small plane's pattern runs on a core of a large L1: one tile (WHOLE_TILE_GROUPS)
    else:
        tile = channel_tile(conv, layout, lanes, target.cache)
    return Schedule(rows, vectors, tile, lanes, shifts, fblock, columns, taps_first, units or UNITS)


def plan(conv: pconv.Conv, target: SimdTarget, requested: tuple[int, ...] = (0, 0, 0, 0)) -> Schedule:
    """The conv's schedule on `target`: the `requested` counts (pconv-vectorize's options, cut to
    the conv; rows, vectors, tile and optionally units), else the op's tuned `fretsaw.schedule`,
    else the heuristics'. A requested or tuned schedule that does not fit is a FretsawError
    naming the op and what to do."""
    rows, vectors, tile, units = fitted(conv, requested, target)
    tuned_rows, tuned_vectors, tuned_tile, tuned_units, _ = schedule_of(conv.op)
    if not (rows and vectors):
        rows, vectors = tuned_rows, tuned_vectors
    return heuristic(conv, target, rows, vectors, tile or tuned_tile, units or tuned_units)


def kernel_groups(conv: pconv.Conv, weight) -> bool:
    """Whether pconv-vectorize lowers a conv in kernel groups (GroupEmitter, plan_groups) rather
    than with the 2-D pattern loops. A 3-D conv: always, but for a pointwise one (the 2-D GEMM
    over its D*H*W pixels: flatten_pointwise). A 2-D conv: when its weights are constant
    (`weight`, dense_weights; None when computed at run time), pruned (some weight is zero) and
    its filters come in blocks of 2 or more that keep the same (input channel, kernel position)
    columns, within GROUP_WASTE: RT3D's KGS or Vanilla on a Conv2d. Such a block is a small dense
    GEMM over its columns, each input vector loaded once for all its filters, where the pattern
    loops load it once per filter (measured: bench/RESULTS.md, 2026-12-01). A dense 2-D conv
    stays with the pattern loops' dense filter blocks, which ran faster than the group lowering."""
    if conv.rank == 3:
        return not pointwise(conv)
    if weight is None or np.count_nonzero(weight) == weight.size:
        return False
    cout_g = conv.output_shape[1] // conv.groups
    return any(block_waste(weight, f) <= GROUP_WASTE for f in GROUP_FBLOCKS if f > 1 and cout_g % f == 0)


def flat_groups(conv: pconv.Conv, target: SimdTarget) -> bool:
    """Whether a pointwise 2-D conv that takes the kernel-group lowering runs on its H*W pixels as
    one row (flatten_pointwise): when its rows lose lanes at their ends (W not a multiple of the
    lanes: 28 columns fill 28 of 32, 784 pixels 784 of 784) and its input fits the target's L2.
    Its work units then split the filters only, each reading the whole input, which from L2
    costs little; a 28x28 x 512-channel input (1.6 MB) read so made ResNet-50 slower (measured:
    bench/RESULTS.md, 2026-12-01)."""
    c, (h, w) = conv.input_shape[1], conv.output_shape[2:]  # a decimated conv's input: its output's plane
    return pointwise(conv) and w % lane_width(w, target.width) != 0 and c * h * w * 4 <= target.l2


def plan_groups(conv: pconv.Conv, target: SimdTarget, weight) -> tuple[Schedule, Layout]:
    """A conv's schedule on `target` for the kernel-group lowering (passes/conv/groups.py; a 2-D
    conv is the 3-D conv of depth 1): filters in blocks of `fblock` over their kept columns, a
    register block of rows x vectors per filter (group_blocks' first: the target's registers are
    its accumulators and the 6 it leaves for weights and loads), and its channel tiles, each count
    the op's tuned `fretsaw.schedule` gives (rows, vectors and filters together) instead. A conv of
    one depth tap (2-D, (1, k, k)) takes all its channels in one tile when a work unit's input
    rows and weights fit the target's L2 (group_unit_bytes): then no block parks and reloads its
    sums between tiles, which cost 2-D KGS layers 3-36% of their time (bench/RESULTS.md,
    2026-12-01). Else tiles whose input rows, over every depth tap, stay within half the
    target's L1 (the weights and parked sums of a tile's pass stream through the rest): 3x3x3
    convs ran fastest so even where their unit fit L2 (R3D-18 8% slower with one tile). A conv
    with no spatial taps (a temporal k x 1 x 1 conv, a pointwise one) takes all its channels in one tile:
    its columns share no input rows, so a tile keeps nothing in L1 for the next column, and each
    further tile only adds a pass that parks and reloads the unit's sums (a pointwise conv's L1
    tiles ran 1.3-2.5x slower). `weight`: the conv's dense weights. Returns the schedule and the
    flat layout of the conv's (H, W) plane it was planned on."""
    plane = Plane.of(conv, weight)
    _, _, oh, ow = plane.output_shape
    lanes = lane_width(ow, target.width)
    cin_g = conv.input_shape[1] // conv.groups
    rows, vectors, tile, units, fblock = schedule_of(conv.op)  # checked by pconv-vectorize (check_tuned)
    if not fblock:
        fblock, rows, vectors = group_blocks(oh, ow, lanes, target.accumulators + RESERVED,
                                             group_waste(conv, weight))[0]
    units = units or UNITS
    depth_taps = max(1, int((weight != 0).any(axis=(0, 1, 3, 4)).sum()))
    layout = Layout.of(plane, lanes, rows, vectors)
    if tile:  # tuned
        tile = min(tile, cin_g)
    elif conv.patterns.shape[2:] == (1, 1):  # a temporal or pointwise conv: no spatial taps
        tile = cin_g
    elif depth_taps == 1 and group_unit_bytes(plane, layout, weight, fblock, depth_taps,
                                              conv.output_shape[2] * layout.groups, units) <= target.l2:
        tile = cin_g
    else:
        tile = channel_tile(plane, layout, lanes, target.cache // (2 * depth_taps), GROUP_TILE)
    return Schedule(rows, vectors, tile, lanes, False, fblock, (), units=units), layout


def group_plane(conv: pconv.Conv, target: SimdTarget) -> tuple[int, int]:
    """(rows, columns) of output the kernel-group lowering computes for `conv` on `target`: one
    row of H*W for a pointwise 2-D conv it flattens (flat_groups), else the output's (H, W)."""
    if conv.rank == 2 and flat_groups(conv, target):
        return output_plane(conv)
    return tuple(conv.output_shape[-2:])


def group_waste(conv: pconv.Conv, weight) -> dict[int, float]:
    """The filter blocks a kernel-group conv may take (GROUP_FBLOCKS dividing its filters per
    group) -> multiply-adds per kept weight of each (groups.block_waste)."""
    cout_g = conv.output_shape[1] // conv.groups
    return {f: block_waste(weight, f) for f in GROUP_FBLOCKS if cout_g % f == 0}


def group_problem(schedule, plane: tuple[int, int] | None, conv: pconv.Conv, target: SimdTarget | None) -> str | None:
    """What makes `schedule` (rows, vectors, tile, units, filters) invalid for a conv of the
    kernel-group lowering, or None: a register block of rows x vectors per filter of `filters`
    filters (the three go together), filters one of GROUP_FBLOCKS dividing the filters per group,
    tile at most the input channels per group; on the output `plane` (rows, columns) the lowering
    computes and a `target`: at most its rows and vector columns, within the target's registers
    (group_registers: the accumulators and the RESERVED ones)."""
    rows, vectors, tile, units, fblock = counts_of(schedule)
    if len({rows == 0, vectors == 0, fblock == 0}) > 1:
        return (f"rows={rows}, vectors={vectors} and filters={fblock} go together for a kernel-group conv: "
                f"all >= 1 (a register block of filters) or all 0 (the heuristic's)")
    cout_g, cin_g = conv.output_shape[1] // conv.groups, conv.input_shape[1] // conv.groups
    if tile > cin_g:
        return f"tile={tile} exceeds the conv's {cin_g} input channels per group"
    if fblock and (fblock not in GROUP_FBLOCKS or cout_g % fblock):
        allowed = ", ".join(str(f) for f in GROUP_FBLOCKS if cout_g % f == 0)
        return f"filters={fblock} is not a block size for {cout_g} filters per group (one of {allowed})"
    if plane is None or target is None or not rows:
        return None
    oh, ow = plane
    row_vectors = ceil_div(ow, lane_width(ow, target.width))
    if rows > oh:
        return f"rows={rows} exceeds the {oh} output row(s) the kernel-group lowering computes"
    if vectors > row_vectors:
        return f"vectors={vectors} exceeds the {row_vectors} vector(s) an output row of {ow} takes"
    registers = target.accumulators + RESERVED
    if group_registers(fblock, rows * vectors) > registers:
        return (f"a block of {fblock} filters x {rows} x {vectors} vectors takes "
                f"{group_registers(fblock, rows * vectors)} vector registers, more than the {registers} of "
                f"accumulators={target.accumulators}")
    return None


def group_candidates(conv: pconv.Conv, target: SimdTarget, weight) -> tuple[list[tuple[int, int, int]], list[int]]:
    """What the tuner times for a conv of the kernel-group lowering (`conv` as pconv-vectorize
    hands it to GroupEmitter, `weight` its dense weights): register blocks as (rows, vectors,
    filters), the heuristic's first, then the next best by group_blocks' score; channel tiles, the
    heuristic's first, then half, double and all the channels."""
    first, _ = plan_groups(conv, target, weight)
    _, _, oh, ow = Plane.of(conv, weight).output_shape
    ranked = [(rows, vectors, fblock) for fblock, rows, vectors in
              group_blocks(oh, ow, first.lanes, target.accumulators + RESERVED, group_waste(conv, weight))]
    heuristic_block = (first.rows, first.vectors, first.fblock)
    blocks = [heuristic_block] + [block for block in ranked if block != heuristic_block]
    cin_g = conv.input_shape[1] // conv.groups
    tile = first.tile
    tiles = [tile] + sorted({t for t in (tile // 2, tile * 2, cin_g) if 0 < t <= cin_g and t != tile})
    return blocks[:BLOCKS], tiles


def candidates(conv: pconv.Conv, target: SimdTarget) -> tuple[list[tuple[int, int]], list[int]]:
    """What the tuner times: register blocks (the heuristic's first, then the next best by its
    score) and channel tiles (the heuristic's first, then half, double and all the channels)."""
    first = heuristic(conv, target)
    oh, ow = output_plane(conv)
    lanes = first.lanes
    wide = wide_blocks(conv, first.shifts)
    ranked = [(r, v) for r, v in block_shapes(oh, ow, lanes, block_budget(target.accumulators, first.fblock), wide,
                                              first.columns, not first.taps_first)
              if (v - 1) * lanes < ow and (wide or (r <= MAX_ROWS and v <= MAX_VECTORS))]
    blocks = [(first.rows, first.vectors)] + [shape for shape in ranked if shape != (first.rows, first.vectors)]
    cin_g = conv.input_shape[1] // conv.groups
    tile = first.tile
    tiles = [tile] + sorted({t for t in (tile // 2, tile * 2, cin_g) if 0 < t <= cin_g and t != tile})
    return blocks[:BLOCKS], tiles


def schedule_problem(schedule, conv: pconv.Conv | None = None, target: SimdTarget | None = None) -> str | None:
    """What makes `schedule` = (rows, vectors, tile[, units]) invalid, or None: the one definition of a valid
    schedule, which pconv-vectorize's options, the `fretsaw.schedule` attribute (the verifier, then
    pconv-vectorize at its target) and the tuning cache's entries are all checked against. 0 is
    the heuristic's choice; rows and vectors go together. With `conv`: a block of at most the
    rows and columns pconv-vectorize computes (output_plane: a pointwise conv is one row of H*W;
    rows past the edge would be computed and dropped), a tile of at most the input channels per
    group. With a `target`: at most the vectors of `lane_width` lanes an output row takes, and at
    most the accumulators the block search gives the conv (block_shapes: `accumulators`, shared
    by a dense layer's filter block, SET_ACCUMULATORS with column sets). Unchecked, negative
    counts computed NaNs and a 1000-row block did not finish compiling."""
    rows, vectors, tile, units, fblock = counts_of(schedule)
    for name, value in zip(COUNTS, (rows, vectors, tile, units, fblock)):
        if value < 0:
            return f"{name}={value} is negative: give a count >= 1, or 0 for the heuristic's choice"
    if units > MAX_UNITS:
        return f"units={units} exceeds {MAX_UNITS}: a conv has no use for more work units than that"
    if (rows == 0) != (vectors == 0):
        return (f"rows={rows} and vectors={vectors} go together: both >= 1 (a register block) or both 0 "
                f"(the heuristic's block)")
    if conv is None:
        return None
    weight = dense_weights(conv)
    if kernel_groups(conv, weight):
        return group_problem(schedule, group_plane(conv, target) if target else None, conv, target)
    if fblock:
        return (f"filters={fblock} is the kernel-group lowering's filter block (KGS / Vanilla convs); "
                f"this conv runs on the pattern loops: give filters=0")
    oh, ow = output_plane(conv)
    cin_g = conv.input_shape[1] // conv.groups
    if tile > cin_g:
        return f"tile={tile} exceeds the conv's {cin_g} input channels per group"
    if rows > oh:
        flat = " (an unpadded 1x1 conv is computed as one row of H*W output pixels)" if pointwise(conv) else ""
        return f"rows={rows} exceeds the {oh} output row(s) pconv-vectorize computes{flat}"
    if vectors > ow:
        return f"vectors={vectors} exceeds the {ow} output columns"
    if target is None or not rows:
        return None
    return _block_problem(conv, target, rows, vectors)


def _block_problem(conv: pconv.Conv, target: SimdTarget, rows: int, vectors: int) -> str | None:
    """What makes a rows x vectors block too wide or too large for the conv on `target`, or None."""
    _, ow = output_plane(conv)
    lanes = lane_width(ow, target.width)
    row_vectors = ceil_div(ow, lanes)
    if vectors > row_vectors:
        return f"vectors={vectors} exceeds the {row_vectors} vector(s) of {lanes} lanes an output row of {ow} takes"
    fblock, accumulators = filter_block(conv), target.accumulators
    columns = column_sets(conv, lanes, lane_shifts(ow, target.width, target.shifts))
    if columns:
        held, limit = rows * set_accumulators(ow, lanes, columns, vectors), SET_ACCUMULATORS
        budget = f"the {limit} a block with column sets {columns} may take"
    else:
        held, limit = rows * vectors * fblock, block_budget(accumulators, fblock) * fblock
        budget = (f"the {limit} of accumulators={accumulators}" if fblock == 1 else
                  f"the {limit} a block of {fblock} filters of a dense layer may take with accumulators={accumulators}")
    if held > limit:
        return f"a block of {rows} x {vectors} vectors holds {held} accumulators, more than {budget}"
    return None


def check_tuned(conv: pconv.Conv, target: SimdTarget) -> None:
    """A FretsawError naming the op, its `fretsaw.schedule` and what to do when the schedule does
    not fit the conv on `target` (schedule_problem; either lowering)."""
    problem = schedule_problem(schedule_of(conv.op), conv, target)
    if problem:
        raise op_error(conv.op, f"{SCHEDULE} = {conv.op.attributes[SCHEDULE]} does not fit width={target.width} "
                                f"accumulators={target.accumulators}: {problem}; tune it again on this target or "
                                f"remove it")


def fitted(conv: pconv.Conv, requested: tuple[int, ...], target: SimdTarget) -> tuple[int, int, int, int]:
    """pconv-vectorize's (rows, vectors, tile, units) options for this conv: rows, vectors and tile
    cut to its output rows, row vectors and input channels (the options apply to every conv; rows
    past those would compute nothing stored), once they and the op's `fretsaw.schedule` pass
    schedule_problem at this target. A FretsawError names the op, the schedule and what to do."""
    op, width = conv.op, target.width
    check_tuned(conv, target)
    rows, vectors, tile, units = counts_of(requested)[:4]
    oh, ow = output_plane(conv)
    cut = (min(rows, oh), min(vectors, ceil_div(ow, lane_width(ow, width))),
           min(tile, conv.input_shape[1] // conv.groups), units)
    problem = schedule_problem(cut, conv, target)
    if problem:
        cut_text = "" if cut[:3] == (rows, vectors, tile) else " (for this conv rows={} vectors={} tile={})".format(*cut)
        units_text = f" units={units}" if units else ""
        raise op_error(op, f"pconv-vectorize options rows={rows} vectors={vectors} tile={tile}{units_text}{cut_text}: "
                           f"{problem}; give a smaller block, or rows=0 vectors=0 for the heuristic's")
    return cut
