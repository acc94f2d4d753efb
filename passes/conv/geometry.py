"""Shape facts of a pconv convolution that every lowering and the schedule ask."""

from __future__ import annotations

import numpy as np

from fretsaw.dialect import pconv


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def unit_1x1(conv: pconv.Conv) -> bool:
    """A 1x1 (1x1x1) kernel at stride 1."""
    return all(k == 1 for k in conv.patterns.shape[1:]) and all(s == 1 for s in conv.strides)


def decimates(conv: pconv.Conv) -> bool:
    """A 1x1 (1x1x1) unpadded conv at a stride above 1 (a ResNet's downsampling shortcut): it reads
    only every stride-th input row and column, so pconv-vectorize first copies those (decimate) and
    computes the stride-1 conv over the copy, a pointwise conv over its output's pixels."""
    return (all(k == 1 for k in conv.patterns.shape[1:]) and not any(conv.padding)
            and any(s > 1 for s in conv.strides))


def pointwise(conv: pconv.Conv) -> bool:
    """A 1x1 (1x1x1), unpadded conv over more than one output row, at stride 1 or decimated
    (`decimates`): one GEMM over the output's pixels."""
    return (all(k == 1 for k in conv.patterns.shape[1:]) and not any(conv.padding)
            and int(np.prod(conv.output_shape[2:-1])) > 1)


def output_plane(conv: pconv.Conv) -> tuple[int, int]:
    """(rows, columns) of output a lowering computes: one row of H*W for a pointwise conv, whose
    output vectors then run across the row ends (flatten_pointwise)."""
    _, _, oh, ow = conv.output_shape
    return (1, oh * ow) if pointwise(conv) else (oh, ow)
