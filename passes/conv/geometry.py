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


def depth_only(conv: pconv.Conv) -> bool:
    """A 3-D conv whose kernel spans depth only (a (k, 1, 1) temporal conv of R(2+1)D), at stride
    1 and unpadded in H and W, over more than one row: each output plane is a 1x1 conv of a few
    input planes, so the plane can be one row of H*W (flatten_planes)."""
    return (conv.rank == 3 and tuple(conv.patterns.shape[2:]) == (1, 1) and tuple(conv.strides[1:]) == (1, 1)
            and not any(conv.padding[i] for i in (1, 2, 4, 5)) and conv.input_shape[3] > 1)


def output_plane(conv: pconv.Conv) -> tuple[int, int]:
    """(rows, columns) of output a lowering computes: one row of H*W for a pointwise conv, whose
    output vectors then run across the row ends (flatten_pointwise)."""
    _, _, oh, ow = conv.output_shape
    return (1, oh * ow) if pointwise(conv) else (oh, ow)
