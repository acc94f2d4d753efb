"""The machine's FMA peak: a register-resident loop of independent FMA chains, built as MLIR for a
target description and compiled by the host backend's own LLVM stage, like any model.

    func.func @fma_chains(%trips: index, %state: memref<T x (C+2) x W x f32>) {
      scf.parallel (%t) = (0) to (T) {                       // one iteration per thread (OpenMP)
        %scale = vector.load %state[%t, C, 0]; %shift = vector.load %state[%t, C+1, 0]
        %acc:C = scf.for %i = 0 to %trips iter_args(%a = <rows 0..C-1 of %state[%t]>) {
          scf.yield (vector.fma %scale, %a_c, %shift) for every chain c
        }
        vector.store %acc#c, %state[%t, c, 0] for every chain c
      }
    }

Nothing lets LLVM fold or shorten the chains: the trip count is an argument, the multiplier,
the addend and the starting values are loaded from memory, the results are stored, and without
fast-math flags floating-point FMAs are neither reassociated nor merged.
"""

from __future__ import annotations

import ctypes
import time

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import func, scf, vector
from torch_mlir.execution_engine import ExecutionEngine

from fretsaw.backends.cpu import cpu_stages
from fretsaw.backends.host import memref_descriptor, runtime_libraries
from fretsaw.context import make_context
from fretsaw.passes.builders import index, parallel, vload, vstore
from fretsaw.pipeline import run_stage
from fretsaw.target import CpuTarget

ENTRY = "fma_chains"
# Each chain's starting value, multiplier and addend: acc <- SCALE * acc + SHIFT converges to
# SHIFT / (1 - SCALE) = 2 from 0 (1, 1.5, 1.75, ... after 1, 2, 3 trips), never overflowing nor
# becoming subnormal, which some CPUs compute more slowly.
SCALE, SHIFT = 0.5, 1.0


def chain_count(cpu: CpuTarget) -> int:
    """Independent FMA chains that keep every FMA pipe busy: an FMA's result is ready after its
    latency (4 cycles on current x86 and Arm cores), and a core issues up to 2 (x86) or 4 (Arm's
    largest cores) FMAs a cycle, so 8 to 16 chains in flight. Capped by the registers: the
    multiplier and the addend take two, and two stay spare so that nothing spills."""
    return min(16, cpu.registers - 4)


def fma_chains_module(cpu: CpuTarget, chains: int) -> ir.Module:
    """The FMA chain loop (module docstring) for `cpu`: its vector width, one scf.parallel
    iteration per thread of `cpu.threads`, `chains` accumulators."""
    width, threads = cpu.vector_width, cpu.threads
    with make_context(), ir.Location.unknown():
        module = ir.Module.create()
        state_type = ir.MemRefType.get([threads, chains + 2, width], ir.F32Type.get())
        with ir.InsertionPoint(module.body):
            function = func.FuncOp(ENTRY, ([ir.IndexType.get(), state_type], []))
            with ir.InsertionPoint(function.add_entry_block()):
                trips, state = function.arguments
                with parallel(0, threads) as t:
                    scale = vload(width, state, [t, chains, 0])
                    shift = vload(width, state, [t, chains + 1, 0])
                    start = [vload(width, state, [t, c, 0]) for c in range(chains)]
                    loop = scf.ForOp(index(0), trips, index(1), start)
                    with ir.InsertionPoint(loop.body):
                        scf.YieldOp([vector.FMAOp(scale, acc, shift).result for acc in loop.inner_iter_args])
                    for c, acc in enumerate(loop.results):
                        vstore(acc, state, [t, c, 0])
                func.ReturnOp([])
    return module


class FmaLoop:
    """The FMA chain loop compiled for `cpu` (its threads run it at once); `run(trips)` times it."""

    def __init__(self, cpu: CpuTarget, opt_level: int = 3):
        self.cpu, self.chains = cpu, chain_count(cpu)
        self._module = fma_chains_module(cpu, self.chains)
        llvm = next(stage for stage in cpu_stages(cpu) if stage.name == "llvm")
        run_stage(self._module, llvm.name, llvm.pipeline)
        self._engine = ExecutionEngine(self._module, opt_level=opt_level, shared_libs=runtime_libraries(),
                                       enable_object_dump=False)
        self.state = np.zeros((cpu.threads, self.chains + 2, cpu.vector_width), dtype=np.float32)
        self._descriptor = memref_descriptor(self.state.shape)
        self._descriptor.allocated = self._descriptor.aligned = self.state.ctypes.data

    def flops(self, trips: int) -> int:
        """FLOPs of one run of `trips` trips: every thread, chain and lane, 2 per FMA."""
        return 2 * self.cpu.threads * self.chains * self.cpu.vector_width * trips

    def run(self, trips: int) -> float:
        """Seconds one run of `trips` trips takes, from zeroed accumulators; the chains' values are
        left in `state[:, :chains]` (2 * (1 - SCALE ** trips) each)."""
        self.state[:, :self.chains] = 0.0
        self.state[:, self.chains], self.state[:, self.chains + 1] = SCALE, SHIFT
        count = ctypes.c_int64(trips)
        start = time.perf_counter()
        self._engine.invoke(ENTRY, ctypes.pointer(count), ctypes.pointer(ctypes.pointer(self._descriptor)))
        return time.perf_counter() - start


def measure(cpu: CpuTarget, repeats: int = 30, seconds: float = 0.002) -> float:
    """GFLOP/s of the FMA chain loop on `cpu` (all its threads at once): the fastest of `repeats`
    runs of about `seconds` each. A peak is what the machine can do, and other load only slows a
    run; on a shared machine a short run more often falls in a stretch where every thread has its
    core to itself, so many short runs find the peak where a few long ones would not. First
    short runs start the OpenMP threads and size the trip count."""
    loop = FmaLoop(cpu)
    trips = 1 << 16
    elapsed = min(loop.run(trips) for _ in range(3))
    trips = max(trips, int(trips * seconds / max(elapsed, 1e-6)))
    best = min(loop.run(trips) for _ in range(repeats))
    return loop.flops(trips) / best / 1e9
