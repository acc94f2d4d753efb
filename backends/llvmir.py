"""MLIR (LLVM dialect) -> LLVM IR text, through the MLIR C API bundled with torch-mlir."""

from __future__ import annotations

import ctypes
from pathlib import Path

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


def translate_to_llvm_ir(module: ir.Module) -> str:
    """LLVM IR text of `module`, which must be in the LLVM dialect only (OpenMP ops included)."""
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
