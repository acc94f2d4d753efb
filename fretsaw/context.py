"""MLIR contexts that know every dialect fretsaw meets: upstream, torch and pconv."""

from __future__ import annotations

from torch_mlir import ir
from torch_mlir.dialects import torch as torch_d

from fretsaw.dialect import pconv


def make_context() -> ir.Context:
    """A new context with the torch dialect registered and the pconv dialect loaded."""
    ctx = ir.Context()
    torch_d.register_dialect(ctx)
    pconv.load(ctx)
    return ctx
