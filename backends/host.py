"""The host backend: x86-64 code through the LLVM dialect and MLIR's ExecutionEngine (JIT)."""

from __future__ import annotations

import ctypes
import dataclasses
import glob
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.execution_engine import ExecutionEngine

from fretsaw.backends.base import Signature, Stage
from fretsaw.backends.cpu import CpuOptions, cpu_stages
from fretsaw.backends.llvmir import external_constants
from fretsaw.errors import FretsawError
from fretsaw.passes.profile_ops import LABELS, STAMP
from fretsaw.target import CpuTarget, host_target


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
    symbol resolved to its array, through the GOT (position-independent code, so any address does).

    A module built with profile-ops (`labels`: its `fretsaw.profile` intervals) calls
    fretsaw_profile_stamp(k) between its top-level loops; here that is a Python callback reading
    the clock into slot k, so `profile` returns each interval's time. A callback costs some
    microseconds, once per top-level loop and call, outside the loops."""

    def __init__(self, module: ir.Module, entry: str, signature: Signature, opt_level: int,
                 weights: dict[str, np.ndarray] | None = None, labels: list[str] | None = None):
        self.entry, self.signature = entry, signature
        self.labels = labels
        self._module = module  # keeps the context alive as long as the engine: it holds the weights
        self._weights = weights or {}
        # no object dump: it is a copy of the whole object code, kept for dump_to_object_file
        self._engine = ExecutionEngine(module, opt_level=opt_level, shared_libs=runtime_libraries(),
                                       enable_object_dump=False, enable_pic=True)
        for name, data in self._weights.items():  # before the first lookup, which links the code
            self._engine.raw_register_runtime(name, ctypes.c_void_p(data.ctypes.data))
        if labels is not None:
            self._stamps = np.zeros(len(labels) + 1, dtype=np.int64)
            stamps, clock = self._stamps, time.perf_counter_ns

            def record(slot: int) -> None:
                stamps[slot] = clock()
            # kept referenced as long as the engine: the code calls it (through its C wrapper)
            self._stamp = ctypes.CFUNCTYPE(None, ctypes.c_int64)(record)
            self._engine.raw_register_runtime(f"_mlir_ciface_{STAMP}", ctypes.cast(self._stamp, ctypes.c_void_p))
        self._descriptors = [memref_descriptor(shape) for shape in (*signature.inputs, *signature.outputs)]
        self._args = [ctypes.pointer(ctypes.pointer(d)) for d in self._descriptors]
        self._lock = threading.RLock()  # profile calls __call__ under it

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        outputs = [np.empty(shape, dtype=np.float32) for shape in self.signature.outputs]
        with self._lock:
            for descriptor, array in zip(self._descriptors, (*inputs, *outputs)):
                descriptor.allocated = descriptor.aligned = array.ctypes.data
            self._engine.invoke(self.entry, *self._args)
        return outputs

    def profile(self, *inputs: np.ndarray) -> list[tuple[str, float]]:
        """(layer, milliseconds) per interval of `labels` of one call on `inputs` (a profile-ops
        build); a conv's input staging and its loops are two intervals of its layer."""
        if self.labels is None:
            raise FretsawError("profile() needs the clock stamps of a profiling build: compile with "
                               "fretsaw.compile(model, inputs, profile=True) (or `fretsaw bench --profile`)")
        with self._lock:
            self(*inputs)
            times = np.diff(self._stamps) / 1e6
        return [(label, float(t)) for label, t in zip(self.labels, times)]


@dataclass(frozen=True)
class HostOptions(CpuOptions):
    """Options of target="host" (CpuOptions', and):

    tune:         search each conv's register block and channel tile by timing it alone
                  (fretsaw/tune.py), cached on disk so each layer is searched once per machine.
    tuning_cache: the cache file; None = $FRETSAW_CACHE_DIR/tuning.json or ~/.cache/fretsaw/tuning.json.
    profile:      stamp a clock between the network's top-level loops (the profile-ops pass), so
                  cm.profile(x) times each layer where it runs, inside the network.
    """

    tune: bool = False
    tuning_cache: str | None = None
    profile: bool = False

    def cpu_target(self) -> CpuTarget:
        """This machine's description, with the options' overrides applied."""
        cpu = host_target()
        return dataclasses.replace(cpu, threads=self.threads or cpu.threads,
                                   vector_width=self.vector_width or cpu.vector_width)


class HostBackend:
    """x86-64 host: JIT through MLIR's ExecutionEngine."""

    name: ClassVar[str] = "host"
    Options: ClassVar[type] = HostOptions
    cross: ClassVar[bool] = False
    saves: ClassVar[bool] = False

    def __init__(self, options: HostOptions | None = None, cpu: CpuTarget | None = None):
        """`cpu` replaces the options' description of this machine (tests, benchmarks)."""
        self.options = options or HostOptions()
        self.cpu = cpu or self.options.cpu_target()
        self.opt_level = self.options.opt_level

    def stages(self) -> tuple[Stage, ...]:
        return cpu_stages(self.cpu, profile=self.options.profile)

    def prepare(self, module: ir.Module) -> list[dict]:
        """With tune=True: give each conv its tuned schedule (fretsaw/tune.py); its records."""
        if not self.options.tune:
            return []
        from fretsaw.tune import tune
        # the tuner times each conv alone, so its builds are never instrumented
        plain = HostBackend(dataclasses.replace(self.options, profile=False), self.cpu)
        return tune(module, plain, self.options.tuning_cache)

    def emit(self, module: ir.Module, entry: str, signature: Signature) -> HostExecutable:
        """JIT-compile `module` (LLVM dialect), which the executable takes over: its weights become
        external symbols (llvmir.external_constants)."""
        weights = external_constants(module.operation, in_place=True)
        labels = None
        if LABELS in module.operation.attributes:
            labels = [ir.StringAttr(label).value for label in ir.ArrayAttr(module.operation.attributes[LABELS])]
        return HostExecutable(module, entry, signature, self.opt_level, weights, labels)
