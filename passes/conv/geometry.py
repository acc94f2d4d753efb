"""Shape facts of a pconv convolution that every lowering and the schedule ask."""

from __future__ import annotations

import numpy as np

from fretsaw.dialect import pconv


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def unit_1x1(conv: pconv.Conv) -> bool:
    """A 1x1 (1x1x1) kernel at stride 1."""
    return all(k == 1 for k in conv.patterns.shape[1:]) and all(s == 1 for s in conv.strides)


def pointwise(conv: pconv.Conv) -> bool:
    """A 1x1 (1x1x1), stride-1, unpadded conv over more than one row: one GEMM over the pixels."""
    return unit_1x1(conv) and not any(conv.padding) and int(np.prod(conv.input_shape[2:-1])) > 1


def output_plane(conv: pconv.Conv) -> tuple[int, int]:
    """(rows, columns) of output a lowering computes: one row of H*W for a pointwise conv, whose
    output vectors then run across the row ends (flatten_pointwise)."""
    _, _, oh, ow = conv.output_shape
    return (1, oh * ow) if pointwise(conv) else (oh, ow)
