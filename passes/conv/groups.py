"""The columns of a conv's filter blocks: how a lowering computes a KGS, Vanilla or dense conv as
small dense GEMMs over kept (input channel, kernel position) columns.

Filters are taken in blocks of `fblock` consecutive filters of one conv group. A block reads the
columns any of its filters keeps, and each input vector it loads feeds every filter of the block.
Inside an RT3D kernel group (group_shape gOut x gIn) the kernels share their kept positions, so
with `fblock` dividing gOut a block's columns are exactly each of its filters' own: no zero is
multiplied. Vanilla's removed groups and KGS's removed positions give no column at all, so they
emit no work; a dense conv's blocks read every column. The columns come from the exact zeros of
the weights, not from the op's patterns: a KGS layer has a kept-position set per kernel group,
far more than a pattern library holds (recover_patterns then calls it unstructured), and the
blocks still skip exactly what the pruning removed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fretsaw.dialect import fkw, pconv
from fretsaw.passes.conv.geometry import ceil_div


def dense_weights(conv: pconv.Conv) -> np.ndarray | None:
    """The conv's weights as Cout x Cin/groups x K1 x .. x Kr (zeros where removed), None when
    they are not a constant. Packed in the op's FKW order when it has one."""
    values = conv.packed_values()
    if values is None:
        return None
    return fkw.unpack(values, conv.fkw(), conv.patterns, tuple(conv.kernel_pattern.shape))


def kept_columns(weight: np.ndarray, fblock: int) -> np.ndarray:
    """blocks x Cin/groups x positions: whether any filter of each block of `fblock` keeps the column."""
    cout, cin_g = weight.shape[:2]
    return (weight.reshape(cout // fblock, fblock, cin_g, -1) != 0).any(axis=1)


def block_waste(weight: np.ndarray, fblock: int) -> float:
    """Multiply-adds a lowering in blocks of `fblock` filters computes per kept weight (1.0: the
    block's filters keep the same columns, as in a kernel group)."""
    kept = np.count_nonzero(weight)
    return kept_columns(weight, fblock).sum() * fblock / kept if kept else 1.0


@dataclasses.dataclass
class FilterColumns:
    """The columns of each filter block, cut by channel tile, in the order a lowering reads them:
    the columns of block b in tile t are begin[b * tiles + t] .. begin[b * tiles + t + 1], each an
    input channel (of the whole input: the block's conv group's channels), a kernel position (its
    index into the K1 x .. x Kr kernel) and the block's `fblock` weights at that column."""

    fblock: int
    tiles: int
    begin: np.ndarray
    channel: np.ndarray
    position: np.ndarray
    weights: np.ndarray  # columns x fblock

    @classmethod
    def build(cls, conv: pconv.Conv, weight: np.ndarray, fblock: int, tile: int) -> "FilterColumns":
        cout, cin_g = weight.shape[:2]
        cout_g = cout // conv.groups
        if cout_g % fblock:
            raise ValueError(f"filter blocks of {fblock} do not tile the {cout_g} filters of a conv group")
        blocks = cout // fblock
        block, channel, position = np.nonzero(kept_columns(weight, fblock))  # block-major, channels ascending
        flat = weight.reshape(blocks, fblock, cin_g, -1)
        tiles = ceil_div(cin_g, tile)
        counts = np.bincount(block * tiles + channel // tile, minlength=blocks * tiles)
        group = block * fblock // cout_g
        return cls(fblock, tiles, np.concatenate([[0], np.cumsum(counts)]), group * cin_g + channel, position,
                   flat[block, :, channel, position].astype(np.float32))

    @property
    def blocks(self) -> int:
        return (len(self.begin) - 1) // self.tiles
