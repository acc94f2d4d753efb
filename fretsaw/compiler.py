"""fretsaw.compile(): frontend import, then the backend's stages, then the executable."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
from torch_mlir import ir

from fretsaw.backends import BACKENDS
from fretsaw.backends.host import Signature
from fretsaw.context import make_context
from fretsaw.errors import FretsawError
from fretsaw.pipeline import run_pipeline
from fretsaw.stats import model_stats
from fretsaw.target import CpuTarget, host_target

ENTRY = "main"
IMPORT_STAGES = ("torch", "linalg")


@dataclasses.dataclass(frozen=True)
class CompileOptions:
    """Options of fretsaw.compile(); strings are accepted and normalised here.

    target:       "host" (x86-64 JIT) or "aarch64" (NEON object for phones, run under qemu).
    opt_level:    LLVM optimisation level 0-3 of the generated code.
    threads:      worker threads of the generated code; None = every core fretsaw may use (host),
                  4 (aarch64: a phone's big cores; the artifact can change it at run time).
    vector_width: fp32 SIMD lanes; None = what the CPU has (AVX-512 16, AVX2 8, NEON 4, else 4).
    tune:         search each conv's register block and channel tile by timing it alone
                  (fretsaw/tune.py), cached on disk so each layer is searched once per machine.
    tuning_cache: the cache file; None = $FRETSAW_CACHE_DIR/tuning.json or ~/.cache/fretsaw/tuning.json.
    cpu:          aarch64: llc's -mcpu, e.g. "cortex-a76" (default "generic").
    features:     aarch64: llc's -mattr, e.g. "+neon,+fullfp16" (default "+neon").
    triple:       aarch64: the target triple, "aarch64-linux-gnu" (default) or an Android one such
                  as "aarch64-linux-android24" (saved, not run under qemu).
    mca_regions:  aarch64: mark the SIMD inner loops for llvm-mca and count their iterations
                  (the `mca-regions` pass; what `fretsaw bench --target aarch64` measures with).
    fp16:         aarch64: convolutions compute in fp16 (8 lanes per NEON register; adds
                  +fullfp16 to the features); inputs, outputs and the other layers stay fp32.
    """

    target: str = "host"
    opt_level: int = 3
    threads: int | None = None
    vector_width: int | None = None
    tune: bool = False
    tuning_cache: str | None = None
    cpu: str | None = None
    features: str | None = None
    triple: str | None = None
    mca_regions: bool = False
    fp16: bool = False

    def __post_init__(self):
        object.__setattr__(self, "target", str(self.target).lower())
        if self.target not in BACKENDS:
            raise FretsawError(f"unknown target '{self.target}'; available: {', '.join(BACKENDS)}")
        if int(self.opt_level) not in range(4):
            raise FretsawError(f"opt_level must be 0, 1, 2 or 3, got {self.opt_level}")
        object.__setattr__(self, "opt_level", int(self.opt_level))
        if self.threads is not None:
            if int(self.threads) < 1:
                raise FretsawError(f"threads must be at least 1, got {self.threads}")
            object.__setattr__(self, "threads", int(self.threads))
        if self.vector_width is not None:
            if int(self.vector_width) not in (1, 2, 4, 8, 16):
                raise FretsawError(f"vector_width must be 1, 2, 4, 8 or 16 fp32 lanes, got {self.vector_width}")
            object.__setattr__(self, "vector_width", int(self.vector_width))
        cross = [name for name in ("cpu", "features", "triple") if getattr(self, name) is not None]
        cross += [name for name in ("mca_regions", "fp16") if getattr(self, name)]
        if self.target == "host" and cross:
            raise FretsawError(f"{', '.join(cross)}= describe a cross-compilation target: use them with "
                               f"target='aarch64' (the host target compiles for this machine's CPU)")
        if self.target != "host" and self.tune:
            raise FretsawError(f"tune=True times each conv on this machine, which cannot run {self.target} "
                               f"code at its real speed: compile for {self.target} without tune (the heuristics "
                               f"then choose each conv's schedule for its registers and lanes)")
        if self.target == "aarch64" and self.triple is not None and not str(self.triple).startswith("aarch64"):
            raise FretsawError(f"triple='{self.triple}' is not an AArch64 triple; use e.g. "
                               f"'aarch64-linux-gnu' or 'aarch64-linux-android24'")

    def cpu_target(self) -> CpuTarget:
        """The description of the CPU compiled for, with the options' overrides applied."""
        if self.target == "aarch64":
            from fretsaw.backends.aarch64 import neon_target
            return neon_target(self.threads or 4, self.vector_width)
        cpu = host_target()
        return dataclasses.replace(cpu, threads=self.threads or cpu.threads,
                                   vector_width=self.vector_width or cpu.vector_width)

    def backend(self):
        """The backend object these options select."""
        if self.target == "aarch64":
            from fretsaw.backends.aarch64 import TRIPLE, AArch64Backend
            features = self.features or "+neon"
            if self.fp16 and "+fullfp16" not in features.split(","):
                features += ",+fullfp16"
            return AArch64Backend(opt_level=self.opt_level, cpu=self.cpu_target(), triple=self.triple or TRIPLE,
                                  mcpu=self.cpu or "generic", features=features,
                                  mca_regions=self.mca_regions, fp16=self.fp16)
        return BACKENDS[self.target](opt_level=self.opt_level, cpu=self.cpu_target())

    @classmethod
    def from_kwargs(cls, target: str, options: dict[str, Any]) -> "CompileOptions":
        known = {f.name for f in dataclasses.fields(cls)} - {"target"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise FretsawError(f"unknown compile option(s) {', '.join(unknown)}; "
                               f"valid options: target, {', '.join(sorted(known))}")
        return cls(target=target, **options)


class CompiledModel:
    """A compiled model: call it like the model (numpy or torch in, numpy out)."""

    def __init__(self, stages: dict[str, ir.Operation], signature: Signature, executable, options: CompileOptions,
                 tuning: list[dict] | None = None):
        self._stages, self.signature, self._executable = stages, signature, executable
        self.options = options
        self.tuning = tuning or []  # with tune=True: per conv, the schedule chosen and its times
        self._stats = None

    def __call__(self, *inputs):
        arrays = self._check_inputs(inputs)
        outputs = self._executable(*arrays)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def run_emulated(self, *inputs):
        """aarch64: run the cross-compiled model under qemu-aarch64; numpy out, like calling it."""
        outputs = self._cross("run_emulated").run(*self._check_inputs(inputs))
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def save(self, directory, name: str = "model") -> dict:
        """aarch64: write `<name>.o`, `<name>.h`, `<name>_api.c`, `<name>_driver.c`, fretsaw_runtime.c,
        a Makefile and `<name>.json` into `directory`; returns {kind: path}."""
        return self._cross("save").save(directory, name)

    def assembly(self, name: str = "model") -> str:
        """aarch64: the generated assembly (entry point `<name>_forward`)."""
        return self._cross("assembly").assembly(name)

    def _cross(self, method: str):
        if not hasattr(self._executable, "save"):
            raise FretsawError(f"{method}() is for cross-compiled models: this one was compiled for "
                               f"target='{self.options.target}'; compile with target='aarch64' (call the "
                               f"model itself to run it here)")
        return self._executable

    def _check_inputs(self, inputs) -> list[np.ndarray]:
        expected = self.signature.inputs
        if len(inputs) != len(expected):
            raise FretsawError(f"the compiled model takes {len(expected)} input(s) of shape(s) "
                               f"{', '.join(map(str, expected))}, got {len(inputs)}")
        arrays = []
        for i, (value, shape) in enumerate(zip(inputs, expected)):
            if hasattr(value, "detach"):  # torch.Tensor
                value = value.detach().cpu().numpy()
            if not isinstance(value, np.ndarray):
                raise FretsawError(f"input {i}: expected a numpy array or torch tensor, got {type(value).__name__}")
            if value.dtype != np.float32:
                raise FretsawError(f"input {i}: expected dtype float32, got {value.dtype} "
                                   f"(convert with .astype(np.float32) or .float())")
            if tuple(value.shape) != shape:
                raise FretsawError(f"input {i}: expected shape {shape}, got {tuple(value.shape)}; "
                                   f"fretsaw compiles for the example inputs' shapes")
            arrays.append(np.ascontiguousarray(value))
        return arrays

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(self._stages)

    def ir(self, stage: str, *, elide_weights: bool = True) -> str:
        """MLIR text of `stage` (one of `stage_names`); large constants elided unless asked."""
        if stage not in self._stages:
            raise FretsawError(f"unknown stage '{stage}'; stages: {', '.join(self._stages)}")
        limit = 16 if elide_weights else None
        return self._stages[stage].operation.get_asm(large_elements_limit=limit)

    def stats(self) -> dict:
        """Dense vs sparse FLOPs per conv layer and in total, pattern histograms, connectivity: of the
        pruned model as its weights are (its convs raised alone: the pconv stage's constant-channel
        fold and dead-filter drop then skip more kernels where pruning emptied whole filters)."""
        if self._stats is None:
            raised = self._stages["linalg"].clone()
            run_pipeline(raised, "builtin.module(pconv-raise)", stage="stats")
            self._stats = model_stats(raised)
        return self._stats


def compile(model, example_inputs, target: str = "host", **options) -> CompiledModel:
    """Compile a torch.nn.Module (or an ONNX file / onnx.ModelProto) for `target`."""
    opts = CompileOptions.from_kwargs(target, options)
    example_inputs = check_example_inputs(example_inputs)
    backend = opts.backend()
    ctx = make_context()
    module = import_model(model, example_inputs, ctx)
    # each stage kept as a clone: clones share the weights (attributes live in the context), so a
    # stage costs only its ops; the context holds every weight a stage made until it goes
    stages = {"torch": module.operation.clone()}
    run_stage(module, "linalg", lowering_pipeline(model))
    stages["linalg"] = module.operation.clone()
    signature = Signature.of(module, ENTRY)
    tuning = []
    for name, pipeline in backend.stages():
        run_stage(module, name, pipeline)
        if name == "pconv" and opts.tune:  # the pconv ops exist now: give each its tuned schedule
            from fretsaw.tune import tune
            tuning = tune(module, backend, opts.tuning_cache)
        stages[name] = module.operation.clone()
    executable = backend.emit(module, ENTRY, signature)
    return CompiledModel(stages, signature, executable, opts, tuning)


def check_example_inputs(example_inputs) -> tuple:
    """`example_inputs` as a tuple of float32 torch tensors / numpy arrays; FretsawError naming a bad one."""
    import torch

    if isinstance(example_inputs, (torch.Tensor, np.ndarray)):
        example_inputs = (example_inputs,)
    if not isinstance(example_inputs, (tuple, list)):
        raise FretsawError(f"example_inputs must be a torch tensor or numpy array, or a tuple of them, got "
                           f"{type(example_inputs).__name__}; e.g. (torch.randn(1, 3, 224, 224),): their shapes "
                           f"become the compiled model's input shapes")
    for i, value in enumerate(example_inputs):
        if not isinstance(value, (torch.Tensor, np.ndarray)):
            raise FretsawError(f"example input {i} is a {type(value).__name__}, not a torch tensor or numpy array; "
                               f"pass e.g. torch.randn(1, 3, 224, 224): its shape becomes the compiled input's")
        if 0 in tuple(value.shape):
            raise FretsawError(f"example input {i} has shape {tuple(value.shape)}, with no elements: fretsaw "
                               f"compiles tensors of at least one element")
        float32 = torch.float32 if isinstance(value, torch.Tensor) else np.float32
        if value.dtype != float32:
            raise FretsawError(f"example input {i} has dtype {value.dtype}: fretsaw compiles float32 models "
                               f"(the compiled model takes float32 inputs); convert it with .float() or "
                               f".astype(np.float32)")
    return tuple(example_inputs)


def run_stage(module: ir.Module, name: str, pipeline: str) -> None:
    run_pipeline(module, pipeline, stage=name)
    keep = os.environ.get("FRETSAW_SAVE_TEMPS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / f"{name}.mlir").write_text(module.operation.get_asm(enable_debug_info=True))


def is_onnx(model) -> bool:
    if isinstance(model, (str, os.PathLike)):
        return True
    return type(model).__name__ == "ModelProto"


def import_model(model, example_inputs, ctx: ir.Context) -> ir.Module:
    if is_onnx(model):
        from fretsaw.frontend.onnx_import import import_onnx
        return import_onnx(model, ctx, example_inputs)
    from fretsaw.frontend.torch_import import import_torch, torch_inputs
    return import_torch(model, torch_inputs(example_inputs), ctx)


def lowering_pipeline(model) -> str:
    if is_onnx(model):
        from fretsaw.frontend.onnx_import import TO_LINALG
        return TO_LINALG
    from fretsaw.frontend.torch_import import TO_LINALG
    return TO_LINALG
