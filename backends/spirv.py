"""The SPIR-V backend: every layer a Vulkan compute kernel, run on a Vulkan device (backends/vulkan.py).

pconv convs and linear layers become fretsaw's GPU loops (pconv-gpu, gpu-matmul), the rest of the
graph upstream's parallel loops (linalg -> scf.parallel) mapped to workgroups and threads
(gpu-map-loops); upstream outlines them into gpu.modules, converts them (convert-gpu-to-spirv, for
the device's #spirv.target_env: spirv-target) and serialises them (gpu-module-to-binary).
What stays on the host is buffer bookkeeping: the dispatch plan (Plan) is read from it, and the
runtime runs the plan's dispatches in order, a barrier between each two.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import gpu as gpu_dialect

from fretsaw.backends.base import Signature, Stage
from fretsaw.backends.cpu import BUFFERIZE
from fretsaw.dialect.pconv import elements_to_numpy
from fretsaw.errors import FretsawError, op_error
from fretsaw.passes.match import constant_int
from fretsaw.stats import layer_label
from fretsaw.target import GPU_PRESETS, GpuTarget

# element type -> numpy dtype of the buffers a plan may hold
DTYPES = {"f32": np.float32, "f16": np.float16, "i32": np.int32, "i8": np.int8}
# host ops that only name buffers: views of a buffer (same bytes) and what needs no device work
VIEWS = ("memref.expand_shape", "memref.collapse_shape", "memref.cast")
NO_WORK = ("arith.constant", "memref.dealloc", "func.return")


@dataclass(frozen=True)
class SpirvOptions:
    """Options of target="spirv".

    device: the GPU to compile for: "local" (the Vulkan device of this machine, queried; the
            compiled model runs on it), or a preset of fretsaw.target.GPU_PRESETS ("adreno":
            subgroup 64, "mali": subgroup 16), whose limits the kernels then respect.
    fp16:   the convs' weights and staged inputs are fp16 and they compute in fp16 (the device must
            have shaderFloat16 and storageBuffer16BitAccess); the other layers and every tensor
            between layers stay fp32.
    fp32_sums: with fp16, the convs sum in fp32 (fp16 storage, fp32 arithmetic).
    """

    device: str = "local"
    fp16: bool = False
    fp32_sums: bool = False

    def __post_init__(self):
        if self.fp32_sums and not self.fp16:
            raise FretsawError("fp32_sums=True is for fp16=True (fp16 weights and conv inputs, fp32 sums)")
        if self.device != "local" and self.device not in GPU_PRESETS:
            raise FretsawError(f"unknown device '{self.device}' for target 'spirv'; devices: local (the Vulkan "
                               f"device here), {', '.join(GPU_PRESETS)}")


@dataclass
class Plan:
    """What the host does, in order: buffers (bytes each), kernels (SPIR-V, entry point, bindings),
    dispatches (kernel, buffers bound at set 0 bindings 0.., workgroup counts). Inputs and outputs
    are buffer ids in the entry's argument order; constants hold the weights by buffer id."""

    buffers: list[int]
    kernels: list[tuple[bytes, str, int]]
    dispatches: list[tuple[int, tuple[int, ...], tuple[int, int, int]]]
    constants: dict[int, np.ndarray]
    inputs: list[int]
    outputs: list[tuple[int, tuple[int, ...]]]
    workgroups: list[tuple[int, int, int]]  # per kernel: its workgroup size
    labels: list[str]  # per dispatch: the layer it computes (the source location's name and module kind)

    def manifest(self) -> dict:
        """The plan as JSON-able data (cm.save): buffer sizes and roles, kernels, dispatches."""
        return {
            "buffers": [{"bytes": size, "role": self.role(i)} for i, size in enumerate(self.buffers)],
            "kernels": [{"entry": entry, "bindings": bindings, "workgroup_size": list(self.workgroups[k])}
                        for k, (_, entry, bindings) in enumerate(self.kernels)],
            "dispatches": [{"kernel": k, "buffers": list(b), "groups": list(g), "layer": label}
                           for (k, b, g), label in zip(self.dispatches, self.labels)],
            "inputs": self.inputs, "outputs": [{"buffer": b, "shape": list(s)} for b, s in self.outputs],
        }

    def role(self, buffer: int) -> str:
        if buffer in self.inputs:
            return "input"
        if buffer in dict(self.outputs):
            return "output"
        return "constant" if buffer in self.constants else "temporary"


def element_dtype(op, mtype: ir.MemRefType):
    name = str(mtype.element_type)
    if name not in DTYPES:
        raise op_error(op, f"the spirv target keeps buffers of {', '.join(DTYPES)}, not {name}")
    return DTYPES[name]


def nbytes(op, mtype: ir.MemRefType) -> int:
    return int(np.prod(mtype.shape)) * np.dtype(element_dtype(op, mtype)).itemsize


def serialise(module: ir.Module) -> dict[str, bytes]:
    """Each kernel module's SPIR-V binary by gpu.module name: its spirv.module (beside it after
    convert-gpu-to-spirv) moved inside it in place of the gpu.func, then gpu-module-to-binary."""
    from fretsaw.pipeline import run_pipeline

    ops = list(module.body.operations)
    spirv = {op.attributes["sym_name"].value.removeprefix("__spv__"): op
             for op in ops if op.operation.name == "spirv.module"}
    for op in ops:
        if op.operation.name != "gpu.module":
            continue
        name = op.attributes["sym_name"].value
        if name not in spirv:
            raise op_error(op, "no SPIR-V module was made of this kernel module (convert-gpu-to-spirv)")
        body = op.regions[0].blocks[0]
        for inner in list(body.operations):
            inner.operation.erase()
        spirv[name].operation.move_before(body.operations[0]) if len(body.operations) else \
            body.append(spirv[name].operation)
    run_pipeline(module.operation, "builtin.module(gpu-module-to-binary)", stage="spirv-binary")
    binaries = {}
    for op in module.body.operations:
        if op.operation.name == "gpu.binary":
            binaries[op.attributes["sym_name"].value] = bytes(gpu_dialect.ObjectAttr(op.attributes["objects"][0]).object)
    return binaries


def global_data(module: ir.Module, name: str) -> np.ndarray:
    for op in module.body.operations:
        if op.operation.name == "memref.global" and op.attributes["sym_name"].value == name:
            value = op.attributes["initial_value"]
            return np.ascontiguousarray(elements_to_numpy(value))
    raise FretsawError(f"memref.global @{name} not found")


def read_plan(module: ir.Module, entry: str, signature: Signature, binaries: dict[str, bytes]) -> Plan:
    """The dispatch plan of the host function `entry` (after gpu-kernel-outlining): its buffers,
    launches and weights. Anything else left on the host is an error naming the op."""
    func = next(op for op in module.body.operations
                if op.operation.name == "func.func" and op.attributes["sym_name"].value == entry)
    buffers: list[int] = []
    of: dict = {}  # ir.Value -> buffer id
    constants: dict[int, np.ndarray] = {}
    kernels: dict[str, int] = {}
    kernel_list, dispatches, workgroups, labels = [], [], [], []

    def new_buffer(op, mtype) -> int:
        buffers.append(nbytes(op, ir.MemRefType(mtype)))
        return len(buffers) - 1

    args = list(func.regions[0].blocks[0].arguments)
    for arg in args:
        of[arg] = new_buffer(func, arg.type)
    count = len(signature.inputs)
    for op in func.regions[0].blocks[0].operations:
        name = op.operation.name
        if name == "memref.alloc":
            of[op.results[0]] = new_buffer(op, op.results[0].type)
        elif name == "memref.get_global":
            buffer = new_buffer(op, op.results[0].type)
            constants[buffer] = global_data(module, op.attributes["name"].value)
            of[op.results[0]] = buffer
        elif name in VIEWS:
            of[op.results[0]] = of[op.operands[0]]
        elif name == "gpu.launch_func":
            symbol = op.attributes["kernel"]
            kernel_module, kernel_name = str(symbol).split("::")
            kernel_module = kernel_module.lstrip("@")
            sizes = [constant_int(v) for v in list(op.operands)[:6]]
            if any(s is None for s in sizes):
                raise op_error(op, "the spirv target needs static workgroup counts and sizes")
            operands = list(op.operands)[6:]
            bound = []
            for value in operands:
                if value not in of:
                    raise op_error(op, f"kernel @{kernel_module} takes {value.type}, not a buffer: the spirv "
                                       f"target passes buffers only")
                bound.append(of[value])
            if kernel_module not in kernels:
                kernels[kernel_module] = len(kernel_list)
                kernel_list.append((binaries[kernel_module], kernel_name.lstrip("@"), len(bound)))
                workgroups.append(tuple(sizes[3:6]))
            dispatches.append((kernels[kernel_module], tuple(bound), tuple(sizes[:3])))
            labels.append(layer_label(op.location))
        elif name not in NO_WORK:
            raise op_error(op, "the spirv target runs every computation on the device, but this op stayed "
                               "on the host (gpu-map-loops did not map it)")
    outputs = [(of[arg], tuple(shape)) for arg, shape in zip(args[count:], signature.outputs)]
    return Plan(buffers, kernel_list, dispatches, constants, [of[a] for a in args[:count]], outputs, workgroups,
                labels)


class SpirvExecutable:
    """The plan on a Vulkan device: call it with C-contiguous float32 arrays of the signature's shapes."""

    def __init__(self, plan: Plan, gpu: GpuTarget):
        from fretsaw.backends import vulkan

        self.plan, self.gpu = plan, gpu
        for i, size in enumerate(plan.buffers):
            if size > gpu.storage_range:
                raise FretsawError(f"buffer {i} ({plan.role(i)}, {size / 2**20:.1f} MiB) exceeds the device's "
                                   f"maxStorageBufferRange ({gpu.storage_range / 2**20:.0f} MiB) on '{gpu.name}'")
        kernels = [vulkan.Kernel(spirv=code, entry=entry, bindings=bindings) for code, entry, bindings in plan.kernels]
        dispatches = [vulkan.Dispatch(kernel=k, buffers=b, groups=g) for k, b, g in plan.dispatches]
        self.program = vulkan.Program(vulkan.device(), kernels, plan.buffers, dispatches, plan.constants,
                                      plan.inputs, plan.outputs)

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        return self.program(*inputs)

    def profile(self, *inputs: np.ndarray) -> list[tuple[str, float]]:
        """(layer, device milliseconds) per dispatch of one run on `inputs` (timestamp queries)."""
        return list(zip(self.plan.labels, self.program.profile(*inputs)))

    def save(self, directory, name: str = "model") -> dict:
        """`<name>_kernelN.spv` per kernel, `<name>.json` (the plan), `<name>_plan.txt` (the plan as
        lines for C: text_plan) and `<name>_constants.bin` (the constant buffers, concatenated at the
        offsets the plan names) into `directory`; returns {kind: path}."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        manifest = self.plan.manifest()
        files = {}
        for k, (code, _, _) in enumerate(self.plan.kernels):
            path = directory / f"{name}_kernel{k}.spv"
            path.write_bytes(code)
            manifest["kernels"][k]["spirv"] = path.name
            files[f"kernel{k}"] = str(path)
        blob = directory / f"{name}_constants.bin"
        offset = 0
        with open(blob, "wb") as out:
            for buffer, data in sorted(self.plan.constants.items()):
                raw = np.ascontiguousarray(data).tobytes()
                manifest["buffers"][buffer].update(file=blob.name, offset=offset)
                out.write(raw)
                offset += len(raw)
        files["constants"] = str(blob)
        plan_path = directory / f"{name}.json"
        plan_path.write_text(json.dumps(manifest, indent=1))
        files["plan"] = str(plan_path)
        text_path = directory / f"{name}_plan.txt"
        text_path.write_text(text_plan(manifest))
        files["text_plan"] = str(text_path)
        return files


def text_plan(manifest: dict) -> str:
    """The plan as lines a C program reads with fscanf (the JSON's content, in order):
      buffer <bytes> <role> <offset in the constants file, or -1>
      kernel <.spv file> <entry point> <bindings> <workgroup x> <y> <z>
      dispatch <kernel> <groups x> <y> <z> <count> <buffer>...
      input <buffer>
      output <buffer> <rank> <dim>...
    """
    lines = []
    for b in manifest["buffers"]:
        lines.append(f"buffer {b['bytes']} {b['role']} {b.get('offset', -1)}")
    for k in manifest["kernels"]:
        lines.append(f"kernel {k['spirv']} {k['entry']} {k['bindings']} {' '.join(map(str, k['workgroup_size']))}")
    for d in manifest["dispatches"]:
        lines.append(f"dispatch {d['kernel']} {' '.join(map(str, d['groups']))} {len(d['buffers'])} "
                     f"{' '.join(map(str, d['buffers']))}")
    lines += [f"input {b}" for b in manifest["inputs"]]
    lines += [f"output {o['buffer']} {len(o['shape'])} {' '.join(map(str, o['shape']))}" for o in manifest["outputs"]]
    return "\n".join(lines) + "\n"


class SpirvBackend:
    """SPIR-V for Vulkan GPUs: compute kernels, a dispatch plan, run on the Vulkan device here."""

    name: ClassVar[str] = "spirv"
    Options: ClassVar[type] = SpirvOptions
    cross: ClassVar[bool] = False
    saves: ClassVar[bool] = True

    def __init__(self, options: SpirvOptions | None = None):
        self.options = options or SpirvOptions()

    def stages(self) -> tuple[Stage, ...]:
        from fretsaw.passes.spirv_target import device_target

        device = self.options.device
        max_bytes = device_target(device).storage_range
        f16 = str(self.options.fp16).lower()
        conv = f"pconv-gpu{{f16={f16} f32-sums={str(self.options.fp32_sums).lower()}}}"
        return (
            # linear layers and pconv convs become fretsaw's GPU loops (convs: a workgroup per
            # filter, register tiles, taps unrolled per pattern run; weights cut to what a buffer
            # binds); tensors become buffers; the rest of the graph upstream's parallel loops; all
            # of it, and the buffer copies, mapped to workgroups and threads
            Stage("gpu-loops", f"builtin.module(gpu-matmul{{max-bytes={max_bytes}}}, {conv}, check-buffer-reads, "
                               f"distinct-results, {BUFFERIZE}, func.func(convert-linalg-to-parallel-loops), "
                               "gpu-map-loops, canonicalize)"),
            # mapped loops become kernels, reading their buffers directly (views folded into the
            # indices), outlined into gpu.modules; the host keeps allocations and launches
            Stage("gpu", "builtin.module(func.func(convert-parallel-loops-to-gpu), fold-memref-alias-ops, "
                         "lower-affine, arith-expand, canonicalize, func.func(gpu-launch-sink-index-computations), "
                         "gpu-kernel-outlining, canonicalize, cse)"),
            # the device's target env and each kernel's workgroup size; kernels to SPIR-V
            Stage("spirv", f"builtin.module(spirv-target{{device={device} f16={f16}}}, convert-gpu-to-spirv, "
                           "spirv.module(spirv-lower-abi-attrs, spirv-update-vce))"),
        )

    def prepare(self, module: ir.Module) -> list[dict]:
        return []

    def emit(self, module: ir.Module, entry: str, signature: Signature) -> SpirvExecutable:
        from fretsaw.passes.spirv_target import device_target

        binaries = serialise(module)
        plan = read_plan(module, entry, signature, binaries)
        return SpirvExecutable(plan, device_target(self.options.device))
