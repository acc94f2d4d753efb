"""Target descriptions: what the code generator may assume about a CPU (SIMD width, threads).

The vector width is never hard-coded in a pass: passes take it as an option, and the backends
fill that option from the description of the machine they compile for.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# Bytes of L1 data cache assumed where a CPU does not say (Zen 2-4, Skylake and most Arm cores
# have 32 KiB; Cortex-A76/A77/A78 and Zen 5 have 48-64, which only makes this conservative)
L1 = 32768
# Bytes of one core's L2 cache assumed where a CPU does not say (Skylake client and the Cortex-A76
# / A78 big cores as phones ship them have 256 KiB; Zen 2-4 512 KiB-1 MiB: conservative again)
L2 = 256 << 10


@dataclass(frozen=True)
class CpuTarget:
    """A CPU as the code generator sees it.

    name:         a short label (`x86-64-avx512`, ...), shown in stats and benchmarks
    vector_width: fp32 lanes of one SIMD register (AVX-512 16, AVX2 8, SSE / NEON 4)
    threads:      worker threads the generated code may use
    registers:    SIMD registers (AVX-512 and NEON 32, AVX2 and SSE 16); bounds the register blocks
    shifts:       a lane shift of two vectors (AVX-512 valignd) costs less than an unaligned load
                  (a 64-byte load off a vector boundary splits across two cache lines); NEON's
                  `ext` would take an FMA pipe's slot instead
    fma_pipes:    vector FMAs a core starts each cycle; None where it is not described (the host's
                  peak is measured instead: fretsaw.benchmark.fma_peak)
    l1:           bytes of one core's L1 data cache: a conv's channel tile keeps its input rows
                  within it (passes/cpu/blocks.py: channel_tile)
    l2:           bytes of one core's L2 cache: a kernel-group conv whose work unit's input rows
                  and weights fit in it takes all its channels in one tile (blocks.group_unit_bytes)
    """

    name: str
    vector_width: int
    threads: int
    registers: int = 16
    shifts: bool = False
    fma_pipes: int | None = None
    l1: int = L1
    l2: int = L2

    @property
    def accumulators(self) -> int:
        """Vector registers a conv's register block may take; the rest hold the pattern's
        broadcast weights and the input vectors shared between taps."""
        return self.registers - 6

    def peak_flops_per_cycle(self, f16: bool = False) -> int | None:
        """FLOPs one core's FMA pipes can do a cycle: `fma_pipes` FMAs of `vector_width` lanes
        (with `f16`, twice the lanes), 2 FLOPs a lane; None without `fma_pipes`."""
        if self.fma_pipes is None:
            return None
        return 2 * self.fma_pipes * self.vector_width * (2 if f16 else 1)


def host_cpu_flags() -> set[str]:
    """The feature flags of the first CPU in /proc/cpuinfo (empty when it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cache_bytes(size: str) -> int | None:
    """A sysfs cache size ("32K", "1M", "512") in bytes; None when it is not one."""
    found = re.fullmatch(r"\s*(\d+)\s*([KMG]?)\s*", size)
    if not found:
        return None
    return int(found.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[found.group(2)]


def host_cache(level: int, kinds: tuple[str, ...], default: int,
               root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """Bytes of the first CPU's cache of `level` and one of `kinds` (sysfs), `default` when it
    cannot be read."""
    try:
        for folder in sorted(root.glob("index*")):
            level_of, kind = ((folder / name).read_text().strip() for name in ("level", "type"))
            if level_of == str(level) and kind in kinds:
                return cache_bytes((folder / "size").read_text()) or default
    except OSError:
        pass
    return default


def host_l1(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """Bytes of the first CPU's L1 data cache (sysfs), L1 when it cannot be read."""
    return host_cache(1, ("Data",), L1, root)


def host_l2(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """Bytes of the first CPU's L2 cache (sysfs), L2 when it cannot be read."""
    return host_cache(2, ("Unified", "Data"), L2, root)


def host_target() -> CpuTarget:
    """The machine fretsaw runs on."""
    flags = host_cpu_flags()
    threads, l1, l2 = len(os.sched_getaffinity(0)), host_l1(), host_l2()
    if "avx512f" in flags:
        return CpuTarget("x86-64-avx512", 16, threads, registers=32, shifts=True, l1=l1, l2=l2)
    if "avx2" in flags and "fma" in flags:
        return CpuTarget("x86-64-avx2", 8, threads, l1=l1, l2=l2)
    return CpuTarget("x86-64", 4, threads, l1=l1, l2=l2)


@dataclass(frozen=True)
class GpuTarget:
    """A Vulkan GPU as the SPIR-V code generator sees it (its `#spirv.target_env`).

    name:            a short label (`adreno`, `mali`, `llvmpipe (...)`), shown in stats and benchmarks
    subgroup_size:   invocations of one subgroup (Adreno 64, Mali 16, lavapipe 8)
    max_invocations: invocations of one workgroup (maxComputeWorkGroupInvocations)
    max_workgroup:   workgroup size limits per dimension (maxComputeWorkGroupSize)
    storage_range:   bytes one storage buffer binding may cover (maxStorageBufferRange)
    f16:             fp16 arithmetic and fp16 storage buffers (shaderFloat16, storageBuffer16BitAccess)
    """

    name: str
    subgroup_size: int
    max_invocations: int = 1024
    max_workgroup: tuple[int, int, int] = (1024, 1024, 64)
    storage_range: int = 1 << 27
    f16: bool = True

    def target_env(self, f16: bool = False) -> str:
        """The `#spirv.target_env` of this device: Vulkan 1.1's SPIR-V 1.3 with storage buffers (with
        `f16`, fp16 arithmetic and 16-bit storage buffers too)."""
        x, y, z = self.max_workgroup
        capabilities = "Shader, Float16, StorageBuffer16BitAccess" if f16 else "Shader"
        extensions = "SPV_KHR_storage_buffer_storage_class" + (", SPV_KHR_16bit_storage" if f16 else "")
        return (f"#spirv.target_env<#spirv.vce<v1.3, [{capabilities}], [{extensions}]>, "
                f"#spirv.resource_limits<max_compute_shared_memory_size = 16384, "
                f"max_compute_workgroup_invocations = {self.max_invocations}, "
                f"max_compute_workgroup_size = [{x}, {y}, {z}], subgroup_size = {self.subgroup_size}>>")


# GPU presets by name (fretsaw.compile(target="spirv", device=...)); "local" queries the Vulkan device here
GPU_PRESETS = {
    "adreno": GpuTarget("adreno", subgroup_size=64, max_invocations=1024, max_workgroup=(1024, 1024, 64)),
    "mali": GpuTarget("mali", subgroup_size=16, max_invocations=512, max_workgroup=(512, 512, 512)),
}
