"""Register blocks and channel tiles of pconv-vectorize: the CPU heuristics behind a conv's
schedule (passes/conv/schedule.py asks them).

A register block is `rows` output rows x `vectors` vectors of one filter (or of a block of
alike filters in a dense layer) held in accumulators while the kept kernels' taps run; a channel
tile is the input channels whose block rows stay in cache while the unit's filters run over them.
"""

from __future__ import annotations

import numpy as np

from fretsaw.dialect import pconv
from fretsaw.passes.conv.geometry import ceil_div, output_plane, unit_1x1
from fretsaw.passes.cpu.staging import Layout

# Bytes of cache the input rows of a channel tile may take, unless the target says otherwise:
# more than L1 (tile_budget)
CACHE = 131072
# Accumulators of a `wide` register block: with 24 (12x2, 6x4, 8x3) the pattern's weights and a
# row's aligned and shifted input vectors no longer fit beside them (VGG-16's 3x3 shapes ran
# 1.2-4.7x slower than with 16)
WIDE_ACCUMULATORS = 16
# Accumulators of a register block with column sets (ColumnSets): with no lane-shifted input
# vectors to hold, 24 leave room for the pattern's 4 weights and the loaded input vectors
SET_ACCUMULATORS = 24
# Column sets are kept while their best block computes at most 1 / SET_WASTE the lanes per output
# of the best plain wide block (column_sets)
SET_WASTE = 0.85


def block_score(oh: int, ow: int, width: int, shape: tuple[int, int]) -> tuple:
    """How register_block ranks a (rows, vectors) block: the most useful outputs per computed
    output, with about 8 independent FMA chains (enough to hide the FMA latency on two pipes),
    then the most rows (taps of different rows share input loads), then the fewest registers."""
    rows, vectors = shape
    computed = ceil_div(oh, rows) * rows * ceil_div(ow, vectors * width) * vectors * width
    busy = min(rows * vectors, 8) / 8
    return (round(busy * oh * ow / computed, 2), rows, -rows * vectors)



def lane_width(ow: int, width: int) -> int:
    """The lanes a conv's vectors use: `width`, halved (down to 4) while that fills the output
    rows at least 1.5x better. 7 output columns fill 7 of 16 lanes but 7 of 8: on the AVX-512 VM
    a 512->512 3x3 conv at 7x7 took 1.18 ms with 16 lanes and 0.74 ms with 8, while 14x14 and
    56x56 outputs were faster with 16."""
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
    8-lane shifts cost more than they save: a pruned 512->512 3x3 conv at 7x7, built natively,
    min of 10 runs, 0.575 ms with shifts, 0.508 without (one thread 1.07 / 0.92)."""
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
                 columns: tuple[int, ...] = ()) -> list[tuple[int, int]]:
    """Register block shapes (rows, vectors) of at most `accumulators` vectors, best first by
    block_score. `wide` (blocks whose row vectors share aligned loads through lane shifts): at most
    WIDE_ACCUMULATORS, and among the most useful the most vectors along the row, then the most
    accumulators. Pattern 3x3 layers, AVX-512 VM, median ms with shifts (block_score's choice
    first): 64->64 @224 25x1 12.0, 8x2 9.7, 1x14 9.0; 128->128 @112 16x1 9.6, 8x2 9.9, 2x7 7.9;
    256->256 @56 14x1 8.8, 8x2 8.2, 4x4 6.5; 512->512 @28 14x1 9.9, 4x2 9.4, 7x2 8.5.
    With column sets (`columns`, the tap column offsets): set_shapes."""
    if wide and columns:
        return set_shapes(oh, ow, width, columns)
    shapes = [(r, v) for v in range(1, accumulators + 1) for r in range(1, min(oh, accumulators // v) + 1)]
    if not wide:
        return sorted(shapes, key=lambda shape: block_score(oh, ow, width, shape), reverse=True)
    shapes = [(r, v) for r, v in shapes if r * v <= WIDE_ACCUMULATORS]
    return sorted(shapes, key=lambda shape: (block_score(oh, ow, width, shape)[0], shape[1], shape[0] * shape[1]),
                  reverse=True)



def register_block(oh: int, ow: int, width: int, accumulators: int, wide: bool = False,
                   columns: tuple[int, ...] = ()) -> tuple[int, int]:
    """(rows, vectors) of the register block, at most `accumulators` vectors: the first of block_shapes.
    One output row (a pointwise conv's H*W) takes the most vectors, at least 6, that tile it exactly
    when there are such: no copies into and out of the flat layout then (784 pixels, 16 lanes, a
    pruned 128->512 1x1 conv: 7 vectors 0.196 ms, block_score's 10 0.232 ms)."""
    exact = [v for v in range(accumulators, 5, -1) if oh == 1 and ow % (v * width) == 0]
    if exact:
        return 1, exact[0]
    return block_shapes(oh, ow, width, accumulators, wide, columns)[0]



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
    of them live. AVX-512 (26 accumulators), dense layers, blocks of 4 filters, 4 / 5 / 6 vectors
    per filter (median ms): 3->64 7x7/2 @224 0.66 / 0.83 / 1.01; 3->32 3x3/2 @224 0.077 / 0.101 /
    0.102; 64->64 3x3 @56 0.62 / 0.73 / 0.73; 64->128 3x3/2 @56 0.35 / 0.39 / 0.41."""
    if fblock == 1:
        return accumulators
    return min(accumulators, (accumulators + 6) // 2)



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
    plain wide block; else () (plain accumulators). 512->512 @7x7 (8 lanes, 7 outputs a row: the
    offset-2 set takes a second vector per row), 2 threads: 0.58 ms plain, 0.69 with sets."""
    columns = tuple(tap_columns(conv))
    if not wide_blocks(conv, shifts) or len(columns) < 2 or columns[-1] >= width:
        return ()
    oh, ow = output_plane(conv)
    plain = block_score(oh, ow, width, block_shapes(oh, ow, width, WIDE_ACCUMULATORS, wide=True)[0])[0]
    best = set_score(oh, ow, width, columns, *set_shapes(oh, ow, width, columns)[0])
    return columns if best >= SET_WASTE * plain else ()



def tile_budget(conv: pconv.Conv, cache: int, columns: tuple[int, ...] = ()) -> int:
    """The cache bytes a channel tile's input rows may take: `cache`, a quarter of it (L1) for
    1x1 stride-1 convs, whose input vectors feed one FMA per filter and no other tap. Pruned 1x1
    convs of ResNet-50's shapes, 5 layers, sum of medians: 1.22 ms at 32 KiB, 1.35 at 128 KiB.
    Half of it with column sets (`columns`), whose one- or two-row blocks read fewer rows per
    channel (2 threads, ms at 32 / 64 / 128 KiB: 256->256 @56 6.23 / 6.31 / 7.20, 512->512 @28
    6.79 / 6.09 / 6.21, 512->512 @14 2.11 / 1.62 / 1.59, 128->256 3x3/2 @56 1.36 / 1.10 / 1.33)."""
    if unit_1x1(conv):
        return cache // 4
    return cache // 2 if columns else cache



def channel_tile(conv: pconv.Conv, layout: Layout, width: int, budget: int) -> int:
    """Input channels per tile: the block's input rows of a tile of channels stay within `budget`
    bytes of cache while every filter of the work unit runs over them."""
    taps = list(zip(*np.nonzero(conv.patterns.any(axis=0))))
    reach_rows = max(layout.tap(kh, kw)[1] for kh, kw in taps) + layout.rows
    reach_cols = max(layout.tap(kh, kw)[2] for kh, kw in taps) + layout.vectors * width
    lines = len(layout.planes) * reach_rows * (ceil_div(reach_cols * 4, 64) + 1)
    cin_g = conv.input_shape[1] // conv.groups
    return max(1, min(cin_g, budget // (lines * 64)))

