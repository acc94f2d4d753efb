"""IREE's Vulkan (vulkan-spirv) backend as a benchmark peer, on this machine's Vulkan device.

The model takes the same road as the IREE llvm-cpu peer in fretsaw/benchmark.py (torch -> ONNX
by the TorchScript exporter, shapes fixed to the inputs', `iree.compiler.tools.import_onnx`, then
`iree-compile`), but targets `--iree-hal-target-device=vulkan` and runs on the runtime's "vulkan"
driver. Here that device is lavapipe (Mesa's llvmpipe Vulkan driver, which runs on the CPU), hence
the default `--iree-vulkan-target=llvmpipe`; set IREE_VULKAN_TARGET to compile for another.

Reading results back: the runtime's own DeviceArray.to_host() imports a fresh `np.empty` as the
copy target, and lavapipe refuses to import host memory that is not page-aligned
("minImportedHostPointerAlignment 4096"). `read_back` does the same copy into a numpy array placed
at a 4096-byte boundary (length padded to whole pages), or through a mapped staging buffer when the
allocator cannot import host memory at all.

Used by `fretsaw bench --target spirv` and bench/spirv.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from fretsaw.benchmark import export_onnx, static_onnx

VULKAN_TARGET = os.environ.get("IREE_VULKAN_TARGET", "llvmpipe")
IREE_VULKAN_FLAGS = ("--iree-hal-target-device=vulkan", f"--iree-vulkan-target={VULKAN_TARGET}")
PAGE = 4096  # lavapipe's minImportedHostPointerAlignment (vulkaninfo: VkPhysicalDeviceExternalMemoryHostPropertiesEXT)


def aligned_empty(nbytes: int, alignment: int = PAGE) -> np.ndarray:
    """A uint8 array of `nbytes` rounded up to whole `alignment`s, starting at an `alignment` boundary."""
    size = -(-max(nbytes, 1) // alignment) * alignment
    raw = np.empty(size + alignment, dtype=np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + size]


def read_back(array) -> np.ndarray:
    """The numpy copy of a DeviceArray (or HalBufferView) result, copied device -> host by the queue
    and waited for (what DeviceArray.to_host does, but into page-aligned host memory)."""
    import iree.runtime as ireert

    view = array._buffer_view if isinstance(array, ireert.DeviceArray) else array
    device = array._device if isinstance(array, ireert.DeviceArray) else None
    if device is None:
        raise RuntimeError("read_back needs a DeviceArray (a bare buffer view carries no device)")
    dtype = ireert.HalElementType.map_to_dtype(view.element_type)
    source = view.get_buffer()
    nbytes = source.byte_length()
    allocator = device.allocator
    memory = int(ireert.MemoryType.HOST_LOCAL | ireert.MemoryType.DEVICE_VISIBLE)
    usage = int(ireert.BufferUsage.TRANSFER_TARGET | ireert.BufferUsage.MAPPING_PERSISTENT)
    importable = allocator.query_buffer_compatibility(memory_type=memory, allowed_usage=usage, intended_usage=usage,
                                                      allocation_size=nbytes)
    semaphore = device.create_semaphore(0)
    if importable & int(ireert.BufferCompatibility.IMPORTABLE):
        host = aligned_empty(nbytes)
        target = allocator.import_host_allocation(host, memory_type=memory, allowed_usage=usage)
        device.queue_copy(source, target, wait_semaphores=ireert.HalFence.create_at(semaphore, 0),
                          signal_semaphores=ireert.HalFence.create_at(semaphore, 1))
        ireert.HalFence.create_at(semaphore, 1).wait()
        del target
        return host[:nbytes].view(dtype).reshape(view.shape)
    target = allocator.allocate_buffer(memory_type=memory, allocation_size=nbytes,
                                       allowed_usage=int(ireert.BufferUsage.TRANSFER_TARGET |
                                                         ireert.BufferUsage.MAPPING_SCOPED))
    device.queue_copy(source, target, wait_semaphores=ireert.HalFence.create_at(semaphore, 0),
                      signal_semaphores=ireert.HalFence.create_at(semaphore, 1))
    ireert.HalFence.create_at(semaphore, 1).wait()
    return np.array(target.map().asarray(view.shape, dtype))  # a copy: the mapping dies with `target`


def iree_diagnostics(error: Exception) -> str:
    """The error lines of an IREE compiler failure (its command line after "Invoked with:" says nothing of why)."""
    text = str(error).split("Invoked with:")[0]
    return text[max(0, text.find("error:")):].strip()[:2000]


def iree_vulkan(model: torch.nn.Module, inputs: tuple[np.ndarray, ...]) -> Callable[..., list[np.ndarray]]:
    """Compile `model` (float32, eval) with IREE for vulkan-spirv on the local device; return a callable
    running it on numpy inputs and returning numpy outputs (the output read back to the host each call).

    Shapes are fixed to those of `inputs`. Raises RuntimeError carrying IREE's message when IREE is
    missing, the import or compile fails, or no Vulkan device can be created."""
    try:
        import iree.compiler as ireec
        import iree.runtime as ireert
    except ImportError as error:
        raise RuntimeError(f"IREE is not installed ({error}): pip install iree-base-compiler iree-base-runtime") from None
    model = model.float().eval()
    inputs = tuple(np.ascontiguousarray(x, dtype=np.float32) for x in inputs)
    with tempfile.TemporaryDirectory(prefix="fretsaw-iree-vulkan-") as tmp:
        source, mlir = Path(tmp) / "model.onnx", Path(tmp) / "model.mlir"
        source.write_bytes(static_onnx(export_onnx(model, inputs), inputs))
        imported = subprocess.run([sys.executable, "-m", "iree.compiler.tools.import_onnx", str(source), "-o", str(mlir)],
                                  capture_output=True, text=True)
        if imported.returncode:
            raise RuntimeError(f"IREE could not import the ONNX model: {imported.stderr.strip()[-2000:]}")
        try:
            vmfb = ireec.compile_file(str(mlir), extra_args=list(IREE_VULKAN_FLAGS))
        except ireec.CompilerToolError as error:
            raise RuntimeError(f"IREE could not compile the model for vulkan ({' '.join(IREE_VULKAN_FLAGS)}): "
                               f"{iree_diagnostics(error)}") from None
    try:
        config = ireert.Config("vulkan")
        context = ireert.SystemContext(config=config)
        module = ireert.VmModule.copy_buffer(context.instance, vmfb)
        context.add_vm_module(module)
    except (RuntimeError, ValueError) as error:
        raise RuntimeError(f"IREE could not load the model on a Vulkan device: {error}") from None
    entry = next(name for name in module.function_names if not name.startswith("__") and "$" not in name)
    main = context.modules[module.name][entry]

    def run(*arrays: np.ndarray) -> list[np.ndarray]:
        try:
            results = main(*(np.ascontiguousarray(a, dtype=np.float32) for a in arrays))
            results = results if isinstance(results, (tuple, list)) else [results]
            return [read_back(r) for r in results]
        except (RuntimeError, ValueError) as error:
            raise RuntimeError(f"IREE vulkan run failed: {error}") from None

    run.compile_flags = IREE_VULKAN_FLAGS
    return run
