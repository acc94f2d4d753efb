"""What the CPU backends (host, aarch64) share: their common options and their stages after
pconv, written for a target description (fretsaw/target.py)."""

from __future__ import annotations

from dataclasses import dataclass

from fretsaw.backends.base import Stage
from fretsaw.errors import FretsawError
from fretsaw.passes.conv.schedule import SimdTarget
from fretsaw.target import CpuTarget



def bufferize(fold_copies: bool = False) -> str:
    """Tensors to buffers, function results to caller-owned out-parameters (a returned alloc
    becomes its out-parameter), frees inserted. `fold_copies` (the CPU targets): a result that is
    a reshape of an alloc is computed into its out-parameter too (fold-result-copies), not
    copied there at the end of every call (the SPIR-V target keeps the copy: its dispatch plan
    binds device buffers of its own, and the fold is not tried there)."""
    fold = "fold-result-copies, " if fold_copies else ""
    return ("one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map}, "
            f"buffer-results-to-out-params{{hoist-static-allocs modify-public-functions}}, {fold}"
            "buffer-deallocation-pipeline, convert-bufferization-to-memref, canonicalize, cse")


BUFFERIZE = bufferize()


@dataclass(frozen=True)
class CpuOptions:
    """Options of every CPU target.

    opt_level:    LLVM optimisation level 0-3 of the generated code.
    threads:      worker threads of the generated code; None = the target's default (host: every
                  core fretsaw may use; aarch64: 4, a phone's big cores).
    vector_width: fp32 SIMD lanes; None = what the CPU has (AVX-512 16, AVX2 8, NEON 4, else 4).
    """

    opt_level: int = 3
    threads: int | None = None
    vector_width: int | None = None

    def __post_init__(self):
        try:
            level = int(self.opt_level)
        except (TypeError, ValueError):
            level = None
        if level not in range(4):
            raise FretsawError(f"opt_level must be 0, 1, 2 or 3, got {self.opt_level}")
        object.__setattr__(self, "opt_level", level)
        if self.threads is not None:
            if int(self.threads) < 1:
                raise FretsawError(f"threads must be at least 1, got {self.threads}")
            object.__setattr__(self, "threads", int(self.threads))
        if self.vector_width is not None:
            if int(self.vector_width) not in (1, 2, 4, 8, 16):
                raise FretsawError(f"vector_width must be 1, 2, 4, 8 or 16 fp32 lanes, got {self.vector_width}")
            object.__setattr__(self, "vector_width", int(self.vector_width))


def conv_options(cpu: CpuTarget, f16: bool = False) -> str:
    """pconv-vectorize's options for `cpu` (SimdTarget.of: its lanes, accumulators, shifts, L1
    data cache, L2); with `f16` the convs compute in fp16, twice the fp32 lanes per register (AArch64
    +fullfp16)."""
    simd = SimdTarget.of(cpu)
    if f16:
        return f"width={2 * simd.width} accumulators={simd.accumulators} cache={simd.cache} l2={simd.l2} f16=true"
    return (f"width={simd.width} accumulators={simd.accumulators} cache={simd.cache} l2={simd.l2} "
            f"shifts={str(simd.shifts).lower()}")


def cpu_stages(cpu: CpuTarget, f16: bool = False, mca_regions: bool = False,
               profile: bool = False) -> tuple[Stage, ...]:
    """The CPU stages after pconv, read top to bottom. `mca_regions` marks the convs' SIMD inner
    loops for llvm-mca (the mca-regions pass, for `fretsaw bench --target aarch64`); `profile`
    stamps a clock between the entry's top-level loops (profile-ops, for the host's cm.profile)."""
    width = cpu.vector_width
    loops = [f"dense-vectorize{{width={width} elementwise=false}}", "linalg-fuse-elementwise-ops",
             f"dense-vectorize{{width={width}}}", f"pconv-vectorize{{{conv_options(cpu, f16)}}}", "canonicalize"]
    if mca_regions:
        loops.append("mca-regions")
    return (
        # linear layers, pooling, elementwise ops and pconv ops become SIMD loops (pconv: over kept
        # kernels and taps, register-blocked, tiled over input channels); the rest is still linalg
        # on tensors (matmuls and pooling first: elementwise fusion would fold a linear layer's
        # transpose and flatten into a generic contraction; then the fused elementwise ops).
        # No cse before bufferization: merging two reads of one tensor made far apart would keep
        # a buffer in use past a tensor op that bufferization lets overwrite it (check-buffer-reads)
        Stage("loops", f"builtin.module({', '.join(loops)})"),
        # every memref read of a tensor is used before any tensor op that may overwrite it (checked);
        # a tensor returned twice is copied (one buffer per result); tensors become buffers; function
        # results become caller-owned out-parameters (a reshaped result too: fold-result-copies);
        # frees inserted; large per-call buffers become globals allocated once (no page faults
        # on every call)
        Stage("bufferized", f"builtin.module(check-buffer-reads, distinct-results, {bufferize(True)}, "
                            "persistent-workspace)"),
        # linalg to loops; scf.parallel loops to OpenMP threads; then everything to the LLVM dialect
        # with C-callable wrappers (memref lowering must precede scf-to-cf for OpenMP's alloca scopes)
        Stage("llvm", f"builtin.module({'profile-ops, ' if profile else ''}func.func(llvm-request-c-wrappers), func.func(convert-linalg-to-loops), "
                      f"convert-scf-to-openmp{{num-threads={cpu.threads}}}, lower-affine, convert-vector-to-llvm, "
                      "expand-strided-metadata, finalize-memref-to-llvm, convert-scf-to-cf, convert-cf-to-llvm, "
                      "convert-openmp-to-llvm, convert-math-to-llvm, convert-math-to-libm, convert-arith-to-llvm, "
                      "convert-index-to-llvm, convert-ub-to-llvm, convert-func-to-llvm, "
                      "reconcile-unrealized-casts)"),
    )
