"""What every fretsaw pass is: a small frozen dataclass with a `name` and a `run(module)`."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch_mlir import ir

from fretsaw.dialect import pconv
from fretsaw.errors import FretsawError


@dataclasses.dataclass(frozen=True)
class ModulePass:
    """A pass over a whole `builtin.module`. Option fields are filled from pipeline text."""

    name: ClassVar[str] = ""

    def run(self, module: ir.Operation) -> None:
        raise NotImplementedError

    @classmethod
    def from_options(cls, options: dict[str, str]) -> "ModulePass":
        """Build the pass from `{key=value ...}` pipeline options, converting to field types."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for key, text in options.items():
            field = fields.get(key.replace("-", "_"))
            if field is None:
                known = ", ".join(f.replace("_", "-") for f in fields) or "none"
                raise FretsawError(f"pass '{cls.name}' has no option '{key}' (options: {known})",
                                   pass_name=cls.name)
            values[field.name] = _convert(cls.name, key, text, field.type)
        return cls(**values)

    def option_error(self, message: str) -> FretsawError:
        """A FretsawError naming this pass: a `__post_init__` raises it for an option value the pass
        cannot run with (options are checked once, when the pipeline text is parsed)."""
        return FretsawError(f"pass '{self.name}': {message}", pass_name=self.name)

    def require_positive(self, *options: str) -> None:
        """Raise option_error for the first of `options` (integer fields) below 1."""
        for option in options:
            value = getattr(self, option)
            if value < 1:
                raise self.option_error(f"option {option}={value} must be >= 1")

    @classmethod
    def summary(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0]


def _convert(pass_name: str, key: str, text: str, type_name) -> object:
    kind = type_name if isinstance(type_name, str) else type_name.__name__
    try:
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        return text
    except ValueError:
        raise FretsawError(f"pass '{pass_name}': option '{key}' expects {kind}, got '{text}'",
                           pass_name=pass_name) from None


def verify_pconv(module: ir.Operation) -> None:
    """The structural and semantic verifiers together; raises on the first problem."""
    module.verify()
    pconv.verify_module(module)
