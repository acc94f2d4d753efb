"""Work units of a conv: the filter positions its threads take, in ranges along the reorder's
groups (of about equal work), and the filters left out because nothing reads them."""

from __future__ import annotations

import numpy as np

from fretsaw.dialect import pconv
from fretsaw.dialect.fkw import taps_of
from fretsaw.passes.conv.geometry import ceil_div

# Work units per conv, about, unless its schedule says otherwise (passes/conv/schedule.py: `units`,
# which tuning searches): enough to balance a phone's or a desktop's cores
UNITS = 32


def computed_positions(conv: pconv.Conv, fkw, read: np.ndarray | None) -> int:
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


def unit_bounds(fkw, patterns: np.ndarray, row_groups: int, units: int = UNITS) -> np.ndarray:
    """Filter positions cut into work units along the reorder groups: whole groups, merged into
    ranges of about equal work when there are more groups than needed (about `units` units in all,
    `row_groups` of them per range of filters)."""
    groups = fkw.groups
    wanted = max(1, ceil_div(units, row_groups))
    if len(groups) - 1 <= wanted:
        return groups
    position = np.repeat(np.arange(len(fkw.stride) - 1) // len(patterns), np.diff(fkw.stride))  # per kernel
    work = np.bincount(position, weights=taps_of(patterns)[fkw.pattern], minlength=len(fkw.order)) + 1
    at_groups = np.concatenate([[0], np.cumsum(work)])[groups]
    picks = np.searchsorted(at_groups, np.linspace(0, at_groups[-1], wanted + 1)[1:-1])
    return np.unique(np.concatenate([[0], groups[picks], [groups[-1]]]))


def filter_units(conv: pconv.Conv, fkw, row_groups: int, read: np.ndarray | None, units: int = UNITS) -> np.ndarray:
    """Bounds of the work units' filter positions (unit_bounds), cut at the computed positions;
    one empty unit when no filter is computed."""
    bounds = np.unique(np.minimum(unit_bounds(fkw, conv.patterns, row_groups, units),
                                  computed_positions(conv, fkw, read)))
    return bounds if len(bounds) > 1 else np.zeros(2, dtype=np.int64)


def block_units(blocks: int, row_groups: int, units: int = UNITS) -> np.ndarray:
    """Bounds of the work units over `blocks` alike filter blocks (a dense layer): equal ranges,
    about `units` in all."""
    wanted = min(blocks, max(1, ceil_div(units, row_groups)))
    return np.unique(np.linspace(0, blocks, wanted + 1).round().astype(np.int64))
