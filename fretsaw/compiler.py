"""fretsaw.compile(): frontend import, then the backend's stages, then the executable."""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from fretsaw.backends import BACKENDS, make_backend
from fretsaw.backends.base import Backend, Signature
from fretsaw.context import make_context
from fretsaw.errors import FretsawError
from fretsaw.pipeline import run_pipeline, run_stage
from fretsaw.stages import PCONV, import_stage, is_onnx
from fretsaw.stats import model_stats

ENTRY = "main"


class CompiledModel:
    """A compiled model: call it like the model (numpy or torch in, numpy out)."""

    def __init__(self, stages: dict[str, ir.Operation], signature: Signature, executable, backend: Backend,
                 tuning: list[dict] | None = None):
        self._stages, self.signature, self._executable = stages, signature, executable
        self.backend = backend  # the target compiled for: .name, .options (its Options), .cpu (CPU targets)
        self.options = backend.options
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
        a Makefile and `<name>.json` into `directory`; spirv: `<name>_kernelN.spv`, `<name>.json` (the
        dispatch plan) and `<name>_constants.bin`; returns {kind: path}."""
        if not self.backend.saves:
            saving = [name for name, backend in BACKENDS.items() if backend.saves]
            raise FretsawError(f"save() writes artifacts to load elsewhere, of target {' or '.join(map(repr, saving))}: "
                               f"this model was compiled for target='{self.backend.name}' (call it to run it here)")
        return self._executable.save(directory, name)

    def profile(self, *inputs) -> list[tuple[str, float]]:
        """One run on `inputs`, timed where each step runs: (layer, milliseconds) per step. spirv:
        per dispatch, on the device; host compiled with profile=True: per top-level loop of the
        network (a conv's input staging and its loops are two steps of its layer), wall clock."""
        if not hasattr(self._executable, "profile"):
            raise FretsawError(f"profile() times a target='spirv' model's dispatches or a target='host' model "
                               f"compiled with profile=True; this one was compiled for target='{self.backend.name}' "
                               f"(run it under qemu with run_emulated; its llvm-mca estimate is in `fretsaw bench`)")
        return self._executable.profile(*self._check_inputs(inputs))

    def assembly(self, name: str = "model") -> str:
        """aarch64: the generated assembly (entry point `<name>_forward`)."""
        return self._cross("assembly").assembly(name)

    def _cross(self, method: str):
        if not self.backend.cross:
            cross = [name for name, backend in BACKENDS.items() if backend.cross]
            raise FretsawError(f"{method}() is for cross-compiled models: this one was compiled for "
                               f"target='{self.backend.name}'; compile with target='{cross[0]}' (call the "
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
    """Compile a torch.nn.Module (or an ONNX file / onnx.ModelProto) for `target`; `options` are
    the target's (its backend's Options: fretsaw.backends.BACKENDS[target].Options)."""
    backend = make_backend(target, options)
    example_inputs = check_example_inputs(example_inputs)
    ctx = make_context()
    module = import_model(model, example_inputs, ctx)
    # each stage kept as a clone: clones share the weights (attributes live in the context), so a
    # stage costs only its ops; the context holds every weight a stage made until it goes
    stages = {"torch": module.operation.clone()}
    lowering = import_stage(model)
    run_stage(module, lowering.name, lowering.pipeline)
    stages[lowering.name] = module.operation.clone()
    signature = Signature.of(module, ENTRY)
    run_stage(module, PCONV.name, PCONV.pipeline)
    tuning = backend.prepare(module)  # host with tune=True: the pconv ops get their tuned schedules
    stages[PCONV.name] = module.operation.clone()
    for stage in backend.stages():
        run_stage(module, stage.name, stage.pipeline)
        stages[stage.name] = module.operation.clone()
    executable = backend.emit(module, ENTRY, signature)
    return CompiledModel(stages, signature, executable, backend, tuning)


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


def import_model(model, example_inputs, ctx: ir.Context) -> ir.Module:
    if is_onnx(model):
        from fretsaw.frontend.onnx_import import import_onnx
        return import_onnx(model, ctx, example_inputs)
    from fretsaw.frontend.torch_import import import_torch, torch_inputs
    return import_torch(model, torch_inputs(example_inputs), ctx)
