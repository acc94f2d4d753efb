"""The stages every target shares, declared once: import (the frontend's lowering to linalg) and
pconv (convolutions with constant weights become pconv ops). Each backend's own stages follow
(backends/*.py `stages()`)."""

from __future__ import annotations

from fretsaw.backends.base import Stage

# convolutions with constant weights become pconv ops, sparsity recovered from the weights;
# channels left constant by emptied filters fold into the next 1x1 convs' biases, and filters
# whose channel no conv reads lose their kernels; then the filters are reordered by work and
# their kernels packed in FKW order
PCONV = Stage("pconv", "builtin.module(pconv-raise, pconv-fold-constant-channels, pconv-drop-dead-filters, "
                       "canonicalize, cse, pconv-filter-kernel-reorder, pconv-pack-fkw)")


def is_onnx(model) -> bool:
    """Whether `model` is an ONNX file path or onnx.ModelProto (else a torch.nn.Module)."""
    import os

    if isinstance(model, (str, os.PathLike)):
        return True
    return type(model).__name__ == "ModelProto"


def import_stage(model) -> Stage:
    """The frontend's lowering of the imported module (torch or ONNX dialect) to linalg."""
    if is_onnx(model):
        from fretsaw.frontend.onnx_import import TO_LINALG
    else:
        from fretsaw.frontend.torch_import import TO_LINALG
    return Stage("linalg", TO_LINALG)
