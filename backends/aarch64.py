"""The AArch64 backend: NEON code for phones, cross-compiled with LLVM 22 and checked under qemu.

The same stages as the host run with the NEON target description (4 fp32 lanes, 32 vector
registers); the LLVM-dialect module is translated to LLVM IR, optimised by `opt-22` and compiled
by `llc-22` into a position-independent object. `save()` writes that object with a C header and
wrapper whose entry point takes plain float buffers, fretsaw's small runtime (the OpenMP entry
points over pthreads, memrefCopy), a driver program and a Makefile. `run()` builds the driver
statically with `aarch64-linux-gnu-gcc` and runs it under `qemu-aarch64`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from torch_mlir import ir

from fretsaw.backends.base import Signature, Stage
from fretsaw.backends.cpu import CpuOptions, cpu_stages
from fretsaw.backends.host import row_major_strides
from fretsaw.backends.llvmir import (EXTERNAL_ALIGNMENT, constants_as_bytes, external_constants, for_llvm22,
                                     translate_to_llvm_ir)
from fretsaw.errors import FretsawError
from fretsaw.target import L1, CpuTarget

TRIPLE = "aarch64-linux-gnu"
# fp16 convs round the input to fp16 and keep a channel tile's sums in fp16, so outputs differ
# from fp32 by a fraction of a percent of their largest value (measured: bench/RESULTS.md,
# 2026-11-23). The bound fretsaw checks them against, with a margin: max abs error <=
# FP16_TOLERANCE * max |fp32 output|.
FP16_TOLERANCE = 1e-2
RUNTIME = Path(__file__).parent / "runtime" / "fretsaw_runtime.c"

# tool -> the Debian package that ships it (bootstrap.sh installs them)
TOOLS = {"opt-22": "llvm-22", "llc-22": "llvm-22", "llvm-mca-22": "llvm-22",
         "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu", "qemu-aarch64": "qemu-user", "make": "make"}


def tool(name: str) -> str:
    """The path of a cross tool, or an error that says which package to install."""
    path = shutil.which(name)
    if path is None:
        package = TOOLS[name]
        raise FretsawError(f"{name} not found: install Debian's {package} (`apt-get install {package}`, "
                           f"which `make setup` does)")
    return path


def run_tool(args: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise FretsawError(f"{what} failed ({' '.join(args[:1])} exit {done.returncode}):\n"
                           f"{(done.stderr or done.stdout).strip()[-3000:]}")
    return done


def check_llvm_warnings(stderr: str, tool_name: str, triple: str) -> None:
    """LLVM only warns about an unknown -mcpu or -mattr and goes on without it: make it an error."""
    found = re.search(r"'([^']*)' is not a recognized (processor|feature)", stderr)
    if found:
        kind, flag = ("cpu", "mcpu") if found.group(2) == "processor" else ("feature", "mattr")
        raise FretsawError(f"{kind} '{found.group(1)}' is not known to {tool_name}; list the valid ones with "
                           f"`{tool_name} -mtriple={triple} -{flag}=help`")


# -mcpu -> 128-bit FMAs the core starts each cycle (its vendor's optimisation guide): its FMA
# peak, which `fretsaw bench --target aarch64` reads the estimated FLOPs per cycle against.
FMA_PIPES = {"cortex-a55": 1, "cortex-a76": 2, "cortex-a77": 2, "cortex-a78": 2, "cortex-a710": 2,
             "cortex-a715": 2, "cortex-x1": 4, "cortex-x2": 4, "cortex-x3": 4, "neoverse-n1": 2,
             "neoverse-n2": 2, "neoverse-v1": 4, "apple-m1": 4}
# -mcpu -> bytes of its L1 data cache (the vendor's reference manual; where the size is a build
# option, the one phones ship: Cortex-A55 32 KiB, the big cores 64 KiB): the channel tiles' size.
# Others take fretsaw.target.L1.
L1_DATA = {"cortex-a55": 32 << 10, "cortex-a76": 64 << 10, "cortex-a77": 64 << 10, "cortex-a78": 64 << 10,
           "cortex-a710": 64 << 10, "cortex-a715": 64 << 10, "cortex-x1": 64 << 10, "cortex-x2": 64 << 10,
           "cortex-x3": 64 << 10, "neoverse-n1": 64 << 10, "neoverse-n2": 64 << 10, "neoverse-v1": 64 << 10,
           "apple-m1": 128 << 10}


def neon_target(threads: int, vector_width: int | None = None, mcpu: str = "generic") -> CpuTarget:
    """AArch64 with Advanced SIMD: 4 fp32 lanes in each of 32 vector registers; the FMA pipes and
    L1 data cache of core `mcpu` where FMA_PIPES and L1_DATA know it."""
    return CpuTarget("aarch64-neon", vector_width or 4, threads, registers=32, fma_pipes=FMA_PIPES.get(mcpu),
                     l1=L1_DATA.get(mcpu, L1))


def c_identifier(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise FretsawError(f"name '{name}' must be a C identifier (letters, digits, '_'; not starting "
                           f"with a digit): it prefixes the artifact's files and functions")
    return name


@dataclass(frozen=True)
class AArch64Options(CpuOptions):
    """Options of target="aarch64" (CpuOptions', threads default 4, vector_width 4, and):

    cpu:          llc's -mcpu, e.g. "cortex-a76" (default "generic").
    features:     llc's -mattr, e.g. "+neon,+fullfp16" (default "+neon").
    triple:       the target triple, "aarch64-linux-gnu" (default) or an Android one such as
                  "aarch64-linux-android24" (saved, not run under qemu).
    mca_regions:  mark the SIMD inner loops for llvm-mca and count their iterations (the
                  `mca-regions` pass; what `fretsaw bench --target aarch64` measures with).
    fp16:         convolutions compute in fp16 (8 lanes per NEON register; adds +fullfp16 to the
                  features); inputs, outputs and the other layers stay fp32.
    tune:         False: tuning times code on this machine, which cannot run AArch64 code at speed.
    """

    cpu: str | None = None
    features: str | None = None
    triple: str | None = None
    mca_regions: bool = False
    fp16: bool = False
    tune: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.tune:
            raise FretsawError("tune=True times each conv on this machine, which cannot run aarch64 code at its real "
                               "speed: compile for aarch64 without tune (the heuristics then choose each conv's "
                               "schedule for its registers and lanes)")
        if self.triple is not None and not str(self.triple).startswith("aarch64"):
            raise FretsawError(f"triple='{self.triple}' is not an AArch64 triple; use e.g. "
                               f"'aarch64-linux-gnu' or 'aarch64-linux-android24'")


class AArch64Backend:
    """AArch64 Linux or Android: an object file for a phone app, checked under qemu-aarch64."""

    name: ClassVar[str] = "aarch64"
    Options: ClassVar[type] = AArch64Options
    cross: ClassVar[bool] = True
    saves: ClassVar[bool] = True

    def __init__(self, options: AArch64Options | None = None):
        self.options = options = options or AArch64Options()
        self.opt_level = options.opt_level
        self.triple, self.mcpu = options.triple or TRIPLE, options.cpu or "generic"
        self.cpu = neon_target(options.threads or 4, options.vector_width, self.mcpu)
        features = options.features or "+neon"
        if options.fp16 and "+fullfp16" not in features.split(","):
            features += ",+fullfp16"
        self.features, self.fp16, self.mca_regions = features, options.fp16, options.mca_regions

    def stages(self) -> tuple[Stage, ...]:
        return cpu_stages(self.cpu, self.fp16, self.mca_regions)

    def prepare(self, module: ir.Module) -> list[dict]:
        return []

    def emit(self, module: ir.Module, entry: str, signature: Signature) -> "AArch64Executable":
        """Cross-compile `module` (LLVM dialect), which this takes over: its weights leave it for a
        file that llc-22 assembles into the object (WeightsFile), the rest becomes LLVM IR."""
        weights = WeightsFile(external_constants(module.operation))
        with module.context:
            module.operation.attributes["llvm.module_asm"] = ir.ArrayAttr.get(
                [ir.StringAttr.get(line) for line in weights.assembly()])
        constants_as_bytes(module.operation)
        return AArch64Executable(for_llvm22(translate_to_llvm_ir(module)), entry, signature, self, weights)

    def llc_flags(self) -> list[str]:
        return [f"-mtriple={self.triple}", f"-mcpu={self.mcpu}", f"-mattr={self.features}"]


class WeightsFile:
    """The large constants (llvmir.external_constants) end to end in a file of a temporary
    directory, removed when this object goes, and the module-level assembly that puts each into
    .rodata under its symbol with `.incbin`: llc-22 copies the bytes into the object without
    parsing or holding them as LLVM constants (which took opt-22 and llc-22 4.5 GB each and a
    minute and a half for VGG-16, and the LLVM IR text 1.1 GB). The LLVM IR names the file: it is
    valid while the compiled model lives. (The assembly llc-22 prints spells the bytes out.)"""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.sizes = {name: data.nbytes for name, data in weights.items()}
        self.directory = Path(tempfile.mkdtemp(prefix="fretsaw-aarch64-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.directory, ignore_errors=True)
        self.path = self.directory / "weights.bin"
        with self.path.open("wb") as out:
            for data in weights.values():
                out.write(data.data)  # the attribute's bytes, no copy

    def assembly(self) -> list[str]:
        """Module-level assembly defining each weight's symbol (local to the object, like the
        private global it replaces) at its offset in the file."""
        quoted = str(self.path).replace("\\", "\\\\").replace('"', '\\"')
        lines, offset = ['.pushsection .rodata,"a",%progbits'], 0
        for name, size in self.sizes.items():
            lines += [f".p2align {EXTERNAL_ALIGNMENT.bit_length() - 1}", f".type {name},%object",
                      f".size {name}, {size}", f"{name}:", f'.incbin "{quoted}", {offset}, {size}']
            offset += size
        return lines + [".popsection"]


class AArch64Executable:
    """The cross-compiled model: objects, assembly, saved artifacts, runs under qemu."""

    def __init__(self, llvm_ir: str, entry: str, signature: Signature, backend: AArch64Backend,
                 weights: WeightsFile):
        self.entry, self.signature, self.backend = entry, signature, backend
        self._ir = llvm_ir
        self._weights = weights  # the file its module asm reads, kept as long as the IR
        self._bitcode: dict[str, bytes] = {}  # name -> opt-22's output
        # (name, obj | asm) -> llc-22's output, on disk beside the weights (it holds them)
        self._code: dict[tuple[str, str], Path] = {}
        self._build: Path | None = None
        self._llc("model", "obj")  # fail at compile time, not at save time, if the tools are missing

    def __call__(self, *inputs):
        raise FretsawError(f"this model was compiled for {self.backend.triple}, not for this machine: run it "
                           f"with cm.run_emulated(...) (qemu-aarch64) or build it into an app with cm.save(dir)")

    def llvm_ir(self, name: str = "model") -> str:
        """LLVM IR text with the entry point named `<name>_forward` (and its C wrapper)."""
        name = c_identifier(name)
        return re.sub(rf"@(_mlir_ciface_)?{re.escape(self.entry)}(?=\()",
                      lambda m: f"@{m.group(1) or ''}{name}_forward", self._ir)

    def _optimised(self, name: str, workdir: Path) -> Path:
        bitcode = workdir / f"{name}.bc"
        if name not in self._bitcode:
            source = workdir / f"{name}.ll"
            source.write_text(self.llvm_ir(name))
            done = run_tool([tool("opt-22"), f"-passes=default<O{self.backend.opt_level}>", *self.backend.llc_flags(),
                             str(source), "-o", str(bitcode)], "opt-22 (LLVM IR optimisation)")
            check_llvm_warnings(done.stderr, "llc-22", self.backend.triple)
            self._bitcode[name] = bitcode.read_bytes()
        else:
            bitcode.write_bytes(self._bitcode[name])
        return bitcode

    def _llc(self, name: str, filetype: str) -> Path:
        if (name, filetype) in self._code:
            return self._code[name, filetype]
        with tempfile.TemporaryDirectory(prefix="fretsaw-llc-") as tmp:
            bitcode = self._optimised(name, Path(tmp))
            out = Path(tmp) / f"{name}.out"
            run_tool([tool("llc-22"), f"-O{self.backend.opt_level}", *self.backend.llc_flags(),
                      "-relocation-model=pic", f"-filetype={filetype}", str(bitcode), "-o", str(out)],
                     f"llc-22 ({self.backend.triple} code generation)")
            kept = self._weights.directory / f"{name}.{filetype}"
            shutil.move(out, kept)
        self._code[name, filetype] = kept
        return kept

    def object(self, name: str = "model") -> bytes:
        """The ELF relocatable object (position independent) defining `<name>_forward`."""
        return self._llc(name, "obj").read_bytes()

    def assembly(self, name: str = "model") -> str:
        return self._llc(name, "asm").read_text()

    def save(self, directory, name: str = "model") -> dict[str, Path]:
        """Write the artifact into `directory`; returns {kind: path}. See the generated header."""
        name = c_identifier(name)
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "object": (f"{name}.o", self._llc(name, "obj")),
            "header": (f"{name}.h", c_header(name, self.signature, self.backend)),
            "wrapper": (f"{name}_api.c", c_wrapper(name, self.signature)),
            "driver": (f"{name}_driver.c", c_driver(name, self.signature)),
            "runtime": ("fretsaw_runtime.c", RUNTIME.read_text()),
            "makefile": ("Makefile", makefile(name)),
            "manifest": (f"{name}.json", json.dumps(manifest(name, self.signature, self.backend), indent=2) + "\n"),
        }
        paths = {}
        for kind, (filename, content) in files.items():
            path = out / filename
            if isinstance(content, Path):
                shutil.copyfile(content, path)
            else:
                path.write_text(content)
            paths[kind] = path
        return paths

    def build(self, directory, name: str = "model", extra: tuple[str, ...] = ()) -> Path:
        """save() and `make` the statically linked driver with aarch64-linux-gnu-gcc (with the C
        files `extra` of `directory` linked in); its path."""
        self.save(directory, name)
        tool("aarch64-linux-gnu-gcc")
        run_tool([tool("make"), "-C", str(directory), name, f"EXTRA={' '.join(extra)}"],
                 "building the test binary (make)")
        return Path(directory) / name

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Run the model under qemu-aarch64 on float32 arrays of the signature's shapes."""
        if not self.backend.triple.startswith("aarch64") or "android" in self.backend.triple:
            raise FretsawError(f"run_emulated needs a Linux triple (aarch64-linux-gnu), not "
                               f"{self.backend.triple}: Android binaries need the NDK's linker and a device")
        tool("qemu-aarch64")
        if self._build is None:
            build = Path(tempfile.mkdtemp(prefix="fretsaw-aarch64-"))
            weakref.finalize(self, shutil.rmtree, build, ignore_errors=True)
            self.build(build)
            self._build = build
        return run_driver(self._build / "model", self.signature, inputs)


def run_driver(binary: Path, signature: Signature, inputs, env: dict | None = None,
               timeout: int = 1800) -> list[np.ndarray]:
    """Run a built driver under qemu-aarch64 on float32 arrays of the signature's input shapes
    (through raw files, as the driver takes them); its outputs."""
    with tempfile.TemporaryDirectory(prefix="fretsaw-run-") as tmp:
        args = []
        for i, array in enumerate(inputs):
            path = Path(tmp) / f"input{i}.bin"
            np.ascontiguousarray(array, dtype=np.float32).tofile(path)
            args.append(str(path))
        outputs = [Path(tmp) / f"output{i}.bin" for i in range(len(signature.outputs))]
        run_tool([tool("qemu-aarch64"), str(binary), *args, *map(str, outputs)],
                 "running the model under qemu-aarch64", env=env, timeout=timeout)
        return [np.fromfile(path, dtype=np.float32).reshape(shape) for path, shape in zip(outputs, signature.outputs)]


# ---- the C side of the artifact -------------------------------------------------------------

def _dims(shape) -> str:
    return "".join(f"[{d}]" for d in shape) or " (a scalar)"


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _params(signature: Signature) -> str:
    inputs = [f"const float *input{i}" for i in range(len(signature.inputs))]
    outputs = [f"float *output{i}" for i in range(len(signature.outputs))]
    return ", ".join(inputs + outputs)


def c_header(name: str, signature: Signature, backend: AArch64Backend) -> str:
    upper = name.upper()
    shapes = [f" *   input {i}:  float{_dims(s)}  ({_size(s)} floats)" for i, s in enumerate(signature.inputs)]
    shapes += [f" *   output {i}: float{_dims(s)}  ({_size(s)} floats)" for i, s in enumerate(signature.outputs)]
    sizes = [f"#define {upper}_INPUT{i}_SIZE {_size(s)}" for i, s in enumerate(signature.inputs)]
    sizes += [f"#define {upper}_OUTPUT{i}_SIZE {_size(s)}" for i, s in enumerate(signature.outputs)]
    precision = ("convolutions in fp16 (8 lanes), the rest and every buffer fp32" if backend.fp16
                 else f"{backend.cpu.vector_width} fp32 lanes")
    target = f"{backend.triple} (-mcpu={backend.mcpu} -mattr={backend.features})"
    return f"""/* {name}.h -- generated by fretsaw for {target},
 * {precision}, compiled for {backend.cpu.threads} threads.
 *
 * {name}_run() runs the model once. Every buffer is float32, C-contiguous (row-major), in the
 * shapes below -- for images PyTorch's NCHW layout, exactly what tensor.numpy().tofile() writes:
{chr(10).join(shapes)}
 * Inputs are only read; outputs are only written. Buffers need no particular alignment.
 * The weights are compiled into {name}.o (read-only data, FKW-packed); nothing is loaded at run time.
 *
 * One call at a time per process: the model keeps its large intermediate buffers in static storage
 * and its threads in one pool (fretsaw_runtime.c). Threads: the count above by default;
 * fretsaw_set_num_threads(n) or the environment variable FRETSAW_NUM_THREADS changes it.
 *
 * Build: compile {name}_api.c and fretsaw_runtime.c with your C compiler and link them with {name}.o,
 * -lpthread -lm (the Makefile beside this header shows the commands).
 */
#ifndef {upper}_H
#define {upper}_H

#ifdef __cplusplus
extern "C" {{
#endif

#define {upper}_NUM_INPUTS {len(signature.inputs)}
#define {upper}_NUM_OUTPUTS {len(signature.outputs)}
{chr(10).join(sizes)}

void {name}_run({_params(signature)});
void fretsaw_set_num_threads(int threads);

#ifdef __cplusplus
}}
#endif

#endif
"""


def _descriptor_type(rank: int) -> str:
    dims = f" int64_t sizes[{rank}]; int64_t strides[{rank}];" if rank else ""
    return f"typedef struct {{ float *allocated, *aligned; int64_t offset;{dims} }} fretsaw_memref{rank};"


def _descriptor(var: str, pointer: str, shape) -> str:
    strides = row_major_strides(shape)
    dims = (f", {{{', '.join(map(str, shape))}}}, {{{', '.join(map(str, strides))}}}" if shape else "")
    return f"    fretsaw_memref{len(shape)} {var} = {{(float *){pointer}, (float *){pointer}, 0{dims}}};"


def c_wrapper(name: str, signature: Signature) -> str:
    ranks = sorted({len(s) for s in (*signature.inputs, *signature.outputs)})
    args = [(f"in{i}", f"input{i}", s) for i, s in enumerate(signature.inputs)]
    args += [(f"out{i}", f"output{i}", s) for i, s in enumerate(signature.outputs)]
    proto = ", ".join(f"fretsaw_memref{len(s)} *" for _, _, s in args)
    return f"""/* {name}_api.c -- generated by fretsaw: {name}_run() on plain float buffers calls the compiled
 * entry point {name}_forward, which takes MLIR memref descriptors. */
#include <stdint.h>
#include "{name}.h"

{chr(10).join(_descriptor_type(r) for r in ranks)}

extern void _mlir_ciface_{name}_forward({proto});

void {name}_run({_params(signature)}) {{
{chr(10).join(_descriptor(var, ptr, s) for var, ptr, s in args)}
    _mlir_ciface_{name}_forward({', '.join('&' + var for var, _, _ in args)});
}}
"""


def c_driver(name: str, signature: Signature) -> str:
    upper, n_in, n_out = name.upper(), len(signature.inputs), len(signature.outputs)
    reads = "\n".join(f"    float *input{i} = load(argv[{1 + i}], {upper}_INPUT{i}_SIZE);" for i in range(n_in))
    allocs = "\n".join(f"    float *output{i} = calloc({upper}_OUTPUT{i}_SIZE, sizeof(float));" for i in range(n_out))
    writes = "\n".join(f"    store(argv[{1 + n_in + i}], output{i}, {upper}_OUTPUT{i}_SIZE);" for i in range(n_out))
    call = f"{name}_run({', '.join([f'input{i}' for i in range(n_in)] + [f'output{i}' for i in range(n_out)])})"
    return f"""/* {name}_driver.c -- generated by fretsaw: runs {name} on raw float32 files.
 *
 *   {name} INPUT0.bin ... OUTPUT0.bin ... [REPEATS]
 *
 * Each file holds one tensor as raw little-endian float32 in C order (numpy's tofile()). With
 * REPEATS, the model runs that many more times and the median latency is printed in ms. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "{name}.h"

static float *load(const char *path, size_t count) {{
    float *data = malloc(count * sizeof(float));
    FILE *file = fopen(path, "rb");
    if (!data || !file || fread(data, sizeof(float), count, file) != count) {{
        fprintf(stderr, "{name}: cannot read %zu floats from %s\\n", count, path);
        exit(1);
    }}
    fclose(file);
    return data;
}}

static void store(const char *path, const float *data, size_t count) {{
    FILE *file = fopen(path, "wb");
    if (!file || fwrite(data, sizeof(float), count, file) != count) {{
        fprintf(stderr, "{name}: cannot write %s\\n", path);
        exit(1);
    }}
    fclose(file);
}}

static int by_value(const void *a, const void *b) {{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}}

int main(int argc, char **argv) {{
    if (argc != {1 + n_in + n_out} && argc != {2 + n_in + n_out}) {{
        fprintf(stderr, "usage: %s{' INPUT.bin' * n_in}{' OUTPUT.bin' * n_out} [REPEATS]\\n", argv[0]);
        return 2;
    }}
{reads}
{allocs}
    {call};
{writes}
    int repeats = argc == {2 + n_in + n_out} ? atoi(argv[argc - 1]) : 0;
    if (repeats > 0) {{
        double *ms = malloc(repeats * sizeof(double));
        for (int r = 0; r < repeats; r++) {{
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            {call};
            clock_gettime(CLOCK_MONOTONIC, &t1);
            ms[r] = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        }}
        qsort(ms, repeats, sizeof(double), by_value);
        printf("{name}: median %.3f ms over %d runs\\n", ms[repeats / 2], repeats);
    }}
    return 0;
}}
"""


def makefile(name: str) -> str:
    return f"""# Generated by fretsaw. `make` builds the driver {name} (static, runs under qemu-aarch64 or on
# a device); `make lib{name}.so` a shared library with {name}_run. For Android, use the NDK's clang:
#   make CC=$NDK/toolchains/llvm/prebuilt/linux-x86_64/bin/aarch64-linux-android24-clang LDFLAGS=
# EXTRA: more C files to link into the driver.
CC = aarch64-linux-gnu-gcc
CFLAGS ?= -O2
LDFLAGS ?= -static
LIBS = -lpthread -lm
EXTRA ?=
MAKEFLAGS += --no-builtin-rules

{name}: {name}_driver.c {name}_api.c fretsaw_runtime.c {name}.o {name}.h
\t$(CC) $(CFLAGS) $(LDFLAGS) -o $@ {name}_driver.c {name}_api.c fretsaw_runtime.c {name}.o $(EXTRA) $(LIBS)

lib{name}.so: {name}_api.c fretsaw_runtime.c {name}.o {name}.h
\t$(CC) $(CFLAGS) -shared -fPIC -o $@ {name}_api.c fretsaw_runtime.c {name}.o $(LIBS)
"""


def manifest(name: str, signature: Signature, backend: AArch64Backend) -> dict:
    return {"name": name, "entry": f"{name}_run", "triple": backend.triple, "cpu": backend.mcpu,
            "features": backend.features, "vector_width": backend.cpu.vector_width, "fp16_convs": backend.fp16,
            "threads": backend.cpu.threads, "dtype": "float32", "layout": "C-contiguous",
            "inputs": [list(s) for s in signature.inputs], "outputs": [list(s) for s in signature.outputs]}
