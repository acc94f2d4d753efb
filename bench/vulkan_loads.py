"""What a read costs a compute shader on the local Vulkan device, by kind of binding: a storage
buffer (what fretsaw's SPIR-V kernels read today), a uniform buffer, a uniform texel buffer and
workgroup shared memory, each at addresses that differ per invocation ("lane") and that are the
same across a workgroup ("uniform"), beside a loop that reads nothing (the floor), and a storage
buffer read once per subgroup lane and handed to the subgroup's other invocations with
subgroupBroadcast (each invocation loads one value in SUBGROUP reads: cooperative loads).

Each variant is a GLSL kernel (compiled with glslangValidator, from Debian's glslang-tools, which
`make setup` installs) whose invocations sum READS floats of a 64 KiB table, dispatched through
fretsaw's Vulkan device (fretsaw.backends.vulkan.device); every sum is checked against numpy. The
table prints the median wall time of a dispatch and the nanoseconds per read and invocation with
the floor subtracted. On lavapipe the kinds differ because llvmpipe reads a storage buffer (and
shared memory) lane by lane in a loop, a uniform buffer with one load (uniform) or a gather, and
a texel buffer through its sampler's gathers.

    .venv/bin/python bench/vulkan_loads.py [--groups 512] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

READS = 256
TABLE = 16384  # floats: 64 KiB, the largest uniform buffer lavapipe binds (maxUniformBufferRange)
LOCAL = 64
DECLARATIONS = {
    "none": "#define READ(i) float(i)",
    "storage buffer": "layout(std430, set=0, binding=0) readonly buffer S { float s[]; };\n#define READ(i) s[i]",
    "uniform buffer": f"layout(std140, set=0, binding=0) uniform U {{ vec4 u[{TABLE // 4}]; }};\n"
                      "#define READ(i) u[(i) >> 2][(i) & 3]",
    "texel buffer": "layout(set=0, binding=0) uniform samplerBuffer t;\n#define READ(i) texelFetch(t, int(i)).x",
    "shared memory": "layout(std430, set=0, binding=0) readonly buffer S { float s[]; };\n"
                     f"shared float w[{TABLE // 4}];\n#define READ(i) w[(i) & {TABLE // 4 - 1}u]",
}
BROADCAST = "storage buffer, subgroup broadcast"
ADDRESSES = {"lane": f"(g * 7u + i * 61u) & {TABLE - 1}u", "uniform": f"(wg * 5u + i * 61u) & {TABLE - 1}u"}
VARIANTS = [(kind, address) for kind in [*DECLARATIONS, BROADCAST] for address in ADDRESSES]


def source(kind: str, address: str, subgroup: int) -> str:
    if kind == BROADCAST:  # a load per lane, then every lane's value to every invocation
        shares = "".join(f"acc += subgroupBroadcast(v, {j}u); " for j in range(subgroup))
        return f"""#version 450
#extension GL_KHR_shader_subgroup_ballot : require
layout(local_size_x = {LOCAL}) in;
{DECLARATIONS["storage buffer"]}
layout(std430, set=0, binding=1) buffer O {{ float o[]; }};
void main() {{
  uint g = gl_GlobalInvocationID.x, wg = gl_WorkGroupID.x;
  float acc = 0.0;
  for (uint i = 0u; i < {READS // subgroup}u; ++i) {{ float v = READ({ADDRESSES[address]}); {shares}}}
  o[g] = acc;
}}
"""
    fill = ""
    if kind == "shared memory":  # the workgroup copies a quarter of the table in first
        fill = (f"for (uint j = gl_LocalInvocationID.x; j < {TABLE // 4}u; j += {LOCAL}u) w[j] = s[j];\n"
                "  barrier();\n")
    return f"""#version 450
layout(local_size_x = {LOCAL}) in;
{DECLARATIONS[kind]}
layout(std430, set=0, binding=1) buffer O {{ float o[]; }};
void main() {{
  uint g = gl_GlobalInvocationID.x, wg = gl_WorkGroupID.x;
  {fill}float acc = 0.0;
  for (uint i = 0u; i < {READS}u; ++i) acc += READ({ADDRESSES[address]});
  o[g] = acc;
}}
"""


def expected(kind: str, address: str, table: np.ndarray, groups: int, subgroup: int) -> np.ndarray:
    g = np.arange(groups * LOCAL, dtype=np.int64)
    i = np.arange(READS // subgroup if kind == BROADCAST else READS, dtype=np.int64)
    at = ((g[:, None] * 7 + i * 61) if address == "lane" else (g[:, None] // LOCAL * 5 + i * 61)) & (TABLE - 1)
    if kind == BROADCAST:  # every invocation sums what its subgroup's lanes loaded
        loaded = table[at].sum(axis=1).reshape(-1, subgroup).sum(axis=1)
        return np.repeat(loaded, subgroup)
    if kind == "none":
        return at.astype(np.float32).sum(axis=1)
    if kind == "shared memory":
        at &= TABLE // 4 - 1
    return table[at].sum(axis=1)


def compile_glsl(text: str, scratch: Path, name: str) -> bytes:
    glsl, spv = scratch / f"{name}.comp", scratch / f"{name}.spv"
    glsl.write_text(text)
    try:  # Vulkan 1.1's SPIR-V 1.3: the subgroup operations
        done = subprocess.run(["glslangValidator", "-V", "--target-env", "vulkan1.1", str(glsl), "-o", str(spv)],
                              capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("glslangValidator not found: install Debian's glslang-tools (`make setup` does)")
    if done.returncode:
        sys.exit(f"glslangValidator rejected kernel {name}:\n{done.stdout}{done.stderr}")
    return spv.read_bytes()


class Runner:
    """One device's buffers (the table, bound as each kind, and the sums) and a dispatch per kernel."""

    def __init__(self, groups: int):
        import vulkan as vk

        from fretsaw.backends.vulkan import device

        self.vk, self.d, self.groups = vk, device(), groups
        dev = self.d.device
        usage = (vk.VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | vk.VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT
                 | vk.VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT)
        self.table = np.random.default_rng(0).random(TABLE, dtype=np.float32)
        self.source, _, view = self.d.mapped_buffer(TABLE * 4, usage)
        view[:] = self.table.view(np.uint8)
        self.sums, _, self.sums_view = self.d.mapped_buffer(groups * LOCAL * 4, vk.VK_BUFFER_USAGE_STORAGE_BUFFER_BIT)
        self.texels = vk.vkCreateBufferView(dev, vk.VkBufferViewCreateInfo(
            buffer=self.source, format=vk.VK_FORMAT_R32_SFLOAT, offset=0, range=TABLE * 4), None)
        kinds = (vk.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, vk.VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER,
                 vk.VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER)
        sizes = [vk.VkDescriptorPoolSize(type=t, descriptorCount=2 * len(VARIANTS)) for t in kinds]
        self.pool = vk.vkCreateDescriptorPool(dev, vk.VkDescriptorPoolCreateInfo(  # a set per kernel
            maxSets=len(VARIANTS), poolSizeCount=len(sizes), pPoolSizes=sizes), None)
        self.commands = vk.vkCreateCommandPool(dev, vk.VkCommandPoolCreateInfo(queueFamilyIndex=self.d.queue_family),
                                               None)
        self.fence = vk.vkCreateFence(dev, vk.VkFenceCreateInfo(), None)

    def time(self, kind: str, spirv: bytes, repeats: int) -> tuple[float, np.ndarray]:
        """Median ms of a dispatch of `spirv` with the table bound as `kind`, and its sums."""
        vk, dev = self.vk, self.d.device
        descriptor = {"uniform buffer": vk.VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER,
                      "texel buffer": vk.VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER}.get(
                          kind, vk.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER)
        stage = vk.VK_SHADER_STAGE_COMPUTE_BIT
        bindings = [vk.VkDescriptorSetLayoutBinding(binding=0, descriptorType=descriptor, descriptorCount=1,
                                                    stageFlags=stage),
                    vk.VkDescriptorSetLayoutBinding(binding=1, descriptorType=vk.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                    descriptorCount=1, stageFlags=stage)]
        set_layout = vk.vkCreateDescriptorSetLayout(dev, vk.VkDescriptorSetLayoutCreateInfo(
            bindingCount=2, pBindings=bindings), None)
        layout = vk.vkCreatePipelineLayout(dev, vk.VkPipelineLayoutCreateInfo(setLayoutCount=1,
                                                                            pSetLayouts=[set_layout]), None)
        module = vk.vkCreateShaderModule(dev, vk.VkShaderModuleCreateInfo(codeSize=len(spirv), pCode=spirv), None)
        shader = vk.VkPipelineShaderStageCreateInfo(stage=stage, module=module, pName="main")
        info = vk.VkComputePipelineCreateInfo(stage=shader, layout=layout)
        pipeline = vk.vkCreateComputePipelines(dev, vk.VK_NULL_HANDLE, 1, [info], None)[0]
        descriptors = vk.vkAllocateDescriptorSets(dev, vk.VkDescriptorSetAllocateInfo(
            descriptorPool=self.pool, descriptorSetCount=1, pSetLayouts=[set_layout]))[0]
        if kind == "texel buffer":
            table = vk.VkWriteDescriptorSet(dstSet=descriptors, dstBinding=0, descriptorCount=1,
                                            descriptorType=descriptor, pTexelBufferView=[self.texels])
        else:
            table = vk.VkWriteDescriptorSet(dstSet=descriptors, dstBinding=0, descriptorCount=1,
                                            descriptorType=descriptor,
                                            pBufferInfo=[vk.VkDescriptorBufferInfo(buffer=self.source,
                                                                                   range=TABLE * 4)])
        sums = vk.VkWriteDescriptorSet(dstSet=descriptors, dstBinding=1, descriptorCount=1,
                                       descriptorType=vk.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                       pBufferInfo=[vk.VkDescriptorBufferInfo(buffer=self.sums,
                                                                              range=self.groups * LOCAL * 4)])
        vk.vkUpdateDescriptorSets(dev, 2, [table, sums], 0, None)
        command = vk.vkAllocateCommandBuffers(dev, vk.VkCommandBufferAllocateInfo(
            commandPool=self.commands, commandBufferCount=1, level=vk.VK_COMMAND_BUFFER_LEVEL_PRIMARY))[0]
        vk.vkBeginCommandBuffer(command, vk.VkCommandBufferBeginInfo())
        vk.vkCmdBindPipeline(command, vk.VK_PIPELINE_BIND_POINT_COMPUTE, pipeline)
        vk.vkCmdBindDescriptorSets(command, vk.VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, [descriptors], 0, None)
        vk.vkCmdDispatch(command, self.groups, 1, 1)
        vk.vkEndCommandBuffer(command)
        submit = vk.VkSubmitInfo(commandBufferCount=1, pCommandBuffers=[command])
        times = []
        for _ in range(repeats + 1):  # the first call is a warm-up
            vk.vkResetFences(dev, 1, [self.fence])
            start = time.perf_counter()
            vk.vkQueueSubmit(self.d.queue, 1, submit, self.fence)
            vk.vkWaitForFences(dev, 1, [self.fence], vk.VK_TRUE, 10 ** 11)
            times.append((time.perf_counter() - start) * 1e3)
        vk.vkFreeCommandBuffers(dev, self.commands, 1, [command])
        vk.vkDestroyPipeline(dev, pipeline, None)
        vk.vkDestroyShaderModule(dev, module, None)
        vk.vkDestroyPipelineLayout(dev, layout, None)
        vk.vkDestroyDescriptorSetLayout(dev, set_layout, None)
        return statistics.median(times[1:]), self.sums_view.view(np.float32)[:self.groups * LOCAL].copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=512, help="workgroups of 64 invocations (default 512)")
    parser.add_argument("--repeats", type=int, default=7, help="timed dispatches per kernel (default 7)")
    args = parser.parse_args()
    runner = Runner(args.groups)
    reads = args.groups * LOCAL * READS
    print(f"device: {runner.d.name} (subgroups of {runner.d.properties.subgroup_size}); {args.groups} workgroups "
          f"x {LOCAL} invocations x {READS} reads of a {TABLE * 4 // 1024} KiB table; median of {args.repeats} "
          f"dispatches\n")
    print("| read from | addresses | ms a dispatch | ns per read and invocation, over the floor |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        floor = {}
        subgroup = runner.d.properties.subgroup_size
        for k, (kind, address) in enumerate(VARIANTS):
            spirv = compile_glsl(source(kind, address, subgroup), Path(scratch), f"kernel{k}")
            ms, sums = runner.time(kind, spirv, args.repeats)
            want = expected(kind, address, runner.table, args.groups, subgroup)
            if not np.allclose(sums, want, rtol=1e-4, atol=1e-2):
                sys.exit(f"{kind}, {address} addresses: wrong sums (max error {np.abs(sums - want).max():.3g})")
            floor.setdefault(address, ms)
            extra = (ms - floor[address]) * 1e6 / reads
            print(f"| {kind} | {address} | {ms:.2f} | {'(the floor)' if kind == 'none' else f'{extra:.2f}'} |",
                  flush=True)

if __name__ == "__main__":
    main()
