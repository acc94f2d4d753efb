"""Input staging of pconv-vectorize: the flat, zero-bordered layout its SIMD loops read.

The input is copied into a buffer whose rows are laid end to end (split into phase planes by
the stride, see Layout), so that every output position reads tap (kh, kw) at a fixed flat
offset: one vector load per input vector, whatever the image width or stride. Only the borders
around the copied rows are zeroed, and only the channels some kept kernel reads are copied.

Row tails and zero spans are stored as whole vectors wherever what lies past them is padding or
is written afterwards (`whole`): a masked store (vmaskmovps) measured about 20 cycles on Zen 3
against 1-2 for a plain one, and NEON has none (LLVM scalarises it), while the staging stores a
masked tail per row and per zero span (bench/RESULTS.md, 2026-12-02). The tail is loaded masked,
so the lanes past the data are zeros.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith, memref, scf, vector

from fretsaw.dialect import pconv
from fretsaw.passes.builders import (add, convert, element_of, index, lane_mask, load, load_index, loop, masked_vload,
                                     mul, parallel, read_buffer, splat, store, table, vector_type, vload, vstore)
from fretsaw.passes.conv.geometry import ceil_div


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
    def of(cls, conv: pconv.Conv, width: int, rows: int, vectors: int) -> "Layout":
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



def copy_rows(width: int, source, target, rows: int, length: int, source_at, target_at, whole: bool = False) -> None:
    """Copy `rows` rows of `length` floats with full vectors and one masked tail, converting
    to the target's float type. `whole`: the tail is loaded masked (zeros past the row) but
    stored as a whole vector, zeros up to width - 1 floats past the row's end, where the caller
    wants zeros or writes afterwards (the module docstring)."""
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
            vstore(convert(value, to), target, target_at(r, x), None if whole else mask)



def zero_span(width: int, target, plane, start, length: int, whole: bool = False) -> None:
    """Zero `length` floats of `target` from flat position `start` of `plane` (full vectors, the
    last one masked): nothing past them is written. `whole`: the last vector is stored whole,
    zeroing up to width - 1 floats past the span, which the caller writes afterwards or wants
    zero (the module docstring)."""
    zeros = splat(vector_type(width, element_of(target)), 0.0)
    if whole:
        length = ceil_div(length, width) * width
    full, tail = divmod(length, width)
    if full:
        with loop(0, full) as j:
            vstore(zeros, target, [*plane, add(start, mul(j, width))])
    if tail:
        vector.MaskedStoreOp(target, [index(i) for i in (*plane, add(start, full * width))],
                             lane_mask(width, tail), zeros)



def zero_around(width: int, target, plane, pitch: int, length: int, rows: tuple[int, int],
                cols: tuple[int, int]) -> None:
    """Zero a flat plane of `length` floats (rows of `pitch`; `length` whole vectors) except
    where the copy puts the data: columns cols[0] .. cols[1] - 1 of rows rows[0] .. rows[1] - 1,
    which the copy writes afterwards. What is zeroed: before the first data row's columns, between
    each data row's last column and the next one's first, and after the last data row's, in
    whole vectors (the module docstring): the first spans' last vectors reach into the data the
    copy overwrites, and the last span starts on the vector that ends the plane."""
    (r0, r1), (c0, c1) = rows, cols
    if r1 <= r0 or c1 <= c0:
        zero_span(width, target, plane, index(0), length)
        return
    first, end = r0 * pitch + c0, (r1 - 1) * pitch + c1
    zero_span(width, target, plane, index(0), first, whole=True)
    if pitch > c1 - c0 and r1 - r0 > 1:
        with loop(r0, r1 - 1) as q:
            zero_span(width, target, plane, add(mul(q, pitch), c1), pitch - (c1 - c0), whole=True)
    start = min(end, length - ceil_div(length - end, width) * width)
    zero_span(width, target, plane, index(start), length - start)



def flat_input(conv, layout: Layout, width: int, element: ir.Type) -> ir.Value:
    """memref<N x C x [Dp x] planes x in_length> of `element`: the zero-padded input split into its
    phase planes, each plane's rows laid end to end (channels in parallel), converted to `element`.
    A 3-D conv's input is staged plane by plane along its padded depth Dp (the depth padding's
    planes all zeros), so that depth tap kd of output depth od reads plane od*sd + kd*dd. Only the
    borders around the copied rows are zeroed (`zero_around`), not each whole plane before the rows
    are copied in (LLVM turns that into a memset over the whole buffer, a visible share of a
    network's time), and only the channels some kept kernel reads are filled (connectivity pruning
    empties whole depthwise filters, so most channels of a pruned depthwise conv are never read)."""
    n, c, *depth, h, w = conv.input_shape
    rank = len(conv.input_shape) - 2
    top, left = conv.padding[rank - 2], conv.padding[rank - 1]
    front, back = (conv.padding[0], conv.padding[rank]) if depth else (0, 0)
    sh, sw = layout.strides
    source = read_buffer(conv.input)
    padded_depth = [depth[0] + front + back] if depth else []
    flat = memref.AllocOp(ir.MemRefType.get([n, c, *padded_depth, len(layout.planes), layout.in_length], element),
                          [], [], alignment=64).result
    read = conv.read_channels()
    channels = table(read) if len(read) < c else None
    slices = depth[0] if depth else 1
    with loop(0, n) as i:
        if front or back:  # the depth padding's planes
            with parallel(0, len(read)) as k:
                ch = load_index(channels, k) if channels is not None else k
                for z in [*range(front), *range(front + depth[0], padded_depth[0])]:
                    for p in range(len(layout.planes)):
                        zero_span(width, flat, [i, ch, index(z), index(p)], index(0), layout.in_length)
        with parallel(0, len(read) * slices) as k:
            at = arith.DivUIOp(k, index(slices)).result if depth else k
            ch = load_index(channels, at) if channels is not None else at
            if depth:
                z = arith.RemUIOp(k, index(slices)).result
                src, dst = [i, ch, z], [i, ch, add(z, front)]
            else:
                src, dst = [i, ch], [i, ch]
            stage_planes(width, source, flat, layout, src, dst, (h, w), (top, left))
    return flat



def plane_columns(w: int, left: int, px: int, sw: int) -> tuple[int, int]:
    """The columns [first, end) of a phase plane of column phase px that hold input columns (plane
    column qx holds input column qx * sw + px - left; the others are the padding's zeros)."""
    first = ceil_div(max(0, left - px), sw)
    return first, max(first, (w - 1 + left - px) // sw + 1)


def copy_plane_row(width: int, source, target, row_at: list, plane: list, base, w: int, left: int, px: int,
                   sw: int, whole: bool = False) -> None:
    """Copy the input row `row_at` (its leading indices; `w` columns, the padding `left` before it)
    into the phase-plane row of column phase px starting at target[*plane, base]: the columns of
    plane_columns, converted to the target's float type (stride 1: whole vectors; 2: pick_columns;
    else element by element). The columns around them are left as they are, but with `whole`:
    then the row's last vector is stored whole, zeros past the row's columns (the module
    docstring)."""
    first_col, end_col = plane_columns(w, left, px, sw)
    if sw == 1:
        copy_rows(width, source, target, 1, w, source_at=lambda _, x: [*row_at, x],
                  target_at=lambda _, x: [*plane, add(add(base, left), x)], whole=whole)
    elif sw == 2:
        pick_columns(width, source, target, row_at, 2 * first_col + px - left, w, plane, add(base, first_col),
                     end_col - first_col, whole)
    else:
        with loop(first_col, end_col) as qx:
            value = load(source, [*row_at, add(mul(qx, sw), px - left)])
            store(convert(value, element_of(target)), target, [*plane, add(base, qx)])


def stage_planes(width: int, source, flat, layout: Layout, src: list, dst: list, size: tuple[int, int],
                 low: tuple[int, int]) -> None:
    """Copy one input plane (source[*src, row, column], `size` rows x columns) into its phase planes
    flat[*dst, plane, offset], the padding `low` (top, left) before it, the borders zeroed."""
    (h, w), (top, left), (sh, sw) = size, low, layout.strides

    def whole(last_row: int, first_col: int, end_col: int) -> bool:
        """Whether the rows' tails may be stored whole: the last data row's last vector stays in
        the plane (another channel's plane follows, staged by another thread); the other rows'
        spill into padding or into the next row, which the copy writes afterwards."""
        return last_row * layout.row + first_col + ceil_div(end_col - first_col, width) * width <= layout.in_length

    if (sh, sw) == (1, 1):
        zero_around(width, flat, [*dst, 0], layout.row, layout.in_length, (top, top + h), (left, left + w))
        copy_rows(width, source, flat, h, w,
                  source_at=lambda r, x: [*src, r, x],
                  target_at=lambda r, x: [*dst, 0, add(mul(add(r, top), layout.row), add(x, left))],
                  whole=whole(top + h - 1, left, left + w))
        return
    # deinterleave: plane (py, px) row q, column qx holds input row q*sh + py - top, column qx*sw + px - left
    for p, (py, px) in enumerate(layout.planes):
        first_row = ceil_div(max(0, top - py), sh)
        end_row = max(first_row, (h - 1 + top - py) // sh + 1)
        columns = plane_columns(w, left, px, sw)
        zero_around(width, flat, [*dst, index(p)], layout.row, layout.in_length, (first_row, end_row), columns)
        with loop(first_row, end_row) as q:
            copy_plane_row(width, source, flat, [*src, add(mul(q, sh), py - top)], [*dst, p], mul(q, layout.row), w,
                           left, px, sw, whole(end_row - 1, *columns))


def stage_slice(width: int, source, target, layout: Layout, src: list, y0, rows: int, length: int,
                size: tuple[int, int], low: tuple[int, int]) -> None:
    """Copy the phase-plane rows y0 .. y0 + rows - 1 of one input plane (source[*src, row, column],
    `size` rows x columns, the padding `low` (top, left) before it) into target[plane, s * layout.row
    + column], slice row s = plane row y0 + s: what a row group from output row y0 reads, laid as
    the flat layout lays the whole plane (flat_input), zeros where the padding is; then zeros up to
    `length` floats a plane, for the reads of the last blocks past their row's end. y0 is known at
    run time only, so each row tests whether it lies in the input. Every store is a whole vector
    (the module docstring): a row's zeros and tail reach into its data, copied afterwards, or
    into the next row, written afterwards, or into the zeros after the last row (`length` holds
    a vector more than the rows)."""
    (h, w), (top, left), (sh, sw) = size, low, layout.strides
    pitch, lt, ge = layout.row, arith.CmpIPredicate.slt, arith.CmpIPredicate.sge
    for p, (py, px) in enumerate(layout.planes):
        plane = [index(p)]
        first_col, end_col = plane_columns(w, left, px, sw)
        with loop(0, rows) as s:
            padded = add(mul(add(y0, s), sh), py)  # the padded input's row
            base = mul(s, pitch)
            zero_span(width, target, plane, base, first_col, whole=True)
            zero_span(width, target, plane, add(base, end_col), pitch - end_col, whole=True)
            inside = arith.AndIOp(arith.CmpIOp(ge, padded, index(top)).result,
                                  arith.CmpIOp(lt, padded, index(top + h)).result).result
            branch = scf.IfOp(inside, has_else=True)
            with ir.InsertionPoint(branch.then_block):
                copy_plane_row(width, source, target, [*src, add(padded, -top)], plane, base, w, left, px, sw,
                               whole=True)
                scf.YieldOp([])
            with ir.InsertionPoint(branch.else_block):
                zero_span(width, target, plane, add(base, first_col), end_col - first_col, whole=True)
                scf.YieldOp([])
        zero_span(width, target, plane, index(rows * pitch), length - rows * pitch)


def pick_columns(width: int, source, target, row, first: int, length: int, plane, at, count: int,
                 whole: bool = False) -> None:
    """Store `count` source columns first, first + 2, ... of the source row (`row`: its leading
    indices; `length` columns) at target[*plane, at ...], converted to the target's float type:
    per vector two loads and one shuffle of the even lanes (a stride-2 phase plane row), instead
    of an element-by-element copy, which costs cheap strided convs such as depthwise ones a
    visible share of their time. The loads that would reach past the source row are masked;
    with `whole` the last vector is stored whole, zeros past the `count` columns (the module
    docstring)."""
    to = element_of(target)
    evens = list(range(0, 2 * width, 2))

    def half(column, lanes):
        if lanes >= width:
            return vload(width, source, [*row, column])
        return masked_vload(width, source, [*row, column], lane_mask(width, lanes))

    inside = 0  # vectors whose two loads stay inside the row
    while (inside + 1) * width <= count and first + 2 * (inside + 1) * width <= length:
        inside += 1
    if inside:
        with loop(0, inside) as j:
            column = add(mul(j, 2 * width), first)
            picked = vector.ShuffleOp(half(column, width), half(add(column, width), width), evens).result
            vstore(convert(picked, to), target, [*plane, add(at, mul(j, width))])
    for j in range(inside, ceil_div(count, width)):
        column = first + 2 * j * width
        picked = vector.ShuffleOp(half(index(column), length - column),
                                  half(index(column + width), length - column - width), evens).result
        mask = None if whole else lane_mask(width, min(width, count - j * width))
        vstore(convert(picked, to), target, [*plane, add(at, j * width)], mask)



@dataclasses.dataclass(frozen=True)
class Plane:
    """The (H, W) plane of a 3-D conv as Layout.of reads a 2-D one: its height and width sizes,
    padding, strides and dilations, and as `patterns` (1 x KH x KW) the (kh, kw) taps its kept
    kernel positions use. The depth is the staged buffer's own axis (flat_input)."""

    input_shape: list
    output_shape: list
    padding: list
    strides: list
    dilations: list
    patterns: np.ndarray
    groups: int

    @classmethod
    def of(cls, conv, weight: np.ndarray) -> "Plane":
        """The plane of 3-D conv `conv` whose dense weights are `weight` (Cout x Cin/groups x KD x KH x KW)."""
        n, c, _, h, w = conv.input_shape
        n, cout, _, oh, ow = conv.output_shape
        taps = (weight != 0).any(axis=(0, 1, 2))
        if not taps.any():  # nothing kept: the layout still needs a tap, which no column reads
            taps[0, 0] = True
        return cls([n, c, h, w], [n, cout, oh, ow], [conv.padding[i] for i in (1, 2, 4, 5)], conv.strides[1:],
                   conv.dilations[1:], taps[None], conv.groups)
