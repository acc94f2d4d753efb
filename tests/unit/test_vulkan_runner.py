"""The Vulkan runtime (backends/vulkan.py) on GLSL test kernels: a chain of dispatches against
NumPy, its limits checks, its errors and its timestamps. Needs a Vulkan device (lavapipe will do)
and glslangValidator; results are exact (one fp32 add or doubling per element), so no tolerance."""

import builtins
import importlib.util
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from fretsaw.backends import vulkan as runtime
from fretsaw.backends.vulkan import Dispatch, Kernel, Program
from fretsaw.errors import FretsawError

if runtime.available() is not None:
    pytest.skip(f"no Vulkan device: {runtime.available()}", allow_module_level=True)

ADD = """#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) writeonly buffer C { float c[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < c.length()) c[i] = a[i] + b[i];
}
"""

DOUBLE = """#version 450
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer X { float x[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i < x.length()) x[i] = 2.0 * x[i];
}
"""

N = 1000
GROUPS = (-(-N // 64), 1, 1)


@pytest.fixture(scope="module")
def spirv(tmp_path_factory) -> dict[str, bytes]:
    """The test kernels compiled by glslangValidator and checked by spirv-val when it is there."""
    if shutil.which("glslangValidator") is None:
        pytest.skip("glslangValidator not found: install Debian's glslang-tools")
    out = {}
    for name, source in (("add", ADD), ("double", DOUBLE)):
        comp = tmp_path_factory.mktemp(name) / f"{name}.comp"
        comp.write_text(source)
        spv = comp.with_suffix(".spv")
        subprocess.run(["glslangValidator", "-V", "--target-env", "vulkan1.1", "-o", str(spv), str(comp)],
                       check=True, capture_output=True)
        if shutil.which("spirv-val"):
            subprocess.run(["spirv-val", "--target-env", "vulkan1.1", str(spv)], check=True, capture_output=True)
        out[name] = spv.read_bytes()
    return out


@pytest.fixture(scope="module")
def add(spirv) -> Kernel:
    return Kernel(spirv["add"], "main", 3)


@pytest.fixture(scope="module")
def double(spirv) -> Kernel:
    return Kernel(spirv["double"], "main", 1)


@pytest.fixture(scope="module")
def chain(add, double):
    """t = x + w (w a constant), t *= 2, y = t + x: buffers x=0, w=1, t=2, y=3, an unused temp
    z=4 and a zero-size buffer 5; returns (program, w)."""
    w = np.random.default_rng(1).standard_normal(N).astype(np.float32)
    dispatches = [Dispatch(0, (0, 1, 2), GROUPS), Dispatch(1, (2,), GROUPS), Dispatch(0, (2, 0, 3), GROUPS)]
    program = Program(runtime.device(), [add, double], [4 * N] * 5 + [0], dispatches, {1: w}, [0],
                      [(3, (10, N // 10)), (2, (N,)), (4, (N,))])
    yield program, w
    program.close()


def test_device_description():
    dev = runtime.device()
    assert dev is runtime.device() and dev.name
    props = dev.properties
    assert min(props.max_workgroup_count) >= 65535 and props.max_workgroup_invocations >= 128
    assert props.max_storage_buffer_range >= 2**27 and props.subgroup_size >= 1
    assert isinstance(dev.features.shader_float16, bool)


def test_chain_matches_numpy(chain):
    program, w = chain
    for seed in (2, 3):  # a second call runs the same command buffer on new inputs
        x = np.random.default_rng(seed).standard_normal(N).astype(np.float32)
        y, t, z = program(x)
        assert y.shape == (10, N // 10) and y.dtype == np.float32
        np.testing.assert_array_equal(t, 2 * (x + w))
        np.testing.assert_array_equal(y.reshape(-1), 2 * (x + w) + x)
        np.testing.assert_array_equal(z, 0)  # temps start zeroed


def test_inputs_are_raw_bytes(chain):
    program, w = chain
    x = np.arange(N, dtype=np.float32)
    y, _, _ = program(x.view(np.uint8).reshape(40, -1))
    np.testing.assert_array_equal(y.reshape(-1), 2 * (x + w) + x)


def test_barriers_order_dispatches(double):
    """Ten in-place doublings of one buffer: each must see the one before."""
    with Program(runtime.device(), [double], [4 * N], [Dispatch(0, (0,), GROUPS)] * 10, {}, [0], [(0, (N,))]) as p:
        x = np.linspace(-1, 1, N, dtype=np.float32)
        np.testing.assert_array_equal(p(x)[0], 1024 * x)


def test_threads_share_a_program(chain):
    program, w = chain
    xs = [np.full(N, i, np.float32) for i in range(4)]
    got = [None] * 4

    def run(i):
        for _ in range(5):
            got[i] = program(xs[i])[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, y in zip(xs, got):
        np.testing.assert_array_equal(y.reshape(-1), 2 * (x + w) + x)


def test_bad_inputs(chain):
    program, _ = chain
    with pytest.raises(FretsawError, match="takes 1 inputs, got 2"):
        program(np.zeros(N, np.float32), np.zeros(N, np.float32))
    with pytest.raises(FretsawError, match="input 0 has 8000 bytes, more than its buffer's 4000"):
        program(np.zeros(N, np.float64))


def test_profile(chain):
    program, _ = chain
    times = program.profile(np.ones(N, np.float32))
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert len(program.profile()) == 3


def test_group_count_too_large(add):
    limit = runtime.device().properties.max_workgroup_count
    with pytest.raises(FretsawError, match=r"dispatch 0 .*'main'.* exceed .*maxComputeWorkGroupCount"):
        Program(runtime.device(), [add], [4] * 3, [Dispatch(0, (0, 1, 2), (limit[0] + 1, 1, 1))], {}, [], [])


def test_binding_count_mismatch(add):
    with pytest.raises(FretsawError, match="dispatch 0 .* binds 2 buffers, but the kernel has 3 bindings"):
        Program(runtime.device(), [add], [4] * 3, [Dispatch(0, (0, 1), (1, 1, 1))], {}, [], [])


def test_buffer_too_large(add):
    limit = runtime.device().properties.max_storage_buffer_range
    with pytest.raises(FretsawError, match=f"buffer 1 is {limit + 4} bytes, more than the {limit} bytes "
                                           r"\(maxStorageBufferRange\)"):
        Program(runtime.device(), [add], [4, limit + 4, 4], [Dispatch(0, (0, 1, 2), (1, 1, 1))], {}, [], [])


def test_spirv_checked_before_the_driver(spirv):
    dev = runtime.device()
    with pytest.raises(FretsawError, match="kernel 0 \\('nope'\\): .*no GLCompute entry point 'nope'.*'main'"):
        Program(dev, [Kernel(spirv["add"], "nope", 3)], [4] * 3, [], {}, [], [])
    with pytest.raises(FretsawError, match=r"uses \(set, binding\) \[\(0, 2\)\], but the kernel declares 2"):
        Program(dev, [Kernel(spirv["add"], "main", 2)], [4] * 3, [], {}, [], [])
    with pytest.raises(FretsawError, match="bad SPIR-V magic number"):
        Program(dev, [Kernel(b"\0" * 40, "main", 0)], [4], [], {}, [], [])


def test_pipeline_errors_name_the_kernel(add, monkeypatch):
    def fail(*args):
        raise runtime.vk.VkErrorOutOfHostMemory()

    monkeypatch.setattr(runtime.vk, "vkCreateComputePipelines", fail)
    with pytest.raises(FretsawError, match=r"kernel 0 \('main'\): vkCreateComputePipelines failed .*OutOfHostMemory"):
        Program(runtime.device(), [add], [4] * 3, [], {}, [], [])


def test_driver_rejecting_spirv_names_the_kernel(spirv):
    """An unknown opcode in the body passes the runtime's header scan; lavapipe then fails the
    pipeline (other drivers may crash on invalid SPIR-V, so only lavapipe is tried)."""
    if "llvmpipe" not in runtime.device().name:
        pytest.skip("only lavapipe is known to reject invalid SPIR-V rather than crash")
    words = np.frombuffer(spirv["add"], "<u4").copy()
    fadd = next(i for i in range(5, len(words)) if words[i] == (5 << 16) | 129)  # OpFAdd, 5 words
    words[fadd] = (5 << 16) | 0x7FF0
    with pytest.raises(FretsawError, match=r"kernel 0 \('main'\): vkCreateComputePipelines failed"):
        Program(runtime.device(), [Kernel(words.tobytes(), "main", 3)], [4] * 3, [], {}, [], [])


def test_close(double):
    with Program(runtime.device(), [double], [4 * N], [Dispatch(0, (0,), GROUPS)], {}, [0], [(0, (N,))]) as p:
        p(np.ones(N, np.float32))
    assert p not in runtime.device().programs
    p.close()
    with pytest.raises(FretsawError, match="closed"):
        p(np.ones(N, np.float32))


def test_no_device_says_what_to_install(monkeypatch):
    monkeypatch.setattr(runtime.vk, "vkEnumeratePhysicalDevices", lambda instance: [])
    with pytest.raises(FretsawError, match="no Vulkan device found: install Debian's mesa-vulkan-drivers"):
        runtime.VulkanDevice()


def test_no_loader_says_what_to_install(monkeypatch):
    """The `vulkan` package raises OSError at import without libvulkan.so.1: load a second copy of
    the runtime under an import that fails that way."""
    real_import = builtins.__import__

    def no_loader(name, *args, **kwargs):
        if name == "vulkan":
            raise OSError("Cannot find Vulkan SDK version")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_loader)
    spec = importlib.util.spec_from_file_location("vulkan_runtime_without_loader", runtime.__file__)
    copy = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, copy)  # its dataclasses look their module up there
    spec.loader.exec_module(copy)
    assert "libvulkan1" in copy.available() and "mesa-vulkan-drivers" in copy.available()
    with pytest.raises(FretsawError, match="no Vulkan loader"):
        copy.device()
