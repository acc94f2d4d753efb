"""spirv-target: what upstream convert-gpu-to-spirv needs to know about the device, attached to the
outlined kernels: each gpu.module's `#spirv.target_env` (resource limits, subgroup size) and each
kernel's `#spirv.entry_point_abi` (its workgroup size, from the launch's known block size).

Before:
  gpu.module @main_kernel { gpu.func @main_kernel(...) kernel attributes {known_block_size = array<i32: 64, 1, 1>} }
After:
  gpu.module @main_kernel [#spirv.target_env<...>] attributes {spirv.target_env = #spirv.target_env<...>} {
    gpu.func @main_kernel(...) kernel attributes {spirv.entry_point_abi = #spirv.entry_point_abi<workgroup_size = [64, 1, 1]>, ...} }
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch_mlir import ir

from fretsaw.errors import op_error
from fretsaw.passes.base import ModulePass
from fretsaw.target import GPU_PRESETS, GpuTarget


def device_target(device: str) -> GpuTarget:
    """The description of `device`: a preset, or "local" for the Vulkan device of this machine."""
    if device == "local":
        from fretsaw.backends.vulkan import device as vulkan_device
        local = vulkan_device()
        limits = local.properties
        features = local.features
        return GpuTarget(local.name, subgroup_size=limits.subgroup_size,
                         max_invocations=limits.max_workgroup_invocations,
                         max_workgroup=tuple(limits.max_workgroup_size), storage_range=limits.max_storage_buffer_range,
                         f16=features.shader_float16 and features.storage_buffer_16bit_access)
    if device not in GPU_PRESETS:
        from fretsaw.errors import FretsawError
        raise FretsawError(f"unknown GPU device '{device}'; devices: local (the Vulkan device here), "
                           f"{', '.join(GPU_PRESETS)}")
    return GPU_PRESETS[device]


@dataclasses.dataclass(frozen=True)
class SpirvTarget(ModulePass):
    """Attach the device's #spirv.target_env and each kernel's workgroup size for convert-gpu-to-spirv."""

    name: ClassVar[str] = "spirv-target"
    device: str = "local"
    f16: bool = False  # the kernels use fp16 arithmetic and storage (pconv-gpu{f16=true})

    def run(self, module: ir.Operation) -> None:
        gpu = device_target(self.device)
        if self.f16 and not gpu.f16:
            from fretsaw.errors import FretsawError
            raise FretsawError(f"device '{gpu.name}' has no fp16 arithmetic or 16-bit storage buffers "
                               f"(shaderFloat16, storageBuffer16BitAccess): compile without fp16=True")
        env = ir.Attribute.parse(gpu.target_env(self.f16))
        for op in module.regions[0].blocks[0].operations:
            if op.operation.name != "gpu.module":
                continue
            op.attributes["targets"] = ir.ArrayAttr.get([env])
            op.attributes["spirv.target_env"] = env
            for func in op.regions[0].blocks[0].operations:
                if func.operation.name != "gpu.func":
                    continue
                size = list(ir.DenseI32ArrayAttr(func.attributes["known_block_size"]))
                if any(s > limit for s, limit in zip(size, gpu.max_workgroup)) or \
                        size[0] * size[1] * size[2] > gpu.max_invocations:
                    raise op_error(func, f"workgroup size {size} exceeds device '{gpu.name}' limits "
                                         f"({list(gpu.max_workgroup)}, {gpu.max_invocations} invocations)")
                func.attributes["spirv.entry_point_abi"] = ir.Attribute.parse(
                    f"#spirv.entry_point_abi<workgroup_size = {size}>")
