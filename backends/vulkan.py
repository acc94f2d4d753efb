"""A small Vulkan compute runtime: a fixed sequence of SPIR-V dispatches over shared buffers.

Program creates the buffers, uploads the constants once and records one command buffer holding
every dispatch with a barrier between consecutive ones; a call then only copies the inputs in,
submits, waits on a fence and copies the outputs out. It uses the `vulkan` package (cffi bindings
of the system's libvulkan); on a machine without a GPU, Mesa's lavapipe is a CPU Vulkan device.
"""

from __future__ import annotations

import atexit
import math
import threading
import weakref
from dataclasses import dataclass

import numpy as np

from fretsaw.errors import FretsawError

try:
    import vulkan as vk
    _IMPORT_ERROR = None
except OSError:  # the package is there, libvulkan.so.1 is not
    vk, _IMPORT_ERROR = None, ("no Vulkan loader (libvulkan.so.1) found: install Debian's libvulkan1 and "
                               "mesa-vulkan-drivers (lavapipe, a CPU Vulkan driver) (`make setup` does)")
except ImportError:
    vk, _IMPORT_ERROR = None, "the `vulkan` Python package is missing: `pip install vulkan` (`make setup` does)"

NO_DEVICE = ("no Vulkan device found: install Debian's mesa-vulkan-drivers (lavapipe, a CPU Vulkan driver) "
             "and libvulkan1 (`make setup` does)")
FENCE_TIMEOUT_NS = 600 * 10**9  # a run taking longer than 10 minutes is a hung shader
SPIRV_MAGIC = 0x07230203
# preference among physical devices: discrete GPU, integrated GPU, virtual GPU, CPU (lavapipe)
DEVICE_TYPE_RANK = {2: 0, 1: 1, 3: 2, 4: 3}


@dataclass(frozen=True)
class Kernel:
    """A SPIR-V module with one GLCompute entry point `entry` reading and writing `bindings`
    storage buffers at descriptor set 0, bindings 0..bindings-1."""

    spirv: bytes
    entry: str
    bindings: int


@dataclass(frozen=True)
class Dispatch:
    """Run Program.kernels[kernel] on `groups` workgroups with buffer ids `buffers` bound in order."""

    kernel: int
    buffers: tuple[int, ...]
    groups: tuple[int, int, int]


@dataclass(frozen=True)
class DeviceProperties:
    """The limits of a device that kernels and programs must respect (VkPhysicalDeviceLimits),
    its subgroup size and the nanoseconds per timestamp tick."""

    max_storage_buffer_range: int
    max_workgroup_invocations: int
    max_workgroup_size: tuple[int, int, int]
    max_workgroup_count: tuple[int, int, int]
    subgroup_size: int
    min_storage_buffer_offset_alignment: int
    timestamp_period: float


@dataclass(frozen=True)
class DeviceFeatures:
    """The optional shader features a device has; VulkanDevice enables every one it has."""

    shader_float16: bool
    shader_int8: bool
    shader_int16: bool
    storage_buffer_16bit_access: bool
    storage_buffer_8bit_access: bool


class VulkanDevice:
    """One physical device (the best ranked by DEVICE_TYPE_RANK), a logical device with one compute
    queue and its description: `name`, `properties` and `features`. Use device() for the shared one."""

    def __init__(self):
        if vk is None:
            raise FretsawError(_IMPORT_ERROR)
        self.instance = self.device = None
        self.queue_lock = threading.Lock()  # vkQueueSubmit needs the queue externally synchronised
        self.programs: weakref.WeakSet[Program] = weakref.WeakSet()
        try:
            version = vk.vkEnumerateInstanceVersion()
        except (AttributeError, vk.VkError):
            version = vk.VK_MAKE_VERSION(1, 0, 0)
        if version < vk.VK_MAKE_VERSION(1, 1, 0):
            raise FretsawError(f"the Vulkan loader is version 1.0; fretsaw needs 1.1: {NO_DEVICE}")
        app = vk.VkApplicationInfo(pApplicationName="fretsaw", pEngineName="fretsaw",
                                   apiVersion=min(version, vk.VK_MAKE_VERSION(1, 3, 0)))
        try:
            self.instance = vk.vkCreateInstance(vk.VkInstanceCreateInfo(pApplicationInfo=app), None)
            candidates = [(DEVICE_TYPE_RANK.get(vk.vkGetPhysicalDeviceProperties(p).deviceType, 9), i, p)
                          for i, p in enumerate(vk.vkEnumeratePhysicalDevices(self.instance))]
        except (vk.VkError, vk.VkException) as e:
            self.close()
            raise FretsawError(f"{NO_DEVICE} (vkCreateInstance or vkEnumeratePhysicalDevices: "
                               f"{type(e).__name__})") from e
        usable = [(rank, i, p) for rank, i, p in candidates if self._usable(p)]
        if not usable:
            self.close()
            raise FretsawError(f"{NO_DEVICE}; of {len(candidates)} device(s), none has Vulkan 1.1 and a compute queue")
        self.physical = min(usable, key=lambda c: c[:2])[2]
        self._describe()
        try:
            self._create_device()
        except (vk.VkError, vk.VkException) as e:
            self.close()
            raise FretsawError(f"vkCreateDevice on {self.name} failed: {type(e).__name__}") from e

    @staticmethod
    def _usable(physical) -> bool:
        if vk.vkGetPhysicalDeviceProperties(physical).apiVersion < vk.VK_MAKE_VERSION(1, 1, 0):
            return False
        families = vk.vkGetPhysicalDeviceQueueFamilyProperties(physical)
        return any(f.queueFlags & vk.VK_QUEUE_COMPUTE_BIT for f in families)

    def _describe(self):
        props = vk.vkGetPhysicalDeviceProperties(self.physical)
        self.name, self.api_version, limits = props.deviceName, props.apiVersion, props.limits
        subgroup = vk.VkPhysicalDeviceSubgroupProperties()
        vk.vkGetPhysicalDeviceProperties2(self.physical, vk.VkPhysicalDeviceProperties2(pNext=subgroup))
        self.properties = DeviceProperties(
            max_storage_buffer_range=limits.maxStorageBufferRange,
            max_workgroup_invocations=limits.maxComputeWorkGroupInvocations,
            max_workgroup_size=tuple(limits.maxComputeWorkGroupSize),
            max_workgroup_count=tuple(limits.maxComputeWorkGroupCount),
            subgroup_size=subgroup.subgroupSize,
            min_storage_buffer_offset_alignment=limits.minStorageBufferOffsetAlignment,
            timestamp_period=limits.timestampPeriod if limits.timestampComputeAndGraphics else 0.0)
        families = vk.vkGetPhysicalDeviceQueueFamilyProperties(self.physical)
        self.queue_family = next(i for i, f in enumerate(families) if f.queueFlags & vk.VK_QUEUE_COMPUTE_BIT)
        self.timestamp_bits = families[self.queue_family].timestampValidBits
        self.memory = vk.vkGetPhysicalDeviceMemoryProperties(self.physical)
        # a 1.1 device has no Vulkan12Features to name float16/int8 in; its 16-bit storage is in its own struct
        modern = self.api_version >= vk.VK_MAKE_VERSION(1, 2, 0)
        v11 = vk.VkPhysicalDeviceVulkan11Features() if modern else vk.VkPhysicalDevice16BitStorageFeatures()
        v12 = vk.VkPhysicalDeviceVulkan12Features(pNext=v11) if modern else None
        query = vk.VkPhysicalDeviceFeatures2(pNext=v12 if modern else v11)
        vk.vkGetPhysicalDeviceFeatures2(self.physical, query)
        self.features = DeviceFeatures(
            shader_float16=modern and bool(v12.shaderFloat16), shader_int8=modern and bool(v12.shaderInt8),
            shader_int16=bool(query.features.shaderInt16),
            storage_buffer_16bit_access=bool(v11.storageBuffer16BitAccess),
            storage_buffer_8bit_access=modern and bool(v12.storageBuffer8BitAccess))

    def _create_device(self):
        """The logical device with one queue of the compute family and every feature of DeviceFeatures it has."""
        f, modern = self.features, self.api_version >= vk.VK_MAKE_VERSION(1, 2, 0)
        v11 = (vk.VkPhysicalDeviceVulkan11Features if modern else vk.VkPhysicalDevice16BitStorageFeatures)(
            storageBuffer16BitAccess=int(f.storage_buffer_16bit_access))
        v12 = vk.VkPhysicalDeviceVulkan12Features(pNext=v11, shaderFloat16=int(f.shader_float16),
                                                  shaderInt8=int(f.shader_int8),
                                                  storageBuffer8BitAccess=int(f.storage_buffer_8bit_access))
        features = vk.VkPhysicalDeviceFeatures2(pNext=v12 if modern else v11,
                                                features=vk.VkPhysicalDeviceFeatures(shaderInt16=int(f.shader_int16)))
        queue = vk.VkDeviceQueueCreateInfo(queueFamilyIndex=self.queue_family, queueCount=1, pQueuePriorities=[1.0])
        info = vk.VkDeviceCreateInfo(pNext=features, queueCreateInfoCount=1, pQueueCreateInfos=[queue])
        self.device = vk.vkCreateDevice(self.physical, info, None)
        self.queue = vk.vkGetDeviceQueue(self.device, self.queue_family, 0)

    def memory_type(self, type_bits: int) -> int:
        """The memory type for a buffer allowing `type_bits`: device-local and host-visible-coherent
        when there is one (integrated GPUs, lavapipe), else host-visible-coherent."""
        visible = vk.VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | vk.VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
        for wanted in (visible | vk.VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, visible):
            for i in range(self.memory.memoryTypeCount):
                if type_bits >> i & 1 and self.memory.memoryTypes[i].propertyFlags & wanted == wanted:
                    return i
        raise FretsawError(f"{self.name} has no host-visible, host-coherent memory type for a storage buffer")

    def mapped_buffer(self, size: int, usage: int):
        """A buffer of `size` bytes for `usage` (VkBufferUsageFlags), bound to memory of
        memory_type and mapped for good: (buffer, memory, a uint8 numpy view of the mapping).
        On failure nothing it created is left behind."""
        dev, buffer, memory = self.device, None, None
        try:
            buffer = vk.vkCreateBuffer(dev, vk.VkBufferCreateInfo(size=size, usage=usage,
                                                                  sharingMode=vk.VK_SHARING_MODE_EXCLUSIVE), None)
            need = vk.vkGetBufferMemoryRequirements(dev, buffer)
            memory = vk.vkAllocateMemory(dev, vk.VkMemoryAllocateInfo(
                allocationSize=need.size, memoryTypeIndex=self.memory_type(need.memoryTypeBits)), None)
            vk.vkBindBufferMemory(dev, buffer, memory, 0)
            return buffer, memory, np.frombuffer(vk.vkMapMemory(dev, memory, 0, size, 0), dtype=np.uint8)
        except BaseException:
            if memory is not None:
                vk.vkFreeMemory(dev, memory, None)
            if buffer is not None:
                vk.vkDestroyBuffer(dev, buffer, None)
            raise

    def close(self):
        """Close every program still open on this device, then destroy the device and instance."""
        for program in list(getattr(self, "programs", ())):
            program.close()
        if getattr(self, "device", None):
            vk.vkDestroyDevice(self.device, None)
            self.device = None
        if getattr(self, "instance", None):
            vk.vkDestroyInstance(self.instance, None)
            self.instance = None

    def __repr__(self):
        return f"VulkanDevice({self.name!r})"


_SHARED: VulkanDevice | str | None = None  # the device, or why there is none
_SHARED_LOCK = threading.Lock()


def device() -> VulkanDevice:
    """The process's shared VulkanDevice, created on first use; FretsawError saying what to
    install when there is none."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            try:
                _SHARED = VulkanDevice()
                atexit.register(_SHARED.close)
            except FretsawError as e:
                _SHARED = e.message
    if isinstance(_SHARED, str):
        raise FretsawError(_SHARED)
    return _SHARED


def available() -> str | None:
    """None when a Vulkan device is usable, else why not (for pytest skip marks)."""
    try:
        device()
    except FretsawError as e:
        return e.message
    return None


def spirv_interface(spirv: bytes) -> tuple[dict[str, tuple[int, int, int] | None], set[tuple[int, int]]]:
    """What a SPIR-V module declares: its GLCompute entry points (name -> LocalSize, None when
    given by LocalSizeId) and the (set, binding) of its resource variables. ValueError when
    `spirv` is not a well-formed module."""
    if len(spirv) % 4 or len(spirv) < 20:
        raise ValueError(f"{len(spirv)} bytes is not a SPIR-V module (a header of 5 words, then instructions)")
    words = np.frombuffer(spirv, dtype="<u4")
    if words[0] != SPIRV_MAGIC:  # a big-endian module
        words = words.byteswap()
    if words[0] != SPIRV_MAGIC:
        raise ValueError(f"bad SPIR-V magic number {int(words[0]):#010x}")
    entries, sizes, sets, bindings = {}, {}, {}, {}
    at = 5
    while at < len(words):
        count, opcode = int(words[at]) >> 16, int(words[at]) & 0xFFFF
        if count == 0 or at + count > len(words):
            raise ValueError(f"truncated SPIR-V instruction at word {at}")
        operands = words[at + 1:at + count]
        at += count
        if opcode == 15 and operands[0] == 5:  # OpEntryPoint GLCompute %fn "name"
            name = operands[2:].tobytes().split(b"\0", 1)[0].decode()
            entries[name] = int(operands[1])
        elif opcode == 16 and operands[1] == 17:  # OpExecutionMode %fn LocalSize x y z
            sizes[int(operands[0])] = tuple(int(v) for v in operands[2:5])
        elif opcode == 71 and operands[1] in (33, 34):  # OpDecorate %var Binding|DescriptorSet n
            (bindings if operands[1] == 33 else sets)[int(operands[0])] = int(operands[2])
    return ({name: sizes.get(fn) for name, fn in entries.items()},
            {(sets.get(var, 0), binding) for var, binding in bindings.items()})


class Program:
    """Buffers, one pipeline per kernel and one recorded command buffer running `dispatches` in
    order on `device`; calling it runs them on fresh inputs.

    buffer_sizes: bytes of each buffer, the buffer ids being their indices (0 bytes becomes 4).
    constants:    buffer id -> array whose raw bytes are uploaded once.
    inputs:       the buffer ids that a call's arrays fill, in order.
    outputs:      (buffer id, shape) of the float32 arrays a call returns, in order.
    Every other buffer is a temporary, zeroed at creation.
    """

    def __init__(self, device: VulkanDevice, kernels: list[Kernel], buffer_sizes: list[int],
                 dispatches: list[Dispatch], constants: dict[int, np.ndarray], inputs: list[int],
                 outputs: list[tuple[int, tuple[int, ...]]]):
        self.device, self.kernels, self.dispatches = device, list(kernels), list(dispatches)
        self.buffer_sizes = [int(size) for size in buffer_sizes]
        self.sizes = [max(4, -(-size // 4) * 4) for size in self.buffer_sizes]  # allocated: whole 32-bit words
        self.inputs = [self._buffer_id(b, "input") for b in inputs]
        self.outputs = [(self._buffer_id(b, "output"), tuple(int(n) for n in shape)) for b, shape in outputs]
        self._lock = threading.Lock()
        self._closed = False
        self._buffers, self._memories, self._views = [], [], []
        self._set_layouts, self._layouts, self._modules, self._pipelines = [], [], [], []
        self._descriptor_pool = self._command_pool = self._fence = self._queries = None
        self._timed_submit = None
        self._check(constants)
        device.programs.add(self)
        try:
            self._create(constants)
        except BaseException as e:
            self.close()
            if isinstance(e, (vk.VkError, vk.VkException)):  # the bindings' errors carry no message
                raise FretsawError(f"creating the program's buffers and pipelines on {device.name} failed: "
                                   f"{type(e).__name__}") from e
            raise

    def _buffer_id(self, b: int, what: str) -> int:
        if not 0 <= int(b) < len(self.sizes):
            raise FretsawError(f"{what} buffer id {b} is not one of the program's {len(self.sizes)} buffers")
        return int(b)

    def _check(self, constants: dict[int, np.ndarray]):
        """Fail on what the device would reject or crash on, before creating anything."""
        props, name = self.device.properties, self.device.name
        for b, size in enumerate(self.sizes):
            if size > props.max_storage_buffer_range:
                raise FretsawError(f"buffer {b} is {self.buffer_sizes[b]} bytes, more than the "
                                   f"{props.max_storage_buffer_range} bytes (maxStorageBufferRange) a storage "
                                   f"buffer may have on {name}")
        for b, array in constants.items():
            if np.asarray(array).nbytes > self.sizes[self._buffer_id(b, "constant")]:
                raise FretsawError(f"constant for buffer {b} has {np.asarray(array).nbytes} bytes, "
                                   f"more than the buffer's {self.sizes[b]}")
        for b, shape in self.outputs:
            if 4 * math.prod(shape) > self.sizes[b]:
                raise FretsawError(f"output buffer {b} of {self.sizes[b]} bytes cannot hold float32 {shape}")
        for k, kernel in enumerate(self.kernels):
            self._check_kernel(k, kernel)
        for i, dispatch in enumerate(self.dispatches):
            self._check_dispatch(i, dispatch)

    def _check_kernel(self, k: int, kernel: Kernel):
        props, where = self.device.properties, f"kernel {k} ('{kernel.entry}')"
        try:
            entries, resources = spirv_interface(kernel.spirv)
        except ValueError as e:
            raise FretsawError(f"{where}: {e}") from None
        if kernel.entry not in entries:
            raise FretsawError(f"{where}: the SPIR-V module has no GLCompute entry point '{kernel.entry}' "
                               f"(it has {sorted(entries) or 'none'})")
        outside = sorted(r for r in resources if r[0] != 0 or r[1] >= kernel.bindings)
        if outside:
            raise FretsawError(f"{where}: the SPIR-V module uses (set, binding) {outside}, but the kernel "
                               f"declares {kernel.bindings} bindings at set 0")
        size = entries[kernel.entry]
        if size and (any(s > m for s, m in zip(size, props.max_workgroup_size))
                     or math.prod(size) > props.max_workgroup_invocations):
            raise FretsawError(f"{where}: workgroup size {size} exceeds {self.device.name}'s "
                               f"maxComputeWorkGroupSize {props.max_workgroup_size} or "
                               f"maxComputeWorkGroupInvocations {props.max_workgroup_invocations}")

    def _check_dispatch(self, i: int, dispatch: Dispatch):
        if not 0 <= dispatch.kernel < len(self.kernels):
            raise FretsawError(f"dispatch {i}: kernel {dispatch.kernel} is not one of the program's "
                               f"{len(self.kernels)} kernels")
        kernel, limit = self.kernels[dispatch.kernel], self.device.properties.max_workgroup_count
        where = f"dispatch {i} (kernel {dispatch.kernel}, '{kernel.entry}')"
        if len(dispatch.buffers) != kernel.bindings:
            raise FretsawError(f"{where} binds {len(dispatch.buffers)} buffers, but the kernel has "
                               f"{kernel.bindings} bindings")
        for b in dispatch.buffers:
            self._buffer_id(b, where)
        groups = tuple(int(g) for g in dispatch.groups)
        if len(groups) != 3 or min(groups) < 0:
            raise FretsawError(f"{where}: workgroup counts {groups} are not 3 counts >= 0")
        if any(g > m for g, m in zip(groups, limit)):
            raise FretsawError(f"{where}: {groups} workgroups exceed {self.device.name}'s "
                               f"maxComputeWorkGroupCount {limit}")

    def _create(self, constants: dict[int, np.ndarray]):
        dev = self.device.device
        self._create_buffers()
        for b, array in constants.items():
            raw = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
            self._views[b][:raw.size] = raw
        for k, kernel in enumerate(self.kernels):
            self._create_pipeline(k, kernel)
        self._create_descriptor_sets()
        self._command_pool = vk.vkCreateCommandPool(
            dev, vk.VkCommandPoolCreateInfo(queueFamilyIndex=self.device.queue_family), None)
        self._fence = vk.vkCreateFence(dev, vk.VkFenceCreateInfo(), None)
        self._fences = vk.ffi.new("VkFence[1]", [self._fence])
        self._submit = self._record(timestamps=False)

    def _create_buffers(self):
        usage = (vk.VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | vk.VK_BUFFER_USAGE_TRANSFER_SRC_BIT
                 | vk.VK_BUFFER_USAGE_TRANSFER_DST_BIT)
        for size in self.sizes:
            buffer, memory, view = self.device.mapped_buffer(size, usage)
            self._buffers.append(buffer)
            self._memories.append(memory)
            view[:] = 0
            self._views.append(view)

    def _create_pipeline(self, k: int, kernel: Kernel):
        dev = self.device.device
        bindings = [vk.VkDescriptorSetLayoutBinding(binding=i, descriptorType=vk.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                    descriptorCount=1, stageFlags=vk.VK_SHADER_STAGE_COMPUTE_BIT)
                    for i in range(kernel.bindings)]
        set_layout = vk.vkCreateDescriptorSetLayout(
            dev, vk.VkDescriptorSetLayoutCreateInfo(bindingCount=len(bindings), pBindings=bindings or None), None)
        self._set_layouts.append(set_layout)
        layout = vk.vkCreatePipelineLayout(
            dev, vk.VkPipelineLayoutCreateInfo(setLayoutCount=1, pSetLayouts=[set_layout]), None)
        self._layouts.append(layout)
        step = "vkCreateShaderModule"
        try:
            module = vk.vkCreateShaderModule(
                dev, vk.VkShaderModuleCreateInfo(codeSize=len(kernel.spirv), pCode=bytes(kernel.spirv)), None)
            self._modules.append(module)
            step = "vkCreateComputePipelines"
            stage = vk.VkPipelineShaderStageCreateInfo(stage=vk.VK_SHADER_STAGE_COMPUTE_BIT, module=module,
                                                       pName=kernel.entry)
            info = vk.VkComputePipelineCreateInfo(stage=stage, layout=layout)
            self._pipelines.append(vk.vkCreateComputePipelines(dev, vk.VK_NULL_HANDLE, 1, [info], None)[0])
        except (vk.VkError, vk.VkException) as e:
            raise FretsawError(f"kernel {k} ('{kernel.entry}'): {step} failed on {self.device.name}: "
                               f"{type(e).__name__}") from e

    def _create_descriptor_sets(self):
        if not self.dispatches:
            return
        dev, storage = self.device.device, vk.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
        total = sum(len(d.buffers) for d in self.dispatches)
        sizes = [vk.VkDescriptorPoolSize(type=storage, descriptorCount=max(1, total))]
        self._descriptor_pool = vk.vkCreateDescriptorPool(
            dev, vk.VkDescriptorPoolCreateInfo(maxSets=len(self.dispatches), poolSizeCount=1, pPoolSizes=sizes), None)
        allocate = vk.VkDescriptorSetAllocateInfo(descriptorPool=self._descriptor_pool,
                                                  descriptorSetCount=len(self.dispatches),
                                                  pSetLayouts=[self._set_layouts[d.kernel] for d in self.dispatches])
        self._sets = list(vk.vkAllocateDescriptorSets(dev, allocate))
        # one write per dispatch: descriptorCount > 1 runs on through the consecutive bindings; the
        # range is the size, as the package's VK_WHOLE_SIZE is -1, which cffi will not take as a uint64
        writes = [vk.VkWriteDescriptorSet(
                      dstSet=s, dstBinding=0, descriptorCount=len(d.buffers), descriptorType=storage,
                      pBufferInfo=[vk.VkDescriptorBufferInfo(buffer=self._buffers[b], range=self.sizes[b])
                                   for b in d.buffers])
                  for s, d in zip(self._sets, self.dispatches) if d.buffers]
        if writes:
            vk.vkUpdateDescriptorSets(dev, len(writes), writes, 0, None)

    def _record(self, timestamps: bool):
        """Record the dispatches (each between two timestamps when `timestamps`) into a new command
        buffer; returns the VkSubmitInfo that runs it."""
        compute, bind = vk.VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, vk.VK_PIPELINE_BIND_POINT_COMPUTE
        allocate = vk.VkCommandBufferAllocateInfo(commandPool=self._command_pool, commandBufferCount=1,
                                                  level=vk.VK_COMMAND_BUFFER_LEVEL_PRIMARY)
        cmd = vk.vkAllocateCommandBuffers(self.device.device, allocate)[0]
        vk.vkBeginCommandBuffer(cmd, vk.VkCommandBufferBeginInfo())
        if timestamps:
            vk.vkCmdResetQueryPool(cmd, self._queries, 0, 2 * len(self.dispatches))
        between = vk.VkMemoryBarrier(srcAccessMask=vk.VK_ACCESS_SHADER_WRITE_BIT,
                                     dstAccessMask=vk.VK_ACCESS_SHADER_READ_BIT | vk.VK_ACCESS_SHADER_WRITE_BIT)
        for i, d in enumerate(self.dispatches):
            if i:
                vk.vkCmdPipelineBarrier(cmd, compute, compute, 0, 1, [between], 0, None, 0, None)
            if timestamps:
                vk.vkCmdWriteTimestamp(cmd, compute, self._queries, 2 * i)
            vk.vkCmdBindPipeline(cmd, bind, self._pipelines[d.kernel])
            vk.vkCmdBindDescriptorSets(cmd, bind, self._layouts[d.kernel], 0, 1, [self._sets[i]], 0, None)
            vk.vkCmdDispatch(cmd, *(int(g) for g in d.groups))
            if timestamps:
                vk.vkCmdWriteTimestamp(cmd, compute, self._queries, 2 * i + 1)
        to_host = vk.VkMemoryBarrier(srcAccessMask=vk.VK_ACCESS_SHADER_WRITE_BIT,
                                     dstAccessMask=vk.VK_ACCESS_HOST_READ_BIT)
        vk.vkCmdPipelineBarrier(cmd, compute, vk.VK_PIPELINE_STAGE_HOST_BIT, 0, 1, [to_host], 0, None, 0, None)
        vk.vkEndCommandBuffer(cmd)
        return vk.VkSubmitInfo(commandBufferCount=1, pCommandBuffers=[cmd])

    def _input_bytes(self, arrays) -> list[np.ndarray]:
        if len(arrays) != len(self.inputs):
            raise FretsawError(f"the program takes {len(self.inputs)} inputs, got {len(arrays)}")
        raws = [np.ascontiguousarray(a).reshape(-1).view(np.uint8) for a in arrays]
        for i, (b, raw) in enumerate(zip(self.inputs, raws)):
            if raw.size > self.sizes[b]:
                raise FretsawError(f"input {i} has {raw.size} bytes, more than its buffer's {self.sizes[b]}")
        return raws

    def _run(self, arrays, submit):
        """Copy `arrays` into the input buffers, run `submit` and wait for it; call with the lock held."""
        if self._closed:
            raise FretsawError("the Vulkan program is closed")
        for b, raw in zip(self.inputs, arrays):
            self._views[b][:raw.size] = raw
        dev = self.device.device
        try:
            vk.vkResetFences(dev, 1, self._fences)
            with self.device.queue_lock:
                vk.vkQueueSubmit(self.device.queue, 1, submit, self._fence)
            vk.vkWaitForFences(dev, 1, self._fences, vk.VK_TRUE, FENCE_TIMEOUT_NS)
        except (vk.VkError, vk.VkException) as e:
            raise FretsawError(f"running the program on {self.device.name} failed: {type(e).__name__}") from e

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Run the dispatches on `arrays` (their raw bytes, one per input buffer); the outputs as
        float32 arrays."""
        raws = self._input_bytes(arrays)
        with self._lock:
            self._run(raws, self._submit)
            return [self._views[b][:4 * math.prod(shape)].view(np.float32).reshape(shape).copy()
                    for b, shape in self.outputs]

    def profile(self, *arrays: np.ndarray) -> list[float]:
        """Each dispatch's device time in milliseconds over one run, from timestamp queries; with
        `arrays`, on those inputs, else on what the input buffers hold."""
        if not self.device.properties.timestamp_period or not self.device.timestamp_bits:
            raise FretsawError(f"{self.device.name} has no compute-queue timestamps to profile with")
        raws = self._input_bytes(arrays) if arrays else []
        count = 2 * len(self.dispatches)
        if not count:
            return []
        with self._lock:
            if self._timed_submit is None:
                info = vk.VkQueryPoolCreateInfo(queryType=vk.VK_QUERY_TYPE_TIMESTAMP, queryCount=count)
                self._queries = vk.vkCreateQueryPool(self.device.device, info, None)
                self._timed_submit = self._record(timestamps=True)
            self._run(raws, self._timed_submit)
            ticks = vk.ffi.new("uint64_t[]", count)
            vk.vkGetQueryPoolResults(self.device.device, self._queries, 0, count, 8 * count, ticks, 8,
                                     vk.VK_QUERY_RESULT_64_BIT | vk.VK_QUERY_RESULT_WAIT_BIT)
        mask, period = (1 << self.device.timestamp_bits) - 1, self.device.properties.timestamp_period
        return [((ticks[2 * i + 1] - ticks[2 * i]) & mask) * period / 1e6 for i in range(len(self.dispatches))]

    def close(self):
        """Destroy every Vulkan object of the program; calling it again does nothing."""
        if getattr(self, "_closed", True):
            return
        with self._lock:
            self._closed, self._views = True, []
            dev = self.device.device
            if dev is None:  # the device went first and took everything with it
                return
            for handle, destroy in ((self._queries, vk.vkDestroyQueryPool), (self._fence, vk.vkDestroyFence),
                                    (self._command_pool, vk.vkDestroyCommandPool),
                                    (self._descriptor_pool, vk.vkDestroyDescriptorPool)):
                if handle is not None:
                    destroy(dev, handle, None)
            for handles, destroy in ((self._pipelines, vk.vkDestroyPipeline),
                                     (self._modules, vk.vkDestroyShaderModule),
                                     (self._layouts, vk.vkDestroyPipelineLayout),
                                     (self._set_layouts, vk.vkDestroyDescriptorSetLayout),
                                     (self._buffers, vk.vkDestroyBuffer), (self._memories, vk.vkFreeMemory)):
                for handle in handles:
                    destroy(dev, handle, None)
        self.device.programs.discard(self)

    def __enter__(self) -> Program:
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit the bindings may already be gone
            pass
