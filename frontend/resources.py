"""Inline `dense_resource` float constants of a parsed file as dense constants.

torch-mlir's importers store weights as resource blobs, which the Python bindings cannot
read back; fretsaw's own frontends avoid them, but IR files handed to `fretsaw-opt` may
carry them in their `{-# dialect_resources: ... #-}` section.
"""

from __future__ import annotations

import re

import numpy as np
from torch_mlir import ir

_BLOB = re.compile(r'^\s*([\w.\-$]+)\s*:\s*"0x([0-9A-Fa-f]*)"', re.M)
_DTYPES = {"f32": np.float32, "f64": np.float64, "i64": np.int64, "i32": np.int32, "i8": np.int8}


def resource_blobs(text: str) -> dict[str, bytes]:
    """name -> raw bytes of each builtin resource blob in `text` (alignment header removed)."""
    section = text.find("dialect_resources")
    if section < 0:
        return {}
    return {m.group(1): bytes.fromhex(m.group(2))[4:] for m in _BLOB.finditer(text, section)}


def inline_resources(module: ir.Module, text: str) -> None:
    blobs = resource_blobs(text)
    if not blobs:
        return

    def visit(op):
        if op.name == "arith.constant":
            _inline(op, blobs)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)


def _inline(op, blobs: dict[str, bytes]) -> None:
    attr = op.attributes["value"]
    found = re.match(r"dense_resource<([^>]+)>", str(attr))
    if not found or found.group(1) not in blobs:
        return
    ttype = op.results[0].type
    dtype = _DTYPES.get(str(ttype.element_type))
    if dtype is None:
        return
    array = np.frombuffer(blobs[found.group(1)], dtype=dtype)
    if array.size != int(np.prod(ttype.shape)):
        return
    with op.context:
        op.attributes["value"] = ir.DenseElementsAttr.get(array.reshape(ttype.shape).copy(), type=ttype)
