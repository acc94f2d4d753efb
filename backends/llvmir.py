"""MLIR (LLVM dialect) -> LLVM IR text, through the MLIR C API bundled with torch-mlir."""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch_mlir
from torch_mlir import ir

from fretsaw.errors import FretsawError

_CAPI = Path(torch_mlir.__file__).parent / "_mlir_libs" / "libTorchMLIRAggregateCAPI.so"


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


def translate_to_llvm_ir(module: ir.Module) -> str:
    """LLVM IR text of `module`, which must be in the LLVM dialect only."""
    lib = _library()
    raw = lib.mlirTranslateModuleToLLVMIRToString(_MlirOperation(_operation_pointer(module.operation)))
    if not raw:
        raise FretsawError("translation to LLVM IR failed: the module must hold only LLVM-dialect "
                           "operations (run the host 'llvm' stage first)")
    text = ctypes.string_at(raw).decode()
    ctypes.CDLL(None).free(ctypes.c_void_p(raw))
    return text
