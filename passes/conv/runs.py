"""The runs of kernels a conv's loops walk: per filter position and pattern, the kept kernels
(from the FKW tables), cut by tile of input channels. A lowering runs one loop per run with the
pattern's taps unrolled; removed kernels are never visited."""

from __future__ import annotations

import dataclasses

import numpy as np

from fretsaw.dialect import pconv
from fretsaw.dialect.fkw import gather_kernels, taps_of


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

    @property
    def in_fkw_order(self) -> bool:
        return bool(np.array_equal(self.kernels, np.arange(len(self.kernels))))

    def weight_offsets(self, conv: pconv.Conv, fkw) -> tuple[np.ndarray | None, np.ndarray]:
        """(weights, each read kernel's first weight in them) as the loops read the runs: weights
        None = the op's packed weights as they are (FKW order with one tile, or weights that are
        not a constant, read where they lie); else the constant weights regathered tile by tile,
        so that each tile's weights are contiguous."""
        values = conv.packed_values()
        if values is None or self.in_fkw_order:
            return None, fkw.weight[self.kernels]
        taps = taps_of(conv.patterns)[fkw.pattern[self.kernels]]
        return gather_kernels(values, fkw.weight[self.kernels], taps)
