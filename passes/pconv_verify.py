"""pconv-verify: run the pconv semantic verifier on every op (tables, packed length, shapes).

Before and after: the IR is unchanged; an inconsistent op fails with a message naming it, e.g.
  'pconv.conv2d' op: packed_weights has 5 elements but kernel_pattern and patterns keep 4 weights
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch_mlir import ir

from fretsaw.passes.base import ModulePass, verify_pconv


@dataclasses.dataclass(frozen=True)
class Verify(ModulePass):
    """Check every pconv op against its pattern tables, packed weights and shapes."""

    name: ClassVar[str] = "pconv-verify"

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
