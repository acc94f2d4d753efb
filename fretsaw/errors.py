"""FretsawError and the reproducer files written when compilation fails."""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path


class FretsawError(RuntimeError):
    """A compilation or usage failure that says what failed and how to reproduce it.

    `op` and `location` name the offending operation when there is one, `pass_name` the
    pass that failed, `reproducer` the file holding the failing input IR and `command`
    the ready `fretsaw-opt` invocation that reproduces the failure on it.
    """

    def __init__(self, message: str, *, op: str | None = None, location: str | None = None,
                 pass_name: str | None = None, reproducer: str | None = None,
                 command: str | None = None):
        self.op, self.location, self.pass_name = op, location, pass_name
        self.reproducer, self.command = reproducer, command
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [self.message]
        if self.op:
            where = f" at {self.location}" if self.location else ""
            lines.append(f"  op: {self.op}{where}")
        if self.pass_name:
            lines.append(f"  pass: {self.pass_name}")
        if self.reproducer:
            lines.append(f"  input IR saved to: {self.reproducer}")
        if self.command:
            lines.append(f"  reproduce with: {self.command}")
        return "\n".join(lines)


def op_error(op, message: str, *, pass_name: str | None = None) -> FretsawError:
    """A FretsawError naming an MLIR operation `op` and its source location."""
    return FretsawError(f"'{op.name}' op: {message}", op=op.name,
                        location=str(op.location), pass_name=pass_name)


def repro_dir() -> Path:
    """Where reproducers go: $FRETSAW_SAVE_TEMPS when set, else a fresh temp directory."""
    keep = os.environ.get("FRETSAW_SAVE_TEMPS")
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix="fretsaw-repro-"))


def write_reproducer(ir_text: str, pipeline: str, stem: str) -> tuple[str, str]:
    """Write `ir_text` to a file and return (path, fretsaw-opt command reproducing `pipeline`)."""
    path = repro_dir() / f"{stem}.mlir"
    path.write_text(ir_text)
    command = f"fretsaw-opt {shlex.quote(str(path))} --pass-pipeline={shlex.quote(pipeline)}"
    return str(path), command
