"""Register blocks and channel tiles of pconv-vectorize: the CPU heuristics behind a conv's
schedule (passes/conv/schedule.py asks them).

A register block is `rows` output rows x `vectors` vectors of one filter (or of a block of
alike filters in a dense layer) held in accumulators while the kept kernels' taps run; a channel
tile is the input channels whose block rows stay in cache while the unit's filters run over them.
"""

from __future__ import annotations

import numpy as np

from fretsaw.dialect import pconv
from fretsaw.passes.conv.geometry import ceil_div, output_plane
from fretsaw.passes.conv.groups import kept_columns
from fretsaw.passes.conv.units import block_units
from fretsaw.passes.cpu.staging import Layout

# Bytes of L1 data cache a channel tile's input rows may take, unless the target says otherwise
# (fretsaw.target.CpuTarget.l1): a tile is read once for every filter of a work unit, each input
# vector feeding a few FMAs, so its rows must come from L1 (from L2, the loads wait; measured:
# bench/RESULTS.md, 2026-11-30)
CACHE = 32768
# Bytes of L2 cache a kernel-group work unit's pass over every input channel may read again and
# again (its input rows and its filter blocks' weights), unless the target says otherwise
# (fretsaw.target.CpuTarget.l2): group_unit_bytes
CACHE_L2 = 256 << 10
# Input channels a tile takes at least: a filter's pass over a tile parks its partial sums in the
# output and starts a loop per pattern run, which fewer kept kernels per run no longer pay for
# (stride-2 convs, whose phase planes multiply the rows a channel takes, would get 4-8 channels)
MIN_TILE = 32
# Row groups of an output plane up to which the pattern loops take all of a conv's input channels
# in one tile (a conv with spatial taps), on cores whose L1 data cache is larger than
# WHOLE_TILE_L1: its work units then split the filters into ranges of few filters each (16 to 32
# at 14x14 and 7x7), too few to pay for re-reading an L1 tile, while every further tile adds a
# pass per filter that parks its sums and restarts a loop per pattern for two or three kernels;
# planes of 28x28 and more ran faster with L1 tiles (measured: bench/RESULTS.md, 2026-12-02)
WHOLE_TILE_GROUPS = 2
# L1 data cache bytes above which small planes take one tile (WHOLE_TILE_GROUPS). A whole tile
# streams a filter's every input channel from L2: ResNet-18 ran faster so on Zen 5 (48 KiB L1,
# 64-byte L2-to-L1 path), slower on Zen 4 (32 KiB L1, a 32-byte path; measured:
# bench/RESULTS.md, 2026-12-02); cores of a 32 KiB L1 (Zen 2-4, Skylake) keep the L1 tiles. The
# L1's size stands in for the L2 bandwidth, which no description gives.
WHOLE_TILE_L1 = 32768
# Vectors a pruned pointwise conv's block keeps at least when it shrinks to take all its input
# channels in one tile (pointwise_vectors): 2 and 3 ran slower than the tiled larger block on
# ResNet-50's 256 -> 64 @56x56 (measured: bench/RESULTS.md, 2026-12-02, Intel AVX-512)
POINTWISE_VECTORS = 4
# Input channels a kernel-group lowering's tile takes at least: its column loop runs over a
# tile's kept (channel, position) columns (RT3D's KGS keeps ~8 of 27 positions: 64 steps at 8
# channels), and a 3x3x3 conv's rows of 32 channels (3 depth taps) take twice a 32 KiB L1
GROUP_TILE = 8
# Output rows a depthwise conv's register block takes at most (depthwise_block): 8 to 16 ran
# alike on MobileNet-V2's planes, 4 slower (measured: bench/RESULTS.md, 2026-12-02); 8 leaves
# room beside the accumulators for the taps' weights and shifted inputs in AVX2's 16 registers
DEPTHWISE_ROWS = 8
# Accumulators of a `wide` register block: with 24 (12x2, 6x4, 8x3) the pattern's weights and a
# row's aligned and shifted input vectors no longer fit beside them, and the spills cost more than
# the larger block saves
WIDE_ACCUMULATORS = 16
# Accumulators of a register block with column sets (ColumnSets): with no lane-shifted input
# vectors to hold, 24 leave room for the pattern's 4 weights and the loaded input vectors
SET_ACCUMULATORS = 24
# Column sets are kept while their best block computes at most 1 / SET_WASTE the lanes per output
# of the best plain wide block (column_sets)
SET_WASTE = 0.85
# Vector registers a target keeps beside a conv's accumulators (CpuTarget.accumulators): the
# pattern's broadcast weights and the input vectors shared between taps
RESERVED = 6
# Filter block sizes a kernel-group lowering considers (passes/conv/groups.py); RT3D's groups
# hold 4 or 8 filters, and more filters per block leave too few accumulators per filter
GROUP_FBLOCKS = (1, 2, 3, 4, 6, 8)
# Independent FMA chains a kernel-group lowering's column step needs to keep the FMA pipes busy
GROUP_CHAINS = 10
# Multiply-adds per kept weight a pruned 2-D conv's filter blocks may compute and still take the
# kernel-group lowering (schedule.kernel_groups): KGS and Vanilla blocks compute none of the
# removed weights (1.0); a PatDNN pattern conv's filters keep different taps of a kernel, and a
# block of two computes 1.4-1.8 multiply-adds per kept weight, which the pattern loops avoid
GROUP_WASTE = 1.05


def block_score(oh: int, ow: int, width: int, shape: tuple[int, int], rows_share: bool = True) -> tuple:
    """How register_block ranks a (rows, vectors) block: the most useful outputs per computed
    output, with about 8 independent FMA chains (enough to hide the FMA latency on two pipes),
    then the most rows (taps of different rows share input loads), then the fewest registers.
    Without `rows_share` (a filter block run tap by tap, whose loads no other tap shares) the
    most vectors along a row come second instead: a tap's loads are then one contiguous run
    (the 7x7 stem: 1 row x 2 vectors, measured faster than 2 rows x 1)."""
    rows, vectors = shape
    computed = ceil_div(oh, rows) * rows * ceil_div(ow, vectors * width) * vectors * width
    busy = min(rows * vectors, 8) / 8
    return (round(busy * oh * ow / computed, 2), rows if rows_share else vectors, -rows * vectors)



def lane_width(ow: int, width: int) -> int:
    """The lanes a conv's vectors use: `width`, halved (down to 4) while that fills the output
    rows at least 1.5x better. 7 output columns fill 7 of 16 lanes but 7 of 8: the wasted lanes
    cost more than the narrower vectors; where the rows fill wide vectors well (14x14, 56x56) the
    full width stays faster."""
    def filled(lanes: int) -> float:
        return ow / (ceil_div(ow, lanes) * lanes)

    while width > 4 and filled(width // 2) >= 1.5 * filled(width):
        width //= 2
    return width



def lane_shifts(ow: int, width: int, shifts: bool) -> bool:
    """Whether a conv of `ow` output columns takes lane shifts (the target's `shifts`, its vectors
    `width` lanes): only when its vectors use the full width (lane_width), a cache line each on
    AVX-512, so that every unaligned load splits across two lines. Half as wide (8 lanes for 7
    output columns), an unaligned load mostly stays within one line, and the shuffles LLVM makes of
    8-lane shifts cost more than they save."""
    return shifts and lane_width(ow, width) == width



def chunk_shapes(ow: int, width: int, vectors: int) -> list[tuple[int, int]]:
    """(vectors, spare lanes past the output) of each column chunk of an output row: the full
    chunks, then a partial last one of the vectors that reach into the output."""
    full, rest = divmod(ow, vectors * width)
    last = [(ceil_div(rest, width), ceil_div(rest, width) * width - rest)] if rest else []
    return [(vectors, 0)] * full + last



def set_vectors(columns: tuple[int, ...], vectors: int, spare: int) -> int:
    """Accumulators per output row of a chunk of `vectors` with column sets: the set of column
    offset c takes one more vector when the chunk's outputs reach within c lanes of its end."""
    return sum(vectors + (1 if c > spare else 0) for c in columns)



def set_score(oh: int, ow: int, width: int, columns: tuple[int, ...], rows: int, vectors: int) -> float:
    """Useful outputs per computed FMA lane of a block with column sets (rows past the edge, lanes
    past the row's end, the sets' extra vectors averaged over the sets), as block_score's first
    figure: with about 8 accumulators at least."""
    chunks = chunk_shapes(ow, width, vectors)
    lanes = sum(set_vectors(columns, cv, spare) for cv, spare in chunks) * width / len(columns)
    busy = min(rows * set_accumulators(ow, width, columns, vectors), 8) / 8
    return round(busy * oh * ow / (ceil_div(oh, rows) * rows * lanes), 2)



def set_accumulators(ow: int, width: int, columns: tuple[int, ...], vectors: int) -> int:
    """Accumulators per output row of blocks of `vectors` with column sets (the widest chunk)."""
    return max(set_vectors(columns, cv, spare) for cv, spare in chunk_shapes(ow, width, vectors))



def set_shapes(oh: int, ow: int, width: int, columns: tuple[int, ...]) -> list[tuple[int, int]]:
    """Register blocks with column sets, best first: set_score, then the most vectors along the
    row, then the most accumulators, at most SET_ACCUMULATORS. VGG-16's 3x3 shapes: 1x7 @224 and
    @112, 2x4 @56, 4x2 @28, 7x1 @14."""
    ranked = []
    for v in range(1, ceil_div(ow, width) + 1):
        per_row = set_accumulators(ow, width, columns, v)
        for r in range(1, min(oh, SET_ACCUMULATORS // per_row) + 1):
            ranked.append(((set_score(oh, ow, width, columns, r, v), v, r * per_row), (r, v)))
    return [shape for _, shape in sorted(ranked, reverse=True)]



def block_shapes(oh: int, ow: int, width: int, accumulators: int, wide: bool = False,
                 columns: tuple[int, ...] = (), rows_share: bool = True) -> list[tuple[int, int]]:
    """Register block shapes (rows, vectors) of at most `accumulators` vectors, best first by
    block_score. `wide` (blocks whose row vectors share aligned loads through lane shifts): at most
    WIDE_ACCUMULATORS, and among the most useful the most vectors along the row, then the most
    accumulators: tall blocks reload each row's vectors per block, wide ones share them between
    neighbouring vectors (measured: bench/RESULTS.md, 2026-11-23). With column sets (`columns`,
    the tap column offsets): set_shapes."""
    if wide and columns:
        return set_shapes(oh, ow, width, columns)
    shapes = [(r, v) for v in range(1, accumulators + 1) for r in range(1, min(oh, accumulators // v) + 1)]
    if not wide:
        return sorted(shapes, key=lambda shape: block_score(oh, ow, width, shape, rows_share), reverse=True)
    shapes = [(r, v) for r, v in shapes if r * v <= WIDE_ACCUMULATORS]
    return sorted(shapes, key=lambda shape: (block_score(oh, ow, width, shape)[0], shape[1], shape[0] * shape[1]),
                  reverse=True)



def register_block(oh: int, ow: int, width: int, accumulators: int, wide: bool = False,
                   columns: tuple[int, ...] = (), rows_share: bool = True) -> tuple[int, int]:
    """(rows, vectors) of the register block, at most `accumulators` vectors: the first of block_shapes.
    One output row (a pointwise conv's H*W) takes the most vectors, at least 6, that tile it exactly
    when there are such: the input is then read in place, with no copy into or out of the flat
    layout, which outweighs block_score's larger block."""
    exact = [v for v in range(accumulators, 5, -1) if oh == 1 and ow % (v * width) == 0]
    if exact:
        return 1, exact[0]
    return block_shapes(oh, ow, width, accumulators, wide, columns, rows_share)[0]



def depthwise(conv: pconv.Conv) -> bool:
    """Whether each of the conv's filters reads one input channel (a depthwise conv, of any channel
    multiplier): one kernel a filter, lowered by pconv-vectorize's single-kernel loops unless it is
    a dense layer's filter blocks (filter_block)."""
    return conv.input_shape[1] == conv.groups and filter_block(conv) == 1



def depthwise_block(oh: int, ow: int, width: int, accumulators: int, wide: bool = False) -> tuple[int, int]:
    """(rows, vectors) of a depthwise conv's register block: one vector a row and the rows of the
    best-scoring (block_score) such block of block_shapes, at most DEPTHWISE_ROWS, the tallest of
    equal scores. Such a filter has no channel loop to spread a block's costs over: its unit
    copies the filter's rows of the row group into a slice (stage_slice), the block's rows and the
    taps' reach below them, then runs its one kernel. block_shapes' wide blocks with column sets
    (1x7 at 112x112, 2x4 at 56x56), which share loads between the many kernels of a filter,
    copy each input row of a 3x3 conv up to three times and start a unit per row or two: they
    ran MobileNet-V2's 112x112 and 56x56 depthwise convs 10-35% slower than 8x1 blocks, which
    ran faster still without column sets (measured: bench/RESULTS.md, 2026-12-02)."""
    shapes = [(r, v) for r, v in block_shapes(oh, ow, width, accumulators, wide) if v == 1 and r <= DEPTHWISE_ROWS]
    return max(shapes, key=lambda shape: (block_score(oh, ow, width, shape)[0], shape[0]))



def filter_block(conv: pconv.Conv) -> int:
    """Filters computed together (filter-level load sharing): 4 or 2 when every kernel is kept
    with the one pattern (a dense layer: all filters read the same input vectors), else 1."""
    if len(conv.patterns) != 1 or (conv.kernel_pattern != 0).any() or conv.packed_attr() is None:
        return 1
    cout_g = conv.output_shape[1] // conv.groups
    return next(f for f in (4, 2, 1) if cout_g % f == 0)



def block_accumulators(accumulators: int, fblock: int) -> int:
    """Accumulators of a register block of `fblock` filters: all of them for one filter, half the
    registers for filter blocks, whose unrolled taps broadcast `fblock` weights each and keep more
    of them live: more accumulators than that ran slower (measured: bench/RESULTS.md,
    2026-11-23)."""
    if fblock == 1:
        return accumulators
    return min(accumulators, (accumulators + RESERVED) // 2)



def weights_fit(fblock: int, taps: int, held: int, accumulators: int) -> bool:
    """Whether the `fblock` x `taps` broadcast weights of a filter block's channel fit in vector
    registers beside the `held` accumulators and one input vector (the target's registers are its
    `accumulators` and RESERVED more). Past that LLVM keeps them on the stack and reloads them
    around every FMA (a 7x7 stem's 196 weights: more spills and reloads than FMAs)."""
    return fblock * taps + held + 1 <= accumulators + RESERVED


def block_budget(accumulators: int, fblock: int) -> int:
    """Accumulators per filter of a register block of `fblock` filters (block_accumulators), at least 1."""
    return max(1, block_accumulators(accumulators, fblock) // fblock)



def wide_blocks(conv: pconv.Conv, shifts: bool) -> bool:
    """Whether the conv's register blocks run along the output rows (block_shapes' `wide`): with lane
    shifts, for single filters (not filter blocks) of kernels more than one column wide, whose
    column taps read neighbouring vectors of a row."""
    return shifts and filter_block(conv) == 1 and conv.patterns.shape[2] > 1



def tap_columns(conv: pconv.Conv) -> list[int]:
    """The column offsets (in the flat layout's planes) the conv's taps read, and 0."""
    (_, sw), (_, dw) = conv.strides, conv.dilations
    return sorted({0} | {int(kw) * dw // sw for kw in np.nonzero(conv.patterns.any(axis=(0, 1)))[0]})



def column_sets(conv: pconv.Conv, width: int, shifts: bool) -> tuple[int, ...]:
    """The tap column offsets the conv's wide blocks keep accumulator sets for (ColumnSets), 0
    first: with lane shifts (`shifts`), when taps read more than one column offset, all within a
    vector, and the best block with sets computes at most SET_WASTE times the lanes of the best
    plain wide block; else () (plain accumulators). E.g. 7 outputs a row in 8 lanes: the offset-2
    set takes a second vector per row, and the extra FMAs outweigh the shifts saved. Not for a
    depthwise conv, whose one-vector blocks (depthwise_block) ran faster without them."""
    columns = tuple(tap_columns(conv))
    if not wide_blocks(conv, shifts) or len(columns) < 2 or columns[-1] >= width or depthwise(conv):
        return ()
    oh, ow = output_plane(conv)
    plain = block_score(oh, ow, width, block_shapes(oh, ow, width, WIDE_ACCUMULATORS, wide=True)[0])[0]
    best = set_score(oh, ow, width, columns, *set_shapes(oh, ow, width, columns)[0])
    return columns if best >= SET_WASTE * plain else ()



def channel_tile(conv: pconv.Conv, layout: Layout, width: int, budget: int, least: int = MIN_TILE) -> int:
    """Input channels per tile: the block's input rows of a tile of channels stay within `budget`
    bytes of cache (the target's L1) while every filter of the work unit runs over them; at
    least `least` channels (or all of them)."""
    taps = list(zip(*np.nonzero(conv.patterns.any(axis=0))))
    reach_rows = max(layout.tap(kh, kw)[1] for kh, kw in taps) + layout.rows
    reach_cols = max(layout.tap(kh, kw)[2] for kh, kw in taps) + layout.vectors * width
    lines = len(layout.planes) * reach_rows * (ceil_div(reach_cols * 4, 64) + 1)
    cin_g = conv.input_shape[1] // conv.groups
    return min(cin_g, max(least, budget // (lines * 64)))



def pointwise_vectors(conv: pconv.Conv, width: int, vectors: int, budget: int) -> int:
    """The vectors of a pruned (one filter per block) pointwise conv's block: `vectors`, or when its
    input chunk of every channel does not fit one channel tile (channel_tile, `budget` bytes of
    L1), the most vectors from POINTWISE_VECTORS up that does. A filter keeps a quarter of its
    kernels or so, and every further tile makes each (filter, chunk) park its sums in the output
    and reload them, and makes a chunk's channels come from L2 (ResNet-50's 64 -> 256 @56x56 and
    MobileNet-V2's 96 -> 576 @14x14: 1.4-1.5x faster in one tile). A block that tiles the row
    exactly (the input read in place) only gives way to one that does too, unless the conv has
    at least as many filters as input channels: then staging its input is cheap beside the
    outputs (128 -> 512 @28x28: 5 vectors, staged, 1.57x faster than 7 in place in two tiles);
    with fewer filters the staging copy costs more than the tiles (144 -> 32 @28x28: 2x slower)."""
    cin_g = conv.input_shape[1] // conv.groups
    _, ow = output_plane(conv)

    def fits(v: int) -> bool:
        return channel_tile(conv, Layout.of(conv, width, 1, v), width, budget, least=1) >= cin_g

    if fits(vectors):
        return vectors
    smaller = [v for v in range(vectors - 1, POINTWISE_VECTORS - 1, -1) if fits(v)]
    in_place = [v for v in smaller if ow % (v * width) == 0]
    if ow % (vectors * width) == 0 and in_place:
        return in_place[0]
    if smaller and (ow % (vectors * width) or conv.output_shape[1] >= conv.input_shape[1]):
        return smaller[0]
    return vectors



def group_unit_bytes(plane, layout: Layout, weight: np.ndarray, fblock: int, depth_taps: int, row_groups: int,
                     units: int) -> int:
    """Bytes a kernel-group lowering's work unit reads again and again when it takes all the
    input channels in one tile: the input rows of its row group (every kept phase plane, depth
    tap and the taps' reach below it, whole rows), which each of its filter blocks reads, and its
    filter blocks' weights and column offsets, which each of its column chunks reads. When they
    stay in L2, one tile wins over L1 channel tiles, whose every further tile parks and reloads
    each block's sums (measured: bench/RESULTS.md, 2026-12-01). `plane`: the conv's (H, W) plane
    (staging.Plane); `weight`: its dense weights; `depth_taps`: the depth taps its kept columns
    use; `row_groups`: (output depth plane, row group) pairs; `units`: about how many work units
    the threads share, cut as the lowering cuts them (units.block_units)."""
    cout, cin_g = weight.shape[:2]
    blocks = cout // fblock
    per_unit = int(np.diff(block_units(blocks, row_groups, units)).max())
    taps = zip(*np.nonzero(plane.patterns.any(axis=0)))
    reach = layout.rows + max(layout.tap(kh, kw)[1] for kh, kw in taps)
    inputs = cin_g * depth_taps * len(layout.planes) * reach * layout.row * 4
    columns = kept_columns(weight, fblock).sum() / blocks  # per block, every channel
    return int(inputs + per_unit * columns * (fblock + 1) * 4)


def column_efficiency(fblock: int, accumulators: int) -> float:
    """The share of a column step's issue slots that are FMAs, per register block of `fblock`
    filters x `accumulators` vectors each: a step loads each of its input vectors once, broadcasts
    the `fblock` weights and reads the column's offset (plus its loop's own bookkeeping), and
    does fblock x accumulators FMAs; the targets run about as many vector loads as FMAs per
    cycle. About GROUP_CHAINS independent chains keep the FMA pipes busy: more than the FMA
    latency times the pipes (8 on Zen 3), which an L1-resident column loop measured short of
    (bench/RESULTS.md, 2026-12-01)."""
    fmas = fblock * accumulators
    busy = min(fmas, GROUP_CHAINS) / GROUP_CHAINS
    return busy * fmas / max(fmas, accumulators + fblock + 2)


def group_registers(fblock: int, accumulators: int) -> int:
    """Vector registers a column step of `fblock` filters x `accumulators` vectors each takes:
    its accumulators, the smaller of its input vectors and its broadcast weights (held while the
    other side is loaded one at a time: GroupEmitter.kernels) and that one."""
    return fblock * accumulators + min(fblock, accumulators) + 1


def group_speed(oh: int, ow: int, width: int, fblock: int, rows: int, vectors: int) -> float:
    """Useful multiply-adds per issue slot of a kernel-group lowering's register block over an
    oh x ow output: every row group counted with all its rows, each row's full chunks of
    `vectors` vectors, and a last partial chunk of only the vectors that reach into the output,
    whose fewer accumulators run at their own column_efficiency. The last row group computes
    only its own rows (GroupEmitter.unit_columns), in a shorter block whose few FMA chains this
    model rates below what they measured (bench/RESULTS.md, 2026-12-01): it keeps the blocks
    chosen for whole row groups, which ran fastest."""
    full, rest = divmod(ow, vectors * width)
    tail = ceil_div(rest, width)
    slots = full * fblock * rows * vectors / column_efficiency(fblock, rows * vectors)
    if tail:
        slots += fblock * rows * tail / column_efficiency(fblock, rows * tail)
    return fblock * oh * ow / width / (ceil_div(oh, rows) * slots)


def group_blocks(oh: int, ow: int, width: int, registers: int, waste: dict[int, float]) -> list[tuple[int, int, int]]:
    """Every (fblock, rows, vectors) register block of a kernel-group lowering that fits in
    `registers` vector registers (group_registers), over the filter blocks of `waste` (fblock ->
    multiply-adds per kept weight, groups.block_waste), best first: the most useful work per
    issue slot (group_speed); among near equals, the fewest loads per FMA (an input vector and a
    broadcast weight a column step each, which the model counts as free while they stay under
    the FMAs: an L1-resident column loop says otherwise, bench/RESULTS.md 2026-12-01), then the
    fewest registers. The tuner times the first few (schedule.group_candidates)."""
    scored = []
    for fblock, extra in sorted(waste.items()):
        for rows in range(1, oh + 1):
            if group_registers(fblock, rows) > registers:  # no taller block fits either
                break
            for vectors in range(1, ceil_div(ow, width) + 1):
                accumulators = rows * vectors
                if group_registers(fblock, accumulators) > registers:
                    break
                score = (round(group_speed(oh, ow, width, fblock, rows, vectors) / extra, 2),
                         -(accumulators + fblock) / (fblock * accumulators), -group_registers(fblock, accumulators))
                scored.append((score, (fblock, rows, vectors)))
    ranked = [block for _, block in sorted(scored, key=lambda item: item[0], reverse=True)]
    return ranked or [(1, 1, 1)]


def group_block(oh: int, ow: int, width: int, registers: int, waste: dict[int, float]) -> tuple[int, int, int]:
    """(fblock, rows, vectors) of a kernel-group lowering's register block: the first of group_blocks."""
    return group_blocks(oh, ow, width, registers, waste)[0]
