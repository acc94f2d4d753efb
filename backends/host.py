"""The host backend: x86-64 code through the LLVM dialect and MLIR's ExecutionEngine (JIT)."""

from __future__ import annotations

import ctypes
import dataclasses
import glob
import os
import subprocess
import threading
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.execution_engine import ExecutionEngine

from fretsaw.backends.llvmir import external_constants
from fretsaw.errors import FretsawError
from fretsaw.target import CpuTarget, host_target

BUFFERIZE = ("builtin.module(one-shot-bufferize{bufferize-function-boundaries "
             "function-boundary-type-conversion=identity-layout-map}, "
             "buffer-results-to-out-params{hoist-static-allocs modify-public-functions}, "
             "buffer-deallocation-pipeline, convert-bufferization-to-memref, canonicalize, cse)")


def stages(cpu: CpuTarget, f16: bool = False) -> tuple[tuple[str, str], ...]:
    """The stages after import, read top to bottom; each is (name, pipeline text). With `f16` the
    convs compute in fp16, twice the fp32 lanes per register (AArch64 +fullfp16)."""
    conv = (f"width={2 * cpu.vector_width} accumulators={cpu.accumulators} f16=true" if f16
            else f"width={cpu.vector_width} accumulators={cpu.accumulators} shifts={str(cpu.shifts).lower()}")
    return (
        # convolutions with constant weights become pconv ops, sparsity recovered from the weights;
        # channels left constant by emptied filters fold into the next 1x1 convs' biases, and
        # filters whose channel no conv reads lose their kernels
        ("pconv", "builtin.module(pconv-raise, pconv-fold-constant-channels, pconv-drop-dead-filters, "
                  "canonicalize, cse, pconv-filter-kernel-reorder, pconv-pack-fkw)"),
        # linear layers, pooling, elementwise ops and pconv ops become SIMD loops (pconv: over kept
        # kernels and taps, register-blocked, tiled over input channels); the rest is still linalg
        # on tensors (matmuls and pooling first: elementwise fusion would fold a linear layer's
        # transpose and flatten into a generic contraction; then the fused elementwise ops).
        # No cse before bufferization: merging two reads of one tensor made far apart would keep
        # a buffer in use past a tensor op that bufferization lets overwrite it (check-buffer-reads)
        ("loops", f"builtin.module(dense-vectorize{{width={cpu.vector_width} elementwise=false}}, "
                  f"linalg-fuse-elementwise-ops, dense-vectorize{{width={cpu.vector_width}}}, "
                  f"pconv-vectorize{{{conv}}}, "
                  "canonicalize)"),
        # every memref read of a tensor is used before any tensor op that may overwrite it (checked);
        # a tensor returned twice is copied (one buffer per result); tensors become buffers; function
        # results become caller-owned out-parameters; frees inserted; large per-call buffers become
        # globals allocated once (no page faults on every call)
        ("bufferized", "builtin.module(check-buffer-reads, distinct-results, " + BUFFERIZE[len("builtin.module("):-1]
         + ", persistent-workspace)"),
        # linalg to loops; scf.parallel loops to OpenMP threads; then everything to the LLVM dialect
        # with C-callable wrappers (memref lowering must precede scf-to-cf for OpenMP's alloca scopes)
        ("llvm", f"builtin.module(func.func(llvm-request-c-wrappers), func.func(convert-linalg-to-loops), "
                 f"convert-scf-to-openmp{{num-threads={cpu.threads}}}, lower-affine, convert-vector-to-llvm, "
                 "expand-strided-metadata, finalize-memref-to-llvm, convert-scf-to-cf, convert-cf-to-llvm, "
                 "convert-openmp-to-llvm, convert-math-to-llvm, convert-math-to-libm, convert-arith-to-llvm, "
                 "convert-index-to-llvm, convert-ub-to-llvm, convert-func-to-llvm, "
                 "reconcile-unrealized-casts)"),
    )


def runtime_libraries() -> list[str]:
    """MLIR's C runner utils (memrefCopy and friends) and the OpenMP runtime, from Debian's
    libmlir-22 and libomp-22-dev."""
    libdirs = []
    try:
        libdirs.append(subprocess.run(["llvm-config-22", "--libdir"], capture_output=True, text=True,
                                      check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    libdirs.append("/usr/lib/llvm-22/lib")
    found = []
    for pattern, package in (("libmlir_c_runner_utils.so*", "libmlir-22"), ("libomp.so*", "libomp-22-dev")):
        matches = [m for libdir in libdirs for m in sorted(glob.glob(os.path.join(libdir, pattern)))]
        if not matches:
            raise FretsawError(f"{pattern.rstrip('*')} not found: install Debian's {package} "
                               f"(`apt-get install {package}`, which `make setup` does)")
        found.append(matches[0])
    return found


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


def row_major_strides(shape) -> list[int]:
    """Element strides of a C-contiguous array of `shape`."""
    return [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]


def memref_descriptor(shape: tuple[int, ...]) -> ctypes.Structure:
    """An MLIR memref descriptor (allocated, aligned, offset, sizes, strides) for a C-contiguous
    float32 array of `shape`, its data pointers still to be set."""
    rank = len(shape)
    fields = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p), ("offset", ctypes.c_longlong)]
    if rank:
        fields += [("shape", ctypes.c_longlong * rank), ("strides", ctypes.c_longlong * rank)]
    descriptor = type(f"MemRef{rank}D", (ctypes.Structure,), {"_fields_": fields})()
    if rank:
        descriptor.shape[:] = list(shape)
        descriptor.strides[:] = row_major_strides(shape)
    return descriptor


class HostExecutable:
    """The JIT-compiled entry point; call it with C-contiguous float32 arrays of the signature's
    shapes. The memref descriptors are built once (rebuilding them per call with torch-mlir's
    get_ranked_memref_descriptor costs more than a small model's run); a call sets their data
    pointers and runs the code, whose large buffers live in one module-wide workspace
    (persistent-workspace). Both are shared by every call, so calls take a lock: callers on
    several threads get correct results one call at a time (the code itself already runs on
    every thread it was compiled for). The weights are not in the JIT's code: the code reads them
    where the module's attributes hold them (`weights`, from llvmir.external_constants), each
    symbol resolved to its array, through the GOT (position-independent code, so any address does)."""

    def __init__(self, module: ir.Module, entry: str, signature: Signature, opt_level: int,
                 weights: dict[str, np.ndarray] | None = None):
        self.entry, self.signature = entry, signature
        self._module = module  # keeps the context alive as long as the engine: it holds the weights
        self._weights = weights or {}
        # no object dump: it is a copy of the whole object code, kept for dump_to_object_file
        self._engine = ExecutionEngine(module, opt_level=opt_level, shared_libs=runtime_libraries(),
                                       enable_object_dump=False, enable_pic=True)
        for name, data in self._weights.items():  # before the first lookup, which links the code
            self._engine.raw_register_runtime(name, ctypes.c_void_p(data.ctypes.data))
        self._descriptors = [memref_descriptor(shape) for shape in (*signature.inputs, *signature.outputs)]
        self._args = [ctypes.pointer(ctypes.pointer(d)) for d in self._descriptors]
        self._lock = threading.Lock()

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        outputs = [np.empty(shape, dtype=np.float32) for shape in self.signature.outputs]
        with self._lock:
            for descriptor, array in zip(self._descriptors, (*inputs, *outputs)):
                descriptor.allocated = descriptor.aligned = array.ctypes.data
            self._engine.invoke(self.entry, *self._args)
        return outputs


@dataclass(frozen=True)
class HostBackend:
    """x86-64 host: JIT through MLIR's ExecutionEngine."""

    name: ClassVar[str] = "host"
    opt_level: int = 3
    cpu: CpuTarget = dataclasses.field(default_factory=host_target)

    def stages(self) -> tuple[tuple[str, str], ...]:
        return stages(self.cpu)

    def emit(self, module: ir.Module, entry: str, signature: Signature) -> HostExecutable:
        """JIT-compile `module` (LLVM dialect), which the executable takes over: its weights become
        external symbols (llvmir.external_constants)."""
        weights = external_constants(module.operation, in_place=True)
        return HostExecutable(module, entry, signature, self.opt_level, weights)
