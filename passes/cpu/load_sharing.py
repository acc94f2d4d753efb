"""Load-redundancy elimination of pconv-vectorize: which input vectors one kernel's taps read for
a register block, each loaded once and fed to every (tap, output row) that reads it, and on
targets with cheap lane shifts, unaligned vectors taken as shifts of aligned ones (read_vectors)
or accumulators kept per tap column offset (ColumnSets)."""

from __future__ import annotations

import dataclasses
import functools
import itertools

from torch_mlir import ir
from torch_mlir.dialects import arith, vector

from fretsaw.passes.builders import splat
from fretsaw.passes.cpu.blocks import set_vectors
from fretsaw.passes.cpu.staging import Layout


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

