"""What every backend is: the plug-in protocol, a stage, and the entry function's signature.

A backend is a class with a `name`, its `Options` (a frozen dataclass of the options only that
target takes, normalised in its __post_init__), built from those options; its `stages()` run
after the shared import and pconv stages (fretsaw/stages.py), read top to bottom, and `emit`
turns the final module into something to run or save. `BACKENDS` in backends/__init__.py maps
target names to these classes; fretsaw.compile() knows no target by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from torch_mlir import ir

from fretsaw.errors import FretsawError


@dataclass(frozen=True)
class Stage:
    """A named step of the compile: pipeline text (fretsaw's and upstream passes mixed)."""

    name: str
    pipeline: str


@dataclass(frozen=True)
class Signature:
    """Shapes and dtypes of the entry function's inputs and outputs."""

    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, module: ir.Module, entry: str) -> "Signature":
        func = next(op for op in module.body.operations
                    if op.operation.name == "func.func" and op.attributes["sym_name"].value == entry)
        ftype = func.attributes["function_type"].value
        for t in list(ftype.inputs) + list(ftype.results):
            if not isinstance(t, ir.RankedTensorType) or not isinstance(t.element_type, ir.F32Type):
                raise FretsawError(f"@{entry} takes or returns {t}; fretsaw supports float32 tensors only")
        return cls(tuple(tuple(t.shape) for t in ftype.inputs), tuple(tuple(t.shape) for t in ftype.results))


class Backend(Protocol):
    """A compile target."""

    name: ClassVar[str]
    Options: ClassVar[type]   # its frozen options dataclass
    cross: ClassVar[bool]     # its code runs elsewhere: the model has run_emulated/save/assembly, not __call__
    saves: ClassVar[bool]     # its executable writes artifacts to load elsewhere: the model has save()

    options: Any

    def __init__(self, options) -> None: ...

    def stages(self) -> tuple[Stage, ...]:
        """Its stages after the shared pconv stage, in order."""

    def prepare(self, module: ir.Module) -> list[dict]:
        """Work on the module after the pconv stage, before its own stages (host: tuning); records
        of it for CompiledModel.tuning."""

    def emit(self, module: ir.Module, entry: str, signature: Signature):
        """The final module as an executable (host: callable) or an artifact (cross targets)."""


def options_of(backend_class, options: dict):
    """`backend_class.Options(**options)`, or a FretsawError naming the unknown options, the
    targets that take them, and this target's options."""
    from fretsaw.backends import BACKENDS

    valid = sorted(backend_class.Options.__dataclass_fields__)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        hints = []
        for name in unknown:
            targets = [t for t, b in BACKENDS.items() if name in b.Options.__dataclass_fields__]
            if targets:
                hints.append(f"{name}= is an option of target {' and '.join(repr(t) for t in targets)}: use it with "
                             f"target='{targets[0]}'")
        raise FretsawError(f"unknown compile option(s) {', '.join(unknown)} for target '{backend_class.name}'"
                           + (f" ({'; '.join(hints)})" if hints else "")
                           + f"; its options: {', '.join(valid)}")
    return backend_class.Options(**options)
