"""Textual pass pipelines that mix fretsaw's Python passes with upstream MLIR passes.

`builtin.module(pconv-raise, canonicalize, func.func(cse), pconv-lower)` is split at the top
level; names in fretsaw.passes.REGISTRY run as Python passes, and each run of consecutive
upstream elements goes to MLIR's PassManager as one `builtin.module(...)` pipeline.
A failure becomes a FretsawError naming the pass and the op, with the input IR of the
failing pass saved and a `fretsaw-opt` command that reproduces it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from torch_mlir import ir
from torch_mlir.passmanager import PassManager

from fretsaw.errors import FretsawError, write_reproducer
from fretsaw.passes import REGISTRY, ModulePass


@dataclass(frozen=True)
class Step:
    """One top-level pipeline element: fretsaw's pass, or upstream pipeline text."""

    text: str
    python_pass: ModulePass | None = None


def split_top_level(text: str) -> list[str]:
    """Split `text` at commas outside (), {} and quotes."""
    items, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
            if depth < 0:
                raise FretsawError(f"unbalanced ')' or '}}' in pass pipeline: {text}")
        elif ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    if depth != 0 or quoted:
        raise FretsawError(f"unbalanced brackets or quotes in pass pipeline: {text}")
    items.append(text[start:].strip())
    return [item for item in items if item]


def joined(stages) -> str:
    """One `builtin.module(...)` pipeline running `stages` (backends.base.Stage) in order."""
    inner = [stage.pipeline.strip()[len("builtin.module("):-1] for stage in stages]
    return f"builtin.module({', '.join(inner)})"


def parse_options(text: str) -> dict[str, str]:
    """`key=value other=1 flag` -> dict (a bare key means true)."""
    options = {}
    for token in text.split():
        key, _, value = token.partition("=")
        options[key] = value if _ else "true"
    return options


def parse_pipeline(text: str) -> list[Step]:
    body = text.strip()
    anchored = re.fullmatch(r"builtin\.module\((.*)\)", body, re.S)
    if anchored:
        body = anchored.group(1)
    steps = []
    for item in split_top_level(body):
        name = re.match(r"[\w.\-]+", item)
        name = name.group(0) if name else item
        if name in REGISTRY:
            opts = re.fullmatch(r"[\w.\-]+\s*(?:\{(.*)\})?", item, re.S)
            if opts is None:
                raise FretsawError(f"cannot parse pipeline element '{item}'", pass_name=name)
            steps.append(Step(item, REGISTRY[name].from_options(parse_options(opts.group(1) or ""))))
            continue
        nested = [p for p in REGISTRY if re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", item)]
        if nested:
            raise FretsawError(f"'{nested[0]}' is a module pass: put it at the top level of the "
                               f"pipeline, not inside '{name}(...)'", pass_name=nested[0])
        steps.append(Step(item))
    return steps


def _group(steps: list[Step]) -> list[list[Step]]:
    groups: list[list[Step]] = []
    for step in steps:
        if step.python_pass is None and groups and groups[-1][0].python_pass is None:
            groups[-1].append(step)
        else:
            groups.append([step])
    return groups


def anchored(items: list[Step]) -> str:
    return "builtin.module(" + ", ".join(s.text for s in items) + ")"


def run_pipeline(module: ir.Module, text: str, *, stage: str = "pipeline") -> None:
    """Run pipeline `text` on `module` in place; raise FretsawError with a reproducer on failure."""
    for group in _group(parse_pipeline(text)):
        # The failing pass's input, for the reproducer. A clone shares the context's uniqued
        # attributes (the weights): it copies only the ops (VGG-16's llvm stage: 12 MB, 40 ms),
        # where text or bytecode would copy the weights too (1 GB, 0.5 GB).
        snapshot = module.operation.clone()
        try:
            _run_group(module, group)
        except ir.MLIRError as error:
            if group[0].python_pass is None:
                raise _upstream_failure(snapshot, group, error, stage) from None
            first = error.error_diagnostics[0] if error.error_diagnostics else None  # a fretsaw pass built bad IR
            wrapped = FretsawError(f"internal error in pass '{group[0].text}': its output does not verify: "
                                   f"{first.message if first else error}",
                                   location=str(first.location) if first else None)
            raise _with_reproducer(wrapped, snapshot, group[0], stage) from None
        except FretsawError as error:
            raise _with_reproducer(error, snapshot, group[0], stage) from None
        except Exception as error:  # a bug in a fretsaw pass: still report it reproducibly
            wrapped = FretsawError(f"internal error in pass '{group[0].text}': {type(error).__name__}: {error}")
            raise _with_reproducer(wrapped, snapshot, group[0], stage) from error


def run_stage(module: ir.Module, name: str, pipeline: str) -> None:
    """Run one named stage's pipeline; with FRETSAW_SAVE_TEMPS=dir its output goes to dir/<name>.mlir."""
    run_pipeline(module, pipeline, stage=name)
    keep = os.environ.get("FRETSAW_SAVE_TEMPS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / f"{name}.mlir").write_text(module.operation.get_asm(enable_debug_info=True))


def _run_group(module: ir.Module, group: list[Step]) -> None:
    with module.context:
        if group[0].python_pass is not None:
            group[0].python_pass.run(module.operation)
            return
        try:
            manager = PassManager.parse(anchored(group))
        except (ValueError, ir.MLIRError) as error:
            raise FretsawError(f"invalid pass pipeline '{anchored(group)}': {error} "
                               f"(fretsaw-opt --list-passes lists fretsaw's passes)") from None
        manager.run(module.operation)


def _with_reproducer(error: FretsawError, snapshot, step: Step, stage: str) -> FretsawError:
    pipeline = anchored([step])
    path, command = write_reproducer(_asm(snapshot), pipeline, f"{stage}-{_slug(step.text)}")
    return FretsawError(error.message, op=error.op, location=error.location, pass_name=step.text,
                        reproducer=path, command=command)


def _upstream_failure(snapshot, group: list[Step], error: ir.MLIRError, stage: str) -> FretsawError:
    """Find the failing upstream pass by replaying the group pass by pass on the snapshot."""
    failing, before, diagnostics = group[-1], snapshot, error.error_diagnostics
    trial = snapshot.clone()
    for step in group:
        before = trial.clone()
        try:
            with trial.context:
                PassManager.parse(anchored([step])).run(trial)
        except ir.MLIRError as step_error:
            failing, diagnostics = step, step_error.error_diagnostics
            break
    first = diagnostics[0] if diagnostics else None
    message = first.message if first else str(error)
    location = str(first.location) if first else None
    named = re.search(r'name = "(torch\.[\w.]+)"', message) or re.search(r"'([a-z_][\w]*\.[\w.]+)'", message)
    op = named.group(1) if named else _noted_op(first)
    if op and not named:  # "op was not bufferized": the op is only in the note
        message = f"{message}: '{op}'"
    if op and op.startswith("tm_tensor."):
        message += (" (Torch-MLIR's lowering of an op like cumsum, sort, topk, scatter or index_put, which fretsaw "
                    "does not compile: compute it outside the compiled model)")
    stuck = _unlowered_torch_op(trial) if op and OPERAND_OPS.match(op) else None
    if stuck is not None:  # the conversion stopped at an operand of the op Torch-MLIR cannot lower
        op, location = stuck.name, str(stuck.location)
        message = (f"Torch-MLIR cannot lower '{op}'{_layer(stuck.location)} to linalg ({message}); compute it "
                   f"outside the compiled model or replace it with ops that Torch-MLIR lowers")
    path, command = write_reproducer(_asm(before), anchored([failing]), f"{stage}-{_slug(failing.text)}")
    return FretsawError(f"pass '{failing.text}' failed: {message}", op=op, location=location,
                        pass_name=failing.text, reproducer=path, command=command)


# Torch ops that only carry operands: when the conversion to linalg fails on one of them, the
# op using it is the one left unconverted.
OPERAND_OPS = re.compile(r"torch\.(constant\.|prim\.ListConstruct$|vtensor\.literal$)|torch_c\.")


def _noted_op(diagnostic) -> str | None:
    """The op name in a diagnostic's 'see current operation: ...' note, if any."""
    for note in diagnostic.notes if diagnostic else ():
        found = re.search(r'see current operation:\s*(?:%\S+ = )?"([a-z_]\w*\.[\w.]+)"', note.message)
        if found:
            return found.group(1)
    return None


def _unlowered_torch_op(module_op):
    """The first torch-dialect op left in `module_op` that computes (not a constant, list or cast)."""
    found = []

    def visit(op):
        if op.name.startswith("torch.") and not OPERAND_OPS.match(op.name) and not found:
            found.append(op)
        return ir.WalkResult.ADVANCE

    module_op.walk(visit)
    return found[0] if found else None


def _layer(location) -> str:
    return f" (layer '{location.name_str}')" if isinstance(location, ir.NameLoc) else ""


def _asm(op) -> str:
    return op.get_asm(enable_debug_info=True, assume_verified=False)


def _slug(text: str) -> str:
    return re.sub(r"[^\w\-]+", "_", text)[:60]
