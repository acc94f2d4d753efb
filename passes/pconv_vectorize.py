"""pconv-vectorize: pconv.conv2d becomes SIMD loops that skip removed kernels and zero taps.

The input is copied into a zero-bordered buffer whose rows are laid end to end (split into phase
planes by the stride, see Layout), so that every output position reads tap (kh, kw) at a fixed
flat offset: one vector load per input vector, whatever the image width or stride (unpadded
stride-1 inputs whose blocks tile the output are read in place). Outputs are computed in
register blocks of `rows` output rows x `vectors` vectors, chosen per conv so that few outputs
past the image's edge are computed and about 8 accumulators hide the FMA latency, and stored
straight into the result (the last vector of a row masked). On AVX-512 (`shifts`) pattern convs
take wide blocks along the rows that keep one accumulator set per tap column offset
(ColumnSets): every tap reads the row's aligned vectors, and the sets are lane-shifted into the
outputs once per block; where that does not pay, input vectors off the vector boundaries are lane
shifts of aligned loads instead. For each
pattern, a branch-free loop runs over the filter's kept kernels of that pattern with the taps
unrolled; removed kernels and zero taps are never visited. Inside a kernel each input vector is
loaded once and feeds every (tap, output row) that reads it (kernel-level load-redundancy
elimination: a tap of row kh for output row r reads the same vector as tap kh-1 for row r+1).
Input channels are cut into tiles whose block rows fit in L1; each filter's partial sums are
parked in the output between tiles. Work units (row groups, or a one-row output's column
chunks, x ranges of filters) run on threads through scf.parallel; filters with no kept kernel
whose channel no user reads are not computed. With `f16=true` (AArch64 +fullfp16) the flat
input copy, the weights and the accumulators are fp16 (`width` fp16 lanes); the parked partial
sums and the output stay fp32.

Before:
  %y = "pconv.conv2d"(%x, %w) {patterns = dense<...> : tensor<2x3x3xi1>, ...}
After:
  scf.parallel (%unit) ... { scf.for %chunk ... { scf.for %tile ... { scf.for %co ... {
    %acc0:8 = scf.for %k = %run_begin to %run_end iter_args(%a0 = %partial0, ...) -> (vector<8xf32>, ...) {
      %w0 = vector.broadcast ...                       // the pattern's weights
      %i = vector.load %xbuf[%n, %ci, %offset]          // each input vector once
      %a0' = vector.fma %w0, %i, %a0; %a1' = vector.fma %w1, %i, %a1 ...  // every tap that reads it
    }
    ... the other patterns' runs ...; vector.store %acc, %out[...]  (vector.maskedstore at the edge)
  } } } }
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from contextlib import contextmanager, nullcontext
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, memref, scf, tensor, vector

from fretsaw.dialect import pconv
from fretsaw.dialect import fkw as fkw_tables
from fretsaw.dialect.fkw import gather_kernels, taps_of
from fretsaw.errors import op_error
from fretsaw.passes.base import ModulePass, verify_pconv
from fretsaw.passes.builders import (add, convert, element_of, guarded, index, lane_mask, load, load_index, loop,
                                     masked_vload, mul, parallel, read_buffer, splat, store, table, vector_type,
                                     vload, vstore, weight_constant)
from fretsaw.passes.conv.epilogue import activate
from fretsaw.passes.conv.rewrite import read_by_users


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclasses.dataclass(frozen=True)
class Layout:
    """The flat layout and register blocking of one conv (all static).

    The zero-padded input is split into phase planes by stride: plane (py, px) holds the padded
    input's rows py, py + sh, ... and columns px, px + sw, ... (one plane when the stride is 1).
    Output (y, x) then reads tap (kh, kw) at plane ((kh*dh) % sh, (kw*dw) % sw), position
    (y + (kh*dh) // sh, x + (kw*dw) // sw): consecutive outputs read consecutive floats, for any
    stride. Only the planes some tap reads are kept. Each plane's rows lie end to end with pitch
    `row`, a whole number of vectors, so every row a block reads starts on a vector boundary (in a
    buffer aligned to 64 bytes: aligned loads, and the lane shifts of `read_vectors`). Outputs
    are computed in register blocks of `rows` output rows x `vectors` vectors of `width` output
    columns: the output rows are cut into `groups` of `rows`, each row into `chunks` of
    `vectors * width` columns (a partial last chunk takes only the vectors that reach into the
    output, the last one masked); rows past the output's edge are computed and not stored."""

    row: int        # row pitch of a plane: ceil(padded width / sw), rounded up to whole vectors
    planes: tuple[tuple[int, int], ...]  # (row phase, column phase) of each kept plane
    strides: tuple[int, int]
    dilations: tuple[int, int]
    rows: int
    vectors: int
    groups: int
    chunks: int
    in_length: int  # flat length per plane, with room for the last block's taps

    @property
    def out_rows(self) -> int:
        return self.groups * self.rows

    def out_cols(self, width: int) -> int:
        return self.chunks * self.vectors * width

    def tap(self, kh: int, kw: int) -> tuple[int, int, int]:
        """(plane, row offset, column offset) that tap (kh, kw) reads for output (0, 0)."""
        (sh, sw), (dh, dw) = self.strides, self.dilations
        y, x = int(kh) * dh, int(kw) * dw
        return self.planes.index((y % sh, x % sw)), y // sh, x // sw

    @classmethod
    def of(cls, conv: pconv.Conv2d, width: int, rows: int, vectors: int) -> "Layout":
        _, _, h, w = conv.input_shape
        top, left, bottom, right = conv.padding
        (sh, sw), (dh, dw) = conv.strides, conv.dilations
        _, _, oh, ow = conv.output_shape
        taps = list(zip(*np.nonzero(conv.patterns.any(axis=0))))
        planes = tuple(sorted({((int(kh) * dh) % sh, (int(kw) * dw) % sw) for kh, kw in taps}))
        row = ceil_div(ceil_div(w + left + right, sw), width) * width
        groups, chunks = ceil_div(oh, rows), ceil_div(ow, vectors * width)
        last_row = groups * rows - 1 + max(int(kh) * dh // sh for kh, _ in taps)
        reach = last_row * row + chunks * vectors * width + max(int(kw) * dw // sw for _, kw in taps)
        length = max(reach, ceil_div(h + top + bottom, sh) * row)
        return cls(row, planes, (sh, sw), (dh, dw), rows, vectors, groups, chunks, ceil_div(length, width) * width)


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


@dataclasses.dataclass
class PatternRuns:
    """The FKW runs (one per filter position q and pattern p, channels ascending) cut by tile of
    input channels, in the order the loops read them: run i = (tile * Cout + q) * P + p is
    kernels begin[i] .. begin[i + 1] of `kernels` (FKW kernel numbers), one loop with the
    pattern's taps unrolled. With one tile this is the FKW order itself."""

    begin: np.ndarray
    kernels: np.ndarray

    @classmethod
    def build(cls, fkw, tile: int, tiles: int) -> "PatternRuns":
        runs = len(fkw.stride) - 1
        run_of = np.repeat(np.arange(runs), np.diff(fkw.stride))
        key = (fkw.index // tile) * runs + run_of
        counts = np.bincount(key, minlength=tiles * runs)
        return cls(np.concatenate([[0], np.cumsum(counts)]), np.argsort(key, kind="stable"))

    def weights(self, conv: pconv.Conv2d, fkw, element: ir.Type) -> tuple[ir.Value, np.ndarray]:
        """The packed weights as the loops read them, and each read kernel's first weight: FKW
        order with one tile; regathered tile by tile (so each tile's weights are contiguous)
        when the weights are constant. `element` f16 needs constant weights (rounded here)."""
        values = conv.packed_values()
        in_order = np.array_equal(self.kernels, np.arange(len(self.kernels)))
        if values is None or (in_order and isinstance(element, ir.F32Type)):
            return conv.packed_weights, fkw.weight[self.kernels]
        if in_order:
            return weight_constant(values, element), fkw.weight[self.kernels]
        taps = taps_of(conv.patterns)[fkw.pattern[self.kernels]]
        regathered, starts = gather_kernels(values, fkw.weight[self.kernels], taps)
        return weight_constant(regathered, element), starts


def spreads(layout: Layout) -> bool:
    """Whether the work units take the column chunks of one output row (a pointwise conv's H*W) as
    they take row groups: each unit then reads one chunk's input for its filters, not the whole
    row's once per range of filters."""
    return layout.groups == 1 and layout.chunks > 1


def computed_positions(conv: pconv.Conv2d, fkw, read: np.ndarray | None) -> int:
    """Filter positions (of fkw.order) to compute: all but the last ones whose filter has no kept
    kernel and whose channel no user reads (`read`; the reorder puts filters with the fewest
    kernels last). After pconv-drop-dead-filters that is most of MobileNet-V2's expand and
    depthwise channels: their planes of activated bias are not written."""
    if read is None:
        return len(fkw.order)
    skip = ~read & ~(conv.kernel_pattern >= 0).any(axis=1)
    live = len(fkw.order)
    while live and skip[fkw.order[live - 1]]:
        live -= 1
    return live


def unit_bounds(fkw, patterns: np.ndarray, row_groups: int) -> np.ndarray:
    """Filter positions cut into work units along the reorder groups: whole groups, merged into
    ranges of about equal work when there are more groups than needed (about 32 units in all)."""
    groups = fkw.groups
    wanted = max(1, ceil_div(32, row_groups))
    if len(groups) - 1 <= wanted:
        return groups
    position = np.repeat(np.arange(len(fkw.stride) - 1) // len(patterns), np.diff(fkw.stride))  # per kernel
    work = np.bincount(position, weights=taps_of(patterns)[fkw.pattern], minlength=len(fkw.order)) + 1
    at_groups = np.concatenate([[0], np.cumsum(work)])[groups]
    picks = np.searchsorted(at_groups, np.linspace(0, at_groups[-1], wanted + 1)[1:-1])
    return np.unique(np.concatenate([[0], groups[picks], [groups[-1]]]))


def copy_rows(width: int, source, target, rows: int, length: int, source_at, target_at) -> None:
    """Copy `rows` rows of `length` floats with full vectors and one masked tail, converting
    to the target's float type."""
    full, tail = divmod(length, width)
    to = element_of(target)
    with loop(0, rows) as r:
        with loop(0, full) as j:
            x = mul(j, width)
            vstore(convert(vload(width, source, source_at(r, x)), to), target, target_at(r, x))
        if tail:
            mask = lane_mask(width, tail)
            x = index(full * width)
            value = masked_vload(width, source, source_at(r, x), mask)
            vector.MaskedStoreOp(target, [index(i) for i in target_at(r, x)], mask, convert(value, to))


def zero_span(width: int, target, plane, start, length: int) -> None:
    """Zero `length` floats of `target` from flat position `start` of `plane` (full vectors, the
    last one masked): nothing past them is written."""
    zeros = splat(vector_type(width, element_of(target)), 0.0)
    full, tail = divmod(length, width)
    if full:
        with loop(0, full) as j:
            vstore(zeros, target, [*plane, add(start, mul(j, width))])
    if tail:
        vector.MaskedStoreOp(target, [index(i) for i in (*plane, add(start, full * width))],
                             lane_mask(width, tail), zeros)


def zero_around(width: int, target, plane, pitch: int, length: int, rows: tuple[int, int],
                cols: tuple[int, int]) -> None:
    """Zero a flat plane of `length` floats (rows of `pitch`) except where the copy puts the data:
    columns cols[0] .. cols[1] - 1 of rows rows[0] .. rows[1] - 1. What is zeroed: before the first
    data row's columns, between each data row's last column and the next one's first, and after
    the last data row's."""
    (r0, r1), (c0, c1) = rows, cols
    if r1 <= r0 or c1 <= c0:
        zero_span(width, target, plane, index(0), length)
        return
    first, end = r0 * pitch + c0, (r1 - 1) * pitch + c1
    zero_span(width, target, plane, index(0), first)
    if pitch > c1 - c0 and r1 - r0 > 1:
        with loop(r0, r1 - 1) as q:
            zero_span(width, target, plane, add(mul(q, pitch), c1), pitch - (c1 - c0))
    zero_span(width, target, plane, index(end), length - end)


def flat_input(conv: pconv.Conv2d, layout: Layout, width: int, element: ir.Type) -> ir.Value:
    """memref<N x C x planes x in_length> of `element`: the zero-padded input split into its phase
    planes, each plane's rows laid end to end (channels in parallel), converted to `element`. Only
    the borders around the copied rows are zeroed (`zero_around`), not each whole plane before
    the rows are copied in (ResNet-18 built natively spent 6.8% of its time in the memset that
    zeroing became), and only the channels some kept kernel reads are filled: a 3.6x-pruned MobileNet-V2's depthwise
    convs keep about 1 channel in 4."""
    n, c, h, w = conv.input_shape
    top, left, _, _ = conv.padding
    sh, sw = layout.strides
    source = read_buffer(conv.input)
    flat = memref.AllocOp(ir.MemRefType.get([n, c, len(layout.planes), layout.in_length], element),
                          [], [], alignment=64).result
    read = conv.read_channels()
    channels = table(read) if len(read) < c else None
    with loop(0, n) as i, parallel(0, len(read)) as k:
        ch = load_index(channels, k) if channels is not None else k
        if (sh, sw) == (1, 1):
            zero_around(width, flat, [i, ch, 0], layout.row, layout.in_length, (top, top + h), (left, left + w))
            copy_rows(width, source, flat, h, w,
                      source_at=lambda r, x: [i, ch, r, x],
                      target_at=lambda r, x: [i, ch, 0, add(mul(add(r, top), layout.row), add(x, left))])
        else:
            # deinterleave: plane (py, px) row q, column qx holds input row q*sh + py - top, column qx*sw + px - left
            for p, (py, px) in enumerate(layout.planes):
                first_row, first_col = ceil_div(max(0, top - py), sh), ceil_div(max(0, left - px), sw)
                end_row = max(first_row, (h - 1 + top - py) // sh + 1)
                end_col = max(first_col, (w - 1 + left - px) // sw + 1)
                zero_around(width, flat, [i, ch, index(p)], layout.row, layout.in_length, (first_row, end_row),
                            (first_col, end_col))
                if sw == 2:
                    with loop(first_row, end_row) as q:
                        pick_columns(width, source, flat, [i, ch, add(mul(q, sh), py - top)], 2 * first_col + px - left,
                                     w, [i, ch, p], add(mul(q, layout.row), first_col), end_col - first_col)
                    continue
                with loop(first_row, end_row) as q, loop(first_col, end_col) as qx:
                    value = load(source, [i, ch, add(mul(q, sh), py - top), add(mul(qx, sw), px - left)])
                    store(convert(value, element), flat, [i, ch, p, add(mul(q, layout.row), qx)])
    return flat


def pick_columns(width: int, source, target, row, first: int, length: int, plane, at, count: int) -> None:
    """Store `count` source columns first, first + 2, ... of the source row (`row`: its leading
    indices; `length` columns) at target[*plane, at ...], converted to the target's float type:
    per vector two loads and one shuffle of the even lanes (a stride-2 phase plane row; copied element
    by element, MobileNet-V2's stride-2 depthwise convs took 12-25% longer). The loads that would
    reach past the source row are masked."""
    to = element_of(target)
    evens = list(range(0, 2 * width, 2))

    def half(column, lanes):
        if lanes >= width:
            return vload(width, source, [*row, column])
        return masked_vload(width, source, [*row, column], lane_mask(width, lanes))

    whole = 0  # vectors whose two loads stay inside the row
    while (whole + 1) * width <= count and first + 2 * (whole + 1) * width <= length:
        whole += 1
    if whole:
        with loop(0, whole) as j:
            column = add(mul(j, 2 * width), first)
            picked = vector.ShuffleOp(half(column, width), half(add(column, width), width), evens).result
            vstore(convert(picked, to), target, [*plane, add(at, mul(j, width))])
    for j in range(whole, ceil_div(count, width)):
        column = first + 2 * j * width
        picked = vector.ShuffleOp(half(index(column), length - column),
                                  half(index(column + width), length - column - width), evens).result
        vector.MaskedStoreOp(target, [index(v) for v in (*plane, add(at, j * width))],
                             lane_mask(width, min(width, count - j * width)), convert(picked, to))


def block_reads(taps, layout: Layout, width: int, columns=None):
    """The input vectors one kernel of a pattern reads for a register block, plane by plane and
    row by row: ((plane, row, column offset), [(tap, accumulator), ...]), each vector listed once.
    `columns(col, r)`: the (column offset, accumulator) pairs a tap at column offset `col` of the
    block's output row r feeds (ColumnSets.columns); by default vector v of the row's block."""
    reads: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    for t, (kh, kw) in enumerate(taps):
        plane, row, col = layout.tap(kh, kw)
        for r in range(layout.rows):
            pairs = columns(col, r) if columns else [(col + v * width, r * layout.vectors + v)
                                                     for v in range(layout.vectors)]
            for column, accumulator in pairs:
                reads.setdefault((plane, row + r, column), []).append((t, accumulator))
    return sorted(reads.items())


def tap_columns(conv: pconv.Conv2d) -> list[int]:
    """The column offsets (in the flat layout's planes) the conv's taps read, and 0."""
    (_, sw), (_, dw) = conv.strides, conv.dilations
    return sorted({0} | {int(kw) * dw // sw for kw in np.nonzero(conv.patterns.any(axis=(0, 1)))[0]})


def column_sets(conv: pconv.Conv2d, width: int, shifts: bool) -> tuple[int, ...]:
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


@dataclasses.dataclass(frozen=True)
class ColumnSets:
    """Accumulators kept per tap column offset c (output shifts): A_c[r][v] sums weight x the
    aligned input vector v of the block's row r, for the taps at column offset c. Output vector v
    of row r is then A_0[r][v] + sum over c > 0 of lanes c .. c + width of A_c[r][v], A_c[r][v+1]
    (one vector.shuffle, valignd on AVX-512, per set and output vector once per filter) instead of
    a lane shift of the input per tap and kernel: every input load is aligned and feeds every tap of
    its row whatever its column. A_c takes one more vector than the block when the block's valid
    outputs reach within c lanes of its end (`spare`: lanes past the output in the last vector)."""

    columns_of: tuple[int, ...]  # the tap column offsets, 0 first
    rows: int
    vectors: int
    width: int
    spare: int

    def count(self, c: int) -> int:
        return set_vectors((c,), self.vectors, self.spare)

    @functools.cached_property
    def slots(self) -> dict[tuple[int, int, int], int]:
        """(c, r, v) -> accumulator: set 0's first, in the block's (row, vector) order."""
        keys = [(c, r, v) for c in self.columns_of for r in range(self.rows) for v in range(self.count(c))]
        return {key: i for i, key in enumerate(keys)}

    def columns(self, col: int, r: int) -> list[tuple[int, int]]:
        slots = self.slots
        return [(v * self.width, slots[col, r, v]) for v in range(self.count(col))]

    def initial(self, values: list, vtype) -> list:
        """The accumulators starting from the block's `values` (in set 0), the other sets zero."""
        return values + [splat(vtype, 0.0)] * (len(self.slots) - len(values))

    def combine(self, accs: list, vtype) -> list:
        """The block's output vectors, row by row."""
        slots, out = self.slots, []
        for r in range(self.rows):
            for v in range(self.vectors):
                value = accs[slots[0, r, v]]
                for c in self.columns_of[1:]:
                    high = accs[slots[c, r, v + 1]] if (c, r, v + 1) in slots else splat(vtype, 0.0)
                    lanes = vector.ShuffleOp(accs[slots[c, r, v]], high, list(range(c, c + self.width))).result
                    value = arith.AddFOp(value, lanes).result
                out.append(value)
        return out


def shifted(cols: list[int], width: int) -> bool:
    """Whether one input row's vectors at block columns `cols` (the row's block corner on a vector
    boundary) are read more cheaply as the aligned vectors they span, each loaded once, and lane
    shifts of neighbouring pairs: fewer loads than the direct loads, counting each unaligned
    load twice (it splits across two cache lines). One vector at column 1: no (two loads either way);
    columns 0 and 1, or 0..2 of two vectors each: yes."""
    spanned = {c // width for c in cols} | {c // width + 1 for c in cols if c % width}
    return len(spanned) < len(cols) + sum(1 for c in cols if c % width)


def read_vectors(reads, width: int, load, shifts: bool):
    """(uses, vector) for each of `reads` (block_reads' items): `load(plane, row, col)` loads the
    vector at a column; with `shifts`, the rows where `shifted` says so load each aligned vector
    once and take the others as lane shifts of two aligned neighbours (vector.shuffle, which
    AVX-512 does with one valignd): unaligned 64-byte loads each touch two cache lines."""
    for (plane, row), items in itertools.groupby(reads, key=lambda item: item[0][:2]):
        items = list(items)
        if not (shifts and shifted([col for (_, _, col), _ in items], width)):
            for (_, _, col), uses in items:
                yield uses, load(plane, row, col)
            continue
        aligned: dict[int, ir.Value] = {}

        def at(a: int) -> ir.Value:
            if a not in aligned:
                aligned[a] = load(plane, row, a * width)
            return aligned[a]

        for (_, _, col), uses in items:
            a, lane = divmod(col, width)
            if not lane:
                yield uses, at(a)
            else:
                yield uses, vector.ShuffleOp(at(a), at(a + 1), list(range(lane, lane + width))).result


def channel_tile(conv: pconv.Conv2d, layout: Layout, width: int, budget: int) -> int:
    """Input channels per tile: the block's input rows of a tile of channels stay within `budget`
    bytes of cache while every filter of the work unit runs over them."""
    taps = list(zip(*np.nonzero(conv.patterns.any(axis=0))))
    reach_rows = max(layout.tap(kh, kw)[1] for kh, kw in taps) + layout.rows
    reach_cols = max(layout.tap(kh, kw)[2] for kh, kw in taps) + layout.vectors * width
    lines = len(layout.planes) * reach_rows * (ceil_div(reach_cols * 4, 64) + 1)
    cin_g = conv.input_shape[1] // conv.groups
    return max(1, min(cin_g, budget // (lines * 64)))


def unit_1x1(conv: pconv.Conv2d) -> bool:
    """A 1x1 kernel at stride 1."""
    return conv.patterns.shape[1:] == (1, 1) and conv.strides == [1, 1]


def tile_budget(conv: pconv.Conv2d, cache: int, columns: tuple[int, ...] = ()) -> int:
    """The cache bytes a channel tile's input rows may take: `cache`, a quarter of it (L1) for
    1x1 stride-1 convs, whose input vectors feed one FMA per filter and no other tap. Pruned 1x1
    convs of ResNet-50's shapes, 5 layers, sum of medians: 1.22 ms at 32 KiB, 1.35 at 128 KiB.
    Half of it with column sets (`columns`), whose one- or two-row blocks read fewer rows per
    channel (2 threads, ms at 32 / 64 / 128 KiB: 256->256 @56 6.23 / 6.31 / 7.20, 512->512 @28
    6.79 / 6.09 / 6.21, 512->512 @14 2.11 / 1.62 / 1.59, 128->256 3x3/2 @56 1.36 / 1.10 / 1.33)."""
    if unit_1x1(conv):
        return cache // 4
    return cache // 2 if columns else cache


def wide_blocks(conv: pconv.Conv2d, shifts: bool) -> bool:
    """Whether the conv's register blocks run along the output rows (block_shapes' `wide`): with lane
    shifts, for single filters (not filter blocks) of kernels more than one column wide, whose
    column taps read neighbouring vectors of a row."""
    return shifts and filter_block(conv) == 1 and conv.patterns.shape[2] > 1


def filter_block(conv: pconv.Conv2d) -> int:
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


def block_weights(conv: pconv.Conv2d, fkw, fblock: int, element: ir.Type) -> ir.Value:
    """A dense layer's weights as its filter blocks read them: block, input channel, filter of the
    block, tap."""
    cout, cin_g = conv.kernel_pattern.shape
    mask = conv.patterns[0]
    dense = fkw_tables.unpack(conv.packed_values(), fkw, conv.patterns, (cout, cin_g))[:, :, mask]
    return weight_constant(dense.reshape(cout // fblock, fblock, cin_g, -1).transpose(0, 2, 1, 3), element)


# A conv's tuned schedule (fretsaw/tune.py): array<i64: rows, vectors, tile>; 0 = the heuristic's.
SCHEDULE = "fretsaw.schedule"


def schedule_of(op) -> tuple[int, int, int]:
    """The (rows, vectors, tile) the op's `fretsaw.schedule` attribute asks for, zeros without one."""
    if SCHEDULE not in op.attributes:
        return 0, 0, 0
    rows, vectors, tile = ir.DenseI64ArrayAttr(op.attributes[SCHEDULE])
    return rows, vectors, tile


def block_budget(accumulators: int, fblock: int) -> int:
    """Accumulators per filter of a register block of `fblock` filters (block_accumulators), at least 1."""
    return max(1, block_accumulators(accumulators, fblock) // fblock)


def schedule_problem(schedule, conv: pconv.Conv2d | None = None, *, width: int | None = None,
                     accumulators: int = 0, shifts: bool = False) -> str | None:
    """What makes `schedule` = (rows, vectors, tile) invalid, or None: the one definition of a valid
    schedule, which pconv-vectorize's options, the `fretsaw.schedule` attribute (the verifier, then
    pconv-vectorize at its target) and the tuning cache's entries are all checked against. 0 is
    the heuristic's choice; rows and vectors go together. With `conv`: a block of at most the
    rows and columns pconv-vectorize computes (output_plane: a pointwise conv is one row of H*W;
    rows past the edge would be computed and dropped), a tile of at most the input channels per
    group. With a target (pconv-vectorize's `width`, `accumulators`, `shifts`): at most the
    vectors of `lane_width` lanes an output row takes, and at most the accumulators the block
    search gives the conv (block_shapes: `accumulators`, shared by a dense layer's filter block,
    SET_ACCUMULATORS with column sets). Unchecked, negative counts computed NaNs and a 1000-row
    block did not finish compiling."""
    rows, vectors, tile = (int(value) for value in schedule)
    for name, value in (("rows", rows), ("vectors", vectors), ("tile", tile)):
        if value < 0:
            return f"{name}={value} is negative: give a count >= 1, or 0 for the heuristic's choice"
    if (rows == 0) != (vectors == 0):
        return (f"rows={rows} and vectors={vectors} go together: both >= 1 (a register block) or both 0 "
                f"(the heuristic's block)")
    if conv is None:
        return None
    oh, ow = output_plane(conv)
    cin_g = conv.input_shape[1] // conv.groups
    if tile > cin_g:
        return f"tile={tile} exceeds the conv's {cin_g} input channels per group"
    if rows > oh:
        flat = " (a 1x1 stride-1 conv is computed as one row of H*W)" if pointwise(conv) else ""
        return f"rows={rows} exceeds the {oh} output row(s) pconv-vectorize computes{flat}"
    if vectors > ow:
        return f"vectors={vectors} exceeds the {ow} output columns"
    if width is None or not rows:
        return None
    lanes = lane_width(ow, width)
    row_vectors = ceil_div(ow, lanes)
    if vectors > row_vectors:
        return f"vectors={vectors} exceeds the {row_vectors} vector(s) of {lanes} lanes an output row of {ow} takes"
    fblock = filter_block(conv)
    columns = column_sets(conv, lanes, lane_shifts(ow, width, shifts))
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


def fitted_schedule(op, options: tuple[int, int, int], width: int, accumulators: int,
                    shifts: bool) -> tuple[int, int, int]:
    """pconv-vectorize's (rows, vectors, tile) options for this conv: cut to its output rows, row
    vectors and input channels (the options apply to every conv; rows past those would compute
    nothing stored), once they and the op's `fretsaw.schedule` pass schedule_problem at this
    target. A FretsawError names the op, the schedule and what to do."""
    conv = pconv.Conv2d(op)
    target = {"width": width, "accumulators": accumulators, "shifts": shifts}
    tuned = schedule_of(op)
    problem = schedule_problem(tuned, conv, **target)
    if problem:
        raise op_error(op, f"{SCHEDULE} = array<i64: {', '.join(map(str, tuned))}> does not fit width={width} "
                           f"accumulators={accumulators}: {problem}; tune it again on this target or remove it")
    rows, vectors, tile = options
    oh, ow = output_plane(conv)
    fitted = (min(rows, oh), min(vectors, ceil_div(ow, lane_width(ow, width))),
              min(tile, conv.input_shape[1] // conv.groups))
    problem = schedule_problem(fitted, conv, **target)
    if problem:
        cut = "" if fitted == tuple(options) else " (for this conv rows={} vectors={} tile={})".format(*fitted)
        raise op_error(op, f"pconv-vectorize options rows={rows} vectors={vectors} tile={tile}{cut}: {problem}; "
                           f"give a smaller block, or rows=0 vectors=0 for the heuristic's")
    return fitted


def pointwise(conv: pconv.Conv2d) -> bool:
    """A 1x1, stride-1, unpadded conv over more than one row: one GEMM over the H*W pixels."""
    return unit_1x1(conv) and not any(conv.padding) and conv.input_shape[2] > 1


def output_plane(conv: pconv.Conv2d) -> tuple[int, int]:
    """(rows, columns) of output pconv-vectorize computes: one row of H*W for a pointwise conv."""
    _, _, oh, ow = conv.output_shape
    return (1, oh * ow) if pointwise(conv) else (oh, ow)


def flatten_pointwise(op):
    """A pointwise conv over N x C x H x W becomes the same conv over N x C x 1 x H*W (reshapes of
    the input and the result, which bufferization turns into views): its output vectors run across
    the row ends, so no lanes are lost past each row's last column (28 columns fill 28 of 32 lanes,
    784 pixels 784 of 784) and, the blocks tiling the row exactly, the input is read in place.
    A tuned schedule carries over: tuning searched the flattened plane too (`output_plane`)."""
    conv = pconv.Conv2d(op)
    if not pointwise(conv):
        return op
    n, c, h, w = conv.input_shape
    _, cout, oh, ow = conv.output_shape
    with ir.InsertionPoint(op), op.location:
        element = conv.input.type.element_type
        groups = ir.ArrayAttr.get([ir.ArrayAttr.get([ir.IntegerAttr.get(ir.IntegerType.get_signless(64), d)
                                                     for d in dims]) for dims in ([0], [1], [2, 3])])

        def reshape(value, shape):
            """`value` (N x C x A x B) as N x C x `shape`[2] x `shape`[3], through N x C x A*B."""
            rows = value.type.shape
            flat = tensor.CollapseShapeOp(ir.RankedTensorType.get(rows[:2] + [rows[2] * rows[3]], element),
                                          value, groups).result
            return tensor.ExpandShapeOp(ir.RankedTensorType.get(shape, element), flat, groups, [], shape).result

        attributes = {name: op.attributes[name] for name in op.attributes}
        new = ir.Operation.create(pconv.CONV2D, results=[ir.RankedTensorType.get([n, cout, 1, oh * ow], element)],
                                  operands=[reshape(conv.input, [n, c, 1, h * w]), *list(op.operands)[1:]],
                                  attributes=attributes)
        result = reshape(new.results[0], [n, cout, oh, ow])
    op.results[0].replace_all_uses_with(result)
    op.erase()
    return new.opview if hasattr(new, "opview") else new


def vectorize_conv2d(op, width: int, accumulators: int, rows: int = 0, vectors: int = 0, tile: int = 0,
                     cache: int = 131072, f16: bool = False, shifts: bool = False,
                     read: np.ndarray | None = None) -> None:
    """Lower one conv. The register block and channel tile come from the arguments (the pass
    options) when given, else from the op's tuned schedule, else from the heuristics. With `f16`
    (constant weights only) the input copy, weights and accumulators are fp16, `width` fp16 lanes;
    partial sums between channel tiles and the output stay fp32. `read`: which output channels
    the result's users read (None: all may be)."""
    conv = pconv.Conv2d(op)
    rows, vectors, tile = fitted_schedule(op, (rows, vectors, tile), width, accumulators, shifts)
    patterns = conv.patterns
    n, cin, _, _ = conv.input_shape
    _, cout, oh, ow = conv.output_shape
    width, shifts = lane_width(ow, width), lane_shifts(ow, width, shifts)
    cin_g, cout_g = cin // conv.groups, cout // conv.groups
    fblock = filter_block(conv)
    columns = column_sets(conv, width, shifts)
    tuned_rows, tuned_vectors, tuned_tile = schedule_of(op)
    if not (rows and vectors):
        rows, vectors = tuned_rows, tuned_vectors
    if not (rows and vectors):
        rows, vectors = register_block(oh, ow, width, block_budget(accumulators, fblock),
                                       wide_blocks(conv, shifts), columns)
    layout = Layout.of(conv, width, rows, vectors)
    tile = tile or tuned_tile
    tile = min(tile, cin_g) if tile else channel_tile(conv, layout, width, tile_budget(conv, cache, columns))
    tiles = ceil_div(cin_g, tile)
    chunk = vectors * width
    fkw = conv.fkw()
    spread = spreads(layout)
    row_units = layout.chunks if spread else layout.groups
    if fblock > 1:  # filter blocks in filter order (all filters are alike), cut into equal units
        wanted = min(cout // fblock, max(1, ceil_div(32, row_units)))
        bounds = np.unique(np.linspace(0, cout // fblock, wanted + 1).round().astype(np.int64))
    else:
        runs = PatternRuns.build(fkw, tile, tiles)
        bounds = np.unique(np.minimum(unit_bounds(fkw, patterns, row_units), computed_positions(conv, fkw, read)))
        bounds = bounds if len(bounds) > 1 else np.zeros(2, dtype=np.int64)  # nothing to compute: one empty unit
    split = len(bounds) - 1
    with ir.InsertionPoint(op), op.location:
        f32_type = ir.F32Type.get()
        element = ir.F16Type.get() if f16 and conv.packed_values() is not None else f32_type
        vtype = vector_type(width, element)
        exact = (layout.out_rows, layout.out_cols(width)) == (oh, ow)
        # no padding, stride 1 and blocks that tile the output: every read stays inside its input
        # row, so the input is read in place instead of copied into the flat layout (fp32 only)
        direct = exact and conv.strides == [1, 1] and not any(conv.padding) and element == f32_type
        x = read_buffer(conv.input) if direct else flat_input(conv, layout, width, element)
        shifts = shifts and not direct  # the input's own rows need not start on vector boundaries
        columns = () if direct else columns
        if fblock == 1:  # the kernel runs' tables; filter blocks read a regular layout instead
            weights, offsets = runs.weights(conv, fkw, element)
            order, begin, channel, offset = (
                table(t) for t in (fkw.order, runs.begin, fkw.index[runs.kernels], offsets))
        else:
            weights = block_weights(conv, fkw, fblock, element)
        w = read_buffer(weights)
        b = read_buffer(conv.bias) if conv.bias is not None else None
        unit = table(bounds)
        # the blocks write the result itself: the columns of a partial last chunk take only the vectors
        # that reach into the output (the last one masked), the rows of the last row group past
        # the output's edge are computed but never stored (their partial sums read a clamped row)
        out = memref.AllocOp(ir.MemRefType.get([n, cout, oh, ow], f32_type), [], []).result
        full_chunks, rest = divmod(ow, chunk)
        first_spill = oh - (layout.groups - 1) * rows  # rows of the last group from here on lie past the edge
        with loop(0, n) as i_n, parallel(0, row_units * split) as unit_id:
            outer = arith.DivUIOp(unit_id, index(split)).result  # the unit's row group (or column chunk)
            y0 = index(0) if spread else mul(outer, rows)
            part = arith.RemUIOp(unit_id, index(split)).result
            first, last = load_index(unit, part), load_index(unit, add(part, 1))  # filter positions / blocks

            def block_column(x0, vectors: int, lanes: int) -> None:
                """The register blocks of `vectors` vectors from output column x0, the last vector's
                first `lanes` lanes stored (all when 0), for every filter of the unit."""
                block = dataclasses.replace(layout, vectors=vectors)
                corner = add(mul(y0, layout.row), x0)  # flat input offset of the block's tap (0, 0)
                at = [(r, v) for r in range(rows) for v in range(vectors)]
                ys = [add(y0, r) for r in range(rows)]
                clamped = [arith.MinUIOp(y, index(oh - 1)).result if r >= first_spill else y for r, y in enumerate(ys)]
                xs = [add(x0, v * width) for v in range(vectors)]
                mask = lane_mask(width, lanes) if lanes else None
                colsets = None
                if columns:
                    colsets = ColumnSets(columns, rows, vectors, width, width - (lanes or width))

                def start(values):
                    """The accumulators of a block starting from `values` (its output vectors)."""
                    return colsets.initial(values, vtype) if colsets else values

                def finish(accs):
                    """The block's output vectors from its accumulators."""
                    return colsets.combine(accs, vtype) if colsets else accs

                def read_at(ci, plane, row, col):
                    """Indices of the input vector at (row, col) from the block's corner."""
                    if direct:
                        return [i_n, ci, add(y0, row), add(x0, col)]
                    return [i_n, ci, plane, add(corner, row * layout.row + col)]

                def bias(cos):
                    values = [convert(load(b, [co]), element) if b is not None else splat(vtype, 0.0) for co in cos]
                    return [value if value.type == vtype else vector.BroadcastOp(vtype, value).result
                            for value in values for _ in at]

                def kernels(q, cos, tl, accs):
                    """The filter at position q (or filter block q) over channel tile tl."""
                    group_base = mul(arith.DivUIOp(cos[0], index(cout_g)).result, cin_g)
                    if fblock > 1:
                        return block_channels(q, tl, accs, group_base)
                    for p in range(len(patterns)):
                        accs = kernel_run(p, add(mul(add(mul(tl, cout), q), len(patterns)), p), accs, group_base)
                    return accs

                def kernel_run(p, run, accs, group_base):
                    """One branch-free loop over the run's kernels, the pattern's taps unrolled."""
                    loop_op = scf.ForOp(load_index(begin, run), load_index(begin, add(run, 1)), index(1), accs)
                    with ir.InsertionPoint(loop_op.body):
                        k = loop_op.induction_variable
                        ci = add(group_base, load_index(channel, k))
                        base = load_index(offset, k)
                        carried = list(loop_op.inner_iter_args)
                        taps = list(zip(*np.nonzero(patterns[p])))
                        weights = [vector.BroadcastOp(vtype, load(w, [add(base, t)])).result for t in range(len(taps))]
                        # kernel-level load sharing: each input vector of the block is loaded once and
                        # feeds every (tap, output row) that reads it, input row by input row
                        reads = block_reads(taps, block, width, colsets.columns if colsets else None)
                        for uses, value in read_vectors(reads, width, lambda *at: vload(width, x, read_at(ci, *at)),
                                                        shifts):
                            for t, a in uses:
                                carried[a] = vector.FMAOp(weights[t], value, carried[a]).result
                        scf.YieldOp(carried)
                    return list(loop_op.results)

                def block_channels(q, tl, accs, group_base):
                    """A block of `fblock` alike filters over channel tile tl: one loop over the
                    channels, each input vector loaded once for every tap, row and filter."""
                    taps = list(zip(*np.nonzero(patterns[0])))
                    end = arith.MinUIOp(add(mul(tl, tile), tile), index(cin_g)).result
                    loop_op = scf.ForOp(mul(tl, tile), end, index(1), accs)
                    with ir.InsertionPoint(loop_op.body):
                        k = loop_op.induction_variable
                        ci = add(group_base, k)
                        base = mul(add(mul(q, cin_g), k), fblock * len(taps))  # block_weights' layout
                        weights = [[vector.BroadcastOp(vtype, load(w, [add(base, f * len(taps) + t)])).result
                                    for t in range(len(taps))] for f in range(fblock)]
                        carried = list(loop_op.inner_iter_args)
                        for uses, value in read_vectors(block_reads(taps, block, width), width,
                                                        lambda *at: vload(width, x, read_at(ci, *at)), shifts):
                            for t, a in uses:
                                for f in range(fblock):
                                    i = f * len(at) + a
                                    carried[i] = vector.FMAOp(weights[f][t], value, carried[i]).result
                        scf.YieldOp(carried)
                    return list(loop_op.results)

                def store_block(cos, accs):
                    for i, acc in enumerate(accs):
                        r, v = at[i % len(at)]
                        indices = [i_n, cos[i // len(at)], ys[r], xs[v]]
                        spill = r >= first_spill  # only the last row group reaches past the edge
                        with guarded(arith.CmpIOp(arith.CmpIPredicate.ult, ys[r], index(oh)).result) if spill \
                                else nullcontext():
                            value = convert(acc, f32_type)
                            if mask is not None and v == vectors - 1:
                                vector.MaskedStoreOp(out, [index(j) for j in indices], mask, value)
                            else:
                                vstore(value, out, indices)

                def load_block(cos):
                    values = []
                    for co in cos:
                        for r, v in at:
                            indices = [i_n, co, clamped[r], xs[v]]
                            if mask is not None and v == vectors - 1:
                                values.append(masked_vload(width, out, indices, mask))
                            else:
                                values.append(vload(width, out, indices))
                    return [convert(value, element) for value in values]

                @contextmanager
                def filters():
                    """`with filters() as (q, cos):` the unit's filter positions in filter_order
                    (one filter each), or its filter blocks (`fblock` consecutive filters each)."""
                    with loop(first, last) as q:
                        if fblock == 1:
                            yield q, [load_index(order, q)]
                        else:
                            yield q, [add(mul(q, fblock), f) for f in range(fblock)]

                if tiles == 1:  # the whole filter in registers: bias in, activation out
                    with filters() as (q, cos):
                        accs = kernels(q, cos, index(0), start(bias(cos)))
                        store_block(cos, [activate(conv.activation, v) for v in finish(accs)])
                else:  # channel tile by channel tile, the accumulators parked in the output between tiles
                    with filters() as (q, cos):
                        store_block(cos, bias(cos))
                    with loop(0, tiles) as tl, filters() as (q, cos):
                        store_block(cos, finish(kernels(q, cos, tl, start(load_block(cos)))))
                    if conv.activation != "none":
                        with filters() as (q, cos):
                            store_block(cos, [activate(conv.activation, v) for v in load_block(cos)])

            if spread:  # the unit's chunk: a full one, or the partial last one
                if full_chunks:
                    with guarded(arith.CmpIOp(arith.CmpIPredicate.ult, outer, index(full_chunks)).result):
                        block_column(mul(outer, chunk), vectors, 0)
                if rest:
                    with guarded(arith.CmpIOp(arith.CmpIPredicate.eq, outer, index(full_chunks)).result):
                        block_column(index(full_chunks * chunk), ceil_div(rest, width), rest % width)
            else:
                if full_chunks:
                    with loop(0, full_chunks) as j:
                        block_column(mul(j, chunk), vectors, 0)
                if rest:
                    block_column(index(full_chunks * chunk), ceil_div(rest, width), rest % width)
        result = bufferization.ToTensorOp(op.results[0].type, out, restrict=True, writable=True).result
    op.results[0].replace_all_uses_with(result)
    op.erase()


@dataclasses.dataclass(frozen=True)
class Vectorize(ModulePass):
    """Lower pconv.conv2d to SIMD loops over kept kernels and kept taps, a register block of output
    rows x vectors per filter."""

    name: ClassVar[str] = "pconv-vectorize"
    width: int = 8          # fp32 lanes of the target's vectors (the backend fills this from its target)
    accumulators: int = 10  # vector registers for accumulators (the backend: the target's registers - 6,
                            # leaving the pattern's weights and the shared input loads theirs)
    rows: int = 0           # register block shape; 0 = chosen per conv by register_block()
    vectors: int = 0
    tile: int = 0           # input channels per cache tile; 0 = chosen per conv by channel_tile()
    cache: int = 131072     # bytes of cache the input rows of a channel tile may take: 128 KiB, more than
                            # L1, measured best (32/64/128/256 KiB over nine 3x3 layers on the AVX-512 VM:
                            # 5.79/5.03/4.97/4.97 ms; stride 2 at 14x14: 0.63 -> 0.24 ms)
    f16: bool = False       # compute in fp16 (AArch64 +fullfp16): `width` is then fp16 lanes
    shifts: bool = False    # read unaligned input vectors as lane shifts of aligned ones where that
                            # takes fewer loads (`read_vectors`; the backend sets it for AVX-512)

    def __post_init__(self):
        self.require_positive("width", "accumulators", "cache")
        problem = schedule_problem((self.rows, self.vectors, self.tile))
        if problem:
            raise self.option_error(f"option {problem}")

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in pconv.walk_ops(module, pconv.CONV2D):  # in order: a conv's users are still pconv ops
            read = read_by_users(op)
            vectorize_conv2d(flatten_pointwise(op), self.width, self.accumulators, self.rows, self.vectors,
                             self.tile, self.cache, self.f16, self.shifts, read)
        module.verify()
