"""MLIR (LLVM dialect) -> LLVM IR text, through the MLIR C API bundled with torch-mlir, and that
text made readable by Debian's LLVM 22 tools (opt-22, llc-22), which are older than the LLVM
inside the torch-mlir wheel."""

from __future__ import annotations

import ctypes
import re
import struct
from pathlib import Path

import numpy as np
from torch_mlir import ir

from fretsaw.errors import FretsawError

_CAPI = Path(ir.__file__).parent / "_mlir_libs" / "libTorchMLIRAggregateCAPI.so"


class _MlirOperation(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p)]


def _library():
    lib = ctypes.CDLL(str(_CAPI))
    lib.mlirTranslateModuleToLLVMIRToString.argtypes = [_MlirOperation]
    lib.mlirTranslateModuleToLLVMIRToString.restype = ctypes.c_void_p
    return lib


def _operation_pointer(op: ir.Operation) -> int:
    capsule = op._CAPIPtr
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    return get(capsule, name(capsule))


def _non_llvm_op(module: ir.Module) -> str | None:
    found = []

    def visit(op):
        if not op.name.startswith(("llvm.", "omp.")) and op.name != "builtin.module":
            found.append(op.name)
            return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found[0] if found else None


def translate_to_llvm_ir(module: ir.Module | ir.Operation) -> str:
    """LLVM IR text of `module`, which must be in the LLVM dialect only (OpenMP ops included)."""
    module = module if isinstance(module, ir.Module) else _ModuleView(module)
    foreign = _non_llvm_op(module)
    if foreign:
        raise FretsawError(f"translation to LLVM IR needs a module in the LLVM dialect only, but it holds "
                           f"'{foreign}' (run the host 'llvm' stage first)")
    lib = _library()
    raw = lib.mlirTranslateModuleToLLVMIRToString(_MlirOperation(_operation_pointer(module.operation)))
    if not raw:
        raise FretsawError("translation to LLVM IR failed: the module must hold only LLVM-dialect "
                           "operations (run the host 'llvm' stage first)")
    text = ctypes.string_at(raw).decode()
    ctypes.CDLL(None).free(ctypes.c_void_p(raw))
    return text


class _ModuleView:
    """An ir.Operation (a cloned builtin.module) where an ir.Module is expected."""

    def __init__(self, operation: ir.Operation):
        self.operation = operation


_ELEMENT_DTYPES = {"f32": np.float32, "f64": np.float64, "f16": np.float16, "i64": np.int64,
                   "i32": np.int32, "i16": np.int16, "i8": np.int8, "i1": np.bool_}


def constants_as_bytes(module: ir.Operation, min_elements: int = 64) -> None:
    """Turn every large constant global (the weights) into an array of bytes, in place.

    LLVM prints a byte array as one `c"..."` string, which is fast to print and parse and has no
    float literals for versions to disagree on; with opaque pointers the code that reads a global
    does not depend on its declared type, so nothing else changes."""
    globals_ = []

    def visit(op):
        if op.name == "llvm.mlir.global" and "value" in op.attributes and "constant" in op.attributes:
            globals_.append(op)
        return ir.WalkResult.ADVANCE

    module.walk(visit)
    for op in globals_:
        value = op.attributes["value"]
        if not isinstance(value, ir.DenseElementsAttr) or value.type.rank == 0:
            continue
        dtype = _ELEMENT_DTYPES.get(str(value.type.element_type))
        count = int(np.prod(value.type.shape))
        if dtype is None or dtype is np.bool_ or count < min_elements:
            continue
        if value.is_splat:
            array = np.full(count, value.get_splat_value().value, dtype=dtype)
        else:
            array = np.asarray(np.array(value), dtype=dtype)
        raw = np.frombuffer(array.tobytes(), dtype=np.int8)
        with op.context, op.location:
            byte_type = ir.IntegerType.get_signless(8)
            op.attributes["value"] = ir.DenseElementsAttr.get(raw, type=ir.RankedTensorType.get([raw.size], byte_type))
            op.attributes["global_type"] = ir.TypeAttr.get(ir.Type.parse(f"!llvm.array<{raw.size} x i8>"))


# Constant globals of at least this many bytes (the weights) stay out of LLVM: see external_constants.
EXTERNAL_BYTES = 1 << 16
EXTERNAL_ALIGNMENT = 64  # bytes: a cache line, what bufferization asks of the weights' globals
_ASM_SYMBOL = re.compile(r"[A-Za-z_.$][\w.$]*")


def external_constants(module: ir.Operation, in_place: bool = False) -> dict[str, np.ndarray]:
    """Turn every large constant global (the weights) into an external declaration, in place, and
    return {symbol: its data}: read-only views of the attributes' storage (no copy), valid as long as
    the module's context lives.

    LLVM then never holds the weights: with them, its constant arrays, the object code and the JIT's
    copies took several times the weights' size, and most of the compile time (measured:
    bench/RESULTS.md, 2026-11-30, compile memory). The backend supplies the data instead: with `in_place` the code reads the views where they
    are (the host JIT resolves each symbol to its view's address, any distance away: not dso_local,
    and each declaration's alignment lowered to its view's); else the declarations are dso_local,
    EXTERNAL_ALIGNMENT-aligned, and the data must be assembled into the same object (aarch64)."""
    found = {}

    def visit(op):
        if op.name == "llvm.mlir.global" and "value" in op.attributes and "constant" in op.attributes:
            value = op.attributes["value"]
            name = op.attributes["sym_name"].value
            if (isinstance(value, ir.DenseElementsAttr) and value.type.rank and not value.is_splat
                    and str(value.type.element_type) in _ELEMENT_DTYPES
                    and str(value.type.element_type) != "i1" and _ASM_SYMBOL.fullmatch(name)):
                found[name] = op
        return ir.WalkResult.ADVANCE

    module.walk(visit)
    weights = {}
    for name, op in found.items():
        data = np.asarray(op.attributes["value"])  # the attribute's own bytes, read-only
        if data.nbytes < EXTERNAL_BYTES:
            continue
        address = data.ctypes.data
        alignment = min(EXTERNAL_ALIGNMENT, address & -address) if in_place else EXTERNAL_ALIGNMENT
        with op.context:
            del op.attributes["value"]
            op.attributes["linkage"] = ir.Attribute.parse("#llvm.linkage<external>")
            op.attributes["alignment"] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), alignment)
            if not in_place:
                op.attributes["dso_local"] = ir.UnitAttr.get()
        weights[name] = data
    return weights


# Floating-point literals: LLVM newer than 22 prints floats as `f0x<bits>` and as short decimals
# that are only the nearest float; LLVM 22 wants a double's hex (exactly representable in the
# type), `0xH`/`0xR` for half/bfloat. A literal's type is the last type keyword before it.
_FLOAT_TOKEN = re.compile(r"\b(half|bfloat|float|double)\b|(?<![\w.%@$\"])"
                          r"(f0x[0-9A-Fa-f]+|[-+]?(?:\d+\.\d+(?:e[-+]?\d+)?|inf|nan|qnan|snan))(?![\w.])")
_SPECIAL = {"inf": float("inf"), "+inf": float("inf"), "-inf": float("-inf"), "nan": float("nan"),
            "+nan": float("nan"), "qnan": float("nan"), "-nan": float("-nan"), "snan": float("nan")}


def _double_hex(value: float) -> str:
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", value))[0]


def _literal(token: str, kind: str | None) -> str:
    if kind is None or (kind == "double" and not token.startswith("f0x") and token not in _SPECIAL):
        return token  # decimal doubles are read alike by both versions
    if token.startswith("f0x"):
        bits = int(token[3:], 16)
        if kind == "float":
            return _double_hex(float(np.uint32(bits).view(np.float32)))
        return {"double": "0x%016X", "half": "0xH%04X", "bfloat": "0xR%04X"}[kind] % bits
    value = _SPECIAL[token] if token in _SPECIAL else float(token)
    if kind == "float":
        return _double_hex(float(np.float32(value)))
    if kind == "half":
        return "0xH%04X" % int(np.float16(value).view(np.uint16))
    if kind == "bfloat":
        return "0xR%04X" % (int(np.float32(value).view(np.uint32)) >> 16)
    return _double_hex(value)


def _fix_line(line: str) -> str:
    kind = None

    def replace(match):
        nonlocal kind
        if match.group(1):
            kind = match.group(1)
            return match.group(1)
        return _literal(match.group(2), kind)

    return _FLOAT_TOKEN.sub(replace, line)


def _has_float_literal(line: str) -> bool:
    """Comments and byte-string globals (the weights, see constants_as_bytes) hold none: their
    bytes may spell anything and are never rewritten."""
    if line.startswith(";") or ' c"' in line:
        return False
    return re.search(r"\d\.\d|f0x|inf|nan", line) is not None


# Module-level assembly: newer LLVM prints `module asm` once, then its lines as indented strings;
# LLVM 22 reads one `module asm "line"` per line.
_MODULE_ASM = re.compile(r'^module asm\n((?:[ \t]+".*"\n)+)', re.M)


def _module_asm_lines(match: re.Match) -> str:
    return "".join(f"module asm {line.strip()}\n" for line in match.group(1).splitlines())


def for_llvm22(text: str) -> str:
    """`text` (from translate_to_llvm_ir) in the syntax LLVM 22's parser reads."""
    text = _MODULE_ASM.sub(_module_asm_lines, text)
    return "\n".join(_fix_line(line) if _has_float_literal(line) else line for line in text.split("\n"))
