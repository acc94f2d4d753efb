"""fretsaw-opt: mlir-opt for fretsaw. Parses MLIR (with the pconv and torch dialects), runs a
textual pass pipeline that mixes fretsaw's passes with upstream ones, prints the result.

    fretsaw-opt input.mlir --pass-pipeline='builtin.module(pconv-raise, canonicalize)'
    fretsaw-opt --list-passes
    fretsaw-opt llvm-dialect.mlir --mlir-to-llvmir | opt-22 ... | llc-22 ...
"""

from __future__ import annotations

import argparse
import re
import sys

from torch_mlir import ir

from fretsaw.context import make_context
from fretsaw.dialect import pconv
from fretsaw.errors import FretsawError
from fretsaw.frontend.resources import inline_resources
from fretsaw.passes import REGISTRY
from fretsaw.pipeline import parse_pipeline, run_pipeline

SPLIT_MARKER = re.compile(r"^// -----\s*$", re.M)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="fretsaw-opt", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("input", nargs="?", default="-", help="input file, '-' for stdin (default)")
    parser.add_argument("--pass-pipeline", default="", help="textual pipeline, e.g. 'builtin.module(pconv-raise)'")
    parser.add_argument("--split-input-file", action="store_true",
                        help="process each '// -----' separated chunk on its own")
    parser.add_argument("--list-passes", action="store_true", help="list fretsaw's passes and exit")
    parser.add_argument("--mlir-to-llvmir", action="store_true",
                        help="after the pipeline, print LLVM IR (readable by LLVM 22's opt/llc) instead of MLIR; "
                             "the module must then be in the LLVM dialect")
    parser.add_argument("-o", "--output", default="-", help="output file, '-' for stdout (default)")
    parser.add_argument("--mlir-print-debuginfo", action="store_true", help="print locations")
    parser.add_argument("--mlir-elide-elementsattrs-if-larger", type=int, default=None, metavar="N",
                        help="elide constants with more than N elements")
    return parser.parse_args(argv)


def list_passes() -> str:
    lines = ["fretsaw passes (mix freely with any upstream MLIR / torch-mlir pass):"]
    for name, cls in sorted(REGISTRY.items()):
        lines.append(f"  {name:28} {cls.summary()}")
    return "\n".join(lines)


def chunks(text: str, split: bool) -> list[str]:
    """Input chunks, each padded with newlines so that error lines match the whole file."""
    if not split:
        return [text]
    out, offset = [], 0
    for piece in SPLIT_MARKER.split(text):
        out.append("\n" * offset + piece)
        offset += piece.count("\n") + 1
    return out


def process(text: str, pipeline: str, args, source: str) -> str:
    ctx = make_context()
    try:
        module = ir.Module.parse(text, ctx)
    except ir.MLIRError as error:
        raise FretsawError(_diagnostics(error, source)) from None
    inline_resources(module, text)
    with ctx:
        pconv.verify_module(module.operation)
    if pipeline:
        run_pipeline(module, pipeline, stage="fretsaw-opt")
    if args.mlir_to_llvmir:
        from fretsaw.backends.llvmir import constants_as_bytes, for_llvm22, translate_to_llvm_ir
        constants_as_bytes(module.operation)
        return for_llvm22(translate_to_llvm_ir(module))
    return module.operation.get_asm(enable_debug_info=args.mlir_print_debuginfo,
                                    large_elements_limit=args.mlir_elide_elementsattrs_if_larger)


def _diagnostics(error: ir.MLIRError, source: str) -> str:
    lines = []
    for diag in error.error_diagnostics or []:
        lines.append(f"{_where(diag.location, source)}: error: {diag.message}")
        lines.extend(f"{_where(note.location, source)}: note: {note.message}" for note in diag.notes)
    return "\n".join(lines) or str(error)


def _where(location, source: str) -> str:
    found = re.search(r'loc\("([^"]*)":(\d+):(\d+)\)', str(location))
    if not found:
        return str(location)
    file = source if found.group(1) in ("-", "") else found.group(1)
    return f"{file}:{found.group(2)}:{found.group(3)}"


def _render(error: FretsawError, source: str) -> str:
    """`file:line:col: error: message`, then the failing pass and its reproducer if any."""
    if error.location is None and error.op is None and error.pass_name is None:
        return error.message  # already located parser diagnostics
    where = f"{_where(error.location, source)}: " if error.location else ""
    lines = [f"{where}error: {error.message}"]
    if error.pass_name:
        lines.append(f"  pass: {error.pass_name}")
    if error.reproducer:
        lines.append(f"  input IR saved to: {error.reproducer}")
        lines.append(f"  reproduce with: {error.command}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list_passes:
        print(list_passes())
        return 0
    source = "<stdin>" if args.input == "-" else args.input
    try:
        text = sys.stdin.buffer.read().decode() if args.input == "-" else open(args.input, encoding="utf-8").read()
        if args.pass_pipeline:
            parse_pipeline(args.pass_pipeline)  # reject a bad pipeline before any work
    except UnicodeDecodeError as error:
        print(f"fretsaw-opt: error: {source} is not MLIR text: byte {error.object[error.start]:#04x} at offset "
              f"{error.start} is not UTF-8 (MLIR files are UTF-8 text; bytecode is not read here)", file=sys.stderr)
        return 1
    except (OSError, FretsawError) as error:
        print(f"fretsaw-opt: error: {error}", file=sys.stderr)
        return 1
    outputs, failed = [], False
    for chunk in chunks(text, args.split_input_file):
        try:
            outputs.append(process(chunk, args.pass_pipeline, args, source))
        except FretsawError as error:
            failed = True
            print(_render(error, source), file=sys.stderr)
    result = "\n// -----\n".join(outputs)
    if args.output == "-":
        sys.stdout.write(result)
    else:
        with open(args.output, "w") as out:
            out.write(result)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
