"""The filter-kernel reorder and FKW (filter-kernel-weight) tables of a pconv.conv2d, as numpy.

  filter_order   Cout i32: the filter computed at each position q (a permutation)
  filter_groups  i32 boundaries into filter_order: runs of filters with the same number of kept
                 kernels and a similar pattern mix, of about equal work
  fkw_stride     Cout*P+1 i32: kernels of pattern p of the filter at position q are
                 fkw_stride[q*P+p] .. fkw_stride[q*P+p+1] (the filter's offset is fkw_stride[q*P])
  fkw_index      i32 per kept kernel: its input channel inside the group (ascending in a run)
With the FKW arrays, packed_weights holds the kept weights kernel by kernel in that order (taps
row-major). The passes that add these live in passes/fkw.py; every lowering reads the kernels
through Fkw.of(), which also serves ops that were never reordered or packed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

FILTERS_PER_GROUP = 8  # about this many filters' work per group


def taps_of(patterns: np.ndarray) -> np.ndarray:
    return patterns.reshape(len(patterns), -1).sum(axis=1)


def filter_work(patterns: np.ndarray, kernel_pattern: np.ndarray) -> np.ndarray:
    """Multiply-adds per output position of each filter, plus one for its bias and store."""
    taps = np.append(taps_of(patterns), 0)  # index -1 (removed) -> 0 taps
    return taps[kernel_pattern].sum(axis=1) + 1


def reorder_filters(patterns: np.ndarray, kernel_pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(filter_order, filter_groups): filters by kept-kernel count (most first), then by pattern
    mix; cut into groups of about FILTERS_PER_GROUP filters' work that never mix kernel counts."""
    cout, num = kernel_pattern.shape[0], len(patterns)
    histogram = np.stack([(kernel_pattern == p).sum(axis=1) for p in range(num)], axis=1)
    counts = histogram.sum(axis=1)
    order = np.lexsort(tuple(-histogram[:, p] for p in reversed(range(num))) + (-counts,))
    work = filter_work(patterns, kernel_pattern)[order]
    target = work.sum() / max(1, -(-cout // FILTERS_PER_GROUP))
    bounds, acc = [0], 0
    for q in range(cout):
        if q > bounds[-1] and (acc >= target or counts[order[q]] != counts[order[q - 1]]):
            bounds.append(q)
            acc = 0
        acc += work[q]
    return order, np.array(bounds + [cout])


@dataclasses.dataclass
class Fkw:
    """How a lowering walks one conv's kept kernels: filter positions in `order`, per position q
    and pattern p the kernels stride[q*P+p] .. stride[q*P+p+1], per kernel its input channel in
    the group, pattern and the offset of its first weight in packed_weights."""

    order: np.ndarray
    groups: np.ndarray
    stride: np.ndarray
    index: np.ndarray
    pattern: np.ndarray
    weight: np.ndarray

    @classmethod
    def build(cls, patterns, kernel_pattern, order, groups) -> tuple["Fkw", np.ndarray]:
        """The FKW arrays for `order`, and for each kernel in FKW order the offset of its first
        weight in the canonical packing (to repack the weights)."""
        num, taps = len(patterns), taps_of(patterns)
        kept = kernel_pattern >= 0
        canonical = np.zeros(kernel_pattern.shape, dtype=np.int64)  # canonical weight offsets
        canonical[kept] = np.concatenate([[0], np.cumsum(taps[kernel_pattern[kept]])[:-1]]) if kept.any() else []
        positions, channels = np.nonzero(kept[order])
        filters = order[positions]
        ids = kernel_pattern[filters, channels]
        fkw = np.lexsort((channels, ids, positions))
        counts = np.zeros(len(order) * num + 1, dtype=np.int64)
        np.add.at(counts, positions * num + ids + 1, 1)
        ids, channels = ids[fkw], channels[fkw]
        weight = np.concatenate([[0], np.cumsum(taps[ids])[:-1]]) if len(ids) else np.zeros(0, np.int64)
        table = cls(np.asarray(order), np.asarray(groups), np.cumsum(counts), channels, ids, weight)
        return table, canonical[filters[fkw], channels]

    @classmethod
    def of(cls, patterns, kernel_pattern, order=None, groups=None, stride=None, index=None) -> "Fkw":
        """The tables of an op from its attributes: FKW-packed (stride and index given), only
        reordered (order, groups), or canonical (none: filters in order, weights canonical)."""
        if order is None:
            order = np.arange(kernel_pattern.shape[0])
        if groups is None:
            groups = np.unique(np.arange(0, len(order) + FILTERS_PER_GROUP, FILTERS_PER_GROUP).clip(max=len(order)))
        table, canonical = cls.build(patterns, kernel_pattern, order, groups)
        if index is None:  # weights still canonical
            table.weight = canonical
        else:
            table.stride, table.index = np.asarray(stride), np.asarray(index)
        return table


def gather_kernels(values: np.ndarray, first: np.ndarray, taps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The weights of kernels k = 0, 1, ... (taps[k] of them from values[first[k]]) laid end to end,
    and where each kernel now starts."""
    starts = np.concatenate([[0], np.cumsum(taps)[:-1]]).astype(np.int64)
    return values[np.repeat(first - starts, taps) + np.arange(int(taps.sum()))], starts


def repack(values: np.ndarray, canonical: np.ndarray, table: Fkw, patterns: np.ndarray) -> np.ndarray:
    """Canonically packed weights rewritten kernel by kernel in FKW order (canonical: each FKW
    kernel's first weight in the canonical packing, from Fkw.build)."""
    return gather_kernels(values, canonical, taps_of(patterns)[table.pattern])[0]


def unpack(values: np.ndarray, table: Fkw, patterns: np.ndarray, kernel_shape: tuple[int, int]) -> np.ndarray:
    """The dense (Cout, Cin/groups, KH, KW) weights of weights packed as `table` says."""
    weight = np.zeros(kernel_shape + (patterns[0].size,), dtype=np.float32)
    positions = np.repeat(np.arange(len(table.stride) - 1) // len(patterns), np.diff(table.stride))
    filters = table.order[positions]
    for p, mask in enumerate(patterns.reshape(len(patterns), -1)):  # one gather per pattern
        kernels = np.nonzero(table.pattern == p)[0]
        taps = np.nonzero(mask)[0]
        rows = values[table.weight[kernels][:, None] + np.arange(len(taps))]
        weight[filters[kernels][:, None], table.index[kernels][:, None], taps[None, :]] = rows
    return weight.reshape(kernel_shape + patterns.shape[1:])


def check(patterns, kernel_pattern, order, groups, stride, index) -> str | None:
    """What is wrong with an op's reorder / FKW attributes, or None."""
    cout = kernel_pattern.shape[0]
    if order is None and (groups is not None or index is not None):
        return "filter_groups and the FKW arrays need filter_order"
    if order is None:
        return None
    if sorted(order.tolist()) != list(range(cout)):
        return f"filter_order must be a permutation of the {cout} filters"
    if groups is None or groups[0] != 0 or groups[-1] != cout or np.any(np.diff(groups) <= 0):
        return f"filter_groups must rise strictly from 0 to {cout}"
    if (stride is None) != (index is None):
        return "fkw_stride and fkw_index come together"
    if stride is not None:
        want, _ = Fkw.build(patterns, kernel_pattern, order, groups)
        if stride.shape != want.stride.shape or np.any(stride != want.stride):
            return f"fkw_stride does not count the kept kernels of each (filter, pattern) in filter_order"
        if index.shape != want.index.shape or np.any(index != want.index):
            return f"fkw_index does not list the kept kernels' input channels in FKW order"
    return None
