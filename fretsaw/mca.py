"""A phone-side cost estimate without a phone: `fretsaw bench --target aarch64`.

Each conv layer is compiled alone for AArch64 twice, pruned as it is and with its zeros filled in
(dense), with the `mca-regions` pass marking every SIMD inner loop. `llvm-mca-22` gives each
loop's steady-state cycles per iteration on the chosen core (`-mcpu`, default cortex-a76); one run
of the same code under qemu-aarch64, on one thread, counts how often each loop iterates. Their
products, summed, are the layer's estimated inner-loop cycles; per output element they compare
sparse with dense. What it leaves out: everything outside the inner loops (input copies, loop
control, pooling), caches and memory bandwidth (llvm-mca assumes every load hits L1), and threads.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from fretsaw.backends.aarch64 import run_driver, run_tool, tool
from fretsaw.errors import FretsawError
from fretsaw.passes.mca_regions import COUNTS

DEFAULT_CPU = "cortex-a76"

_COUNTS_C = """/* Writes the mca-regions iteration counts to $FRETSAW_MCA_COUNTS when the driver exits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
extern int64_t {symbol}[{n}];
__attribute__((destructor)) static void dump_counts(void) {{
    FILE *out = fopen(getenv("FRETSAW_MCA_COUNTS"), "w");
    for (int i = 0; i < {n}; i++) fprintf(out, "%lld\\n", (long long){symbol}[i]);
    fclose(out);
}}
"""


def region_cycles(assembly: str, mcpu: str, triple: str = "aarch64-linux-gnu") -> dict[str, float]:
    """Region name -> llvm-mca's cycles per iteration (total cycles / iterations) on `mcpu`."""
    with tempfile.TemporaryDirectory(prefix="fretsaw-mca-") as tmp:
        source = Path(tmp) / "code.s"
        source.write_text(assembly)
        done = run_tool([tool("llvm-mca-22"), f"-mtriple={triple}", f"-mcpu={mcpu}", "-iterations=200",
                         "-json", str(source)], "llvm-mca-22")
    report = json.loads(done.stdout)
    cycles = {}
    for region in report.get("CodeRegions", []):
        summary = region["SummaryView"]
        cycles[region["Name"]] = summary["TotalCycles"] / summary["Iterations"]
    return cycles


def loop_counts(cm, inputs: tuple[np.ndarray, ...], regions: int) -> list[int]:
    """Iterations of each marked loop in one run of `cm` under qemu-aarch64 (one thread)."""
    with tempfile.TemporaryDirectory(prefix="fretsaw-count-") as tmp:
        tmp = Path(tmp)
        (tmp / "counts.c").write_text(_COUNTS_C.format(symbol=COUNTS, n=regions))
        binary = cm._cross("estimate").build(tmp, extra=("counts.c",))  # the driver, counts.c linked in
        env = dict(os.environ, FRETSAW_NUM_THREADS="1", FRETSAW_MCA_COUNTS=str(tmp / "counts.txt"))
        run_driver(binary, cm.signature, inputs, env=env, timeout=3600)
        return [int(line) for line in (tmp / "counts.txt").read_text().split()]


def mca_fma_per_cycle(mcpu: str, fp16: bool = False, registers: int = 32) -> float:
    """128-bit FMAs a cycle in llvm-mca-22's model of `mcpu`: a block of independent `fmla`s (every
    register its own chain but the two operands) through region_cycles. The estimates' cycles
    come from this model, which may start fewer FMAs a cycle than the core (LLVM 22 models
    cortex-a76 with the Cortex-A57's two 64-bit pipes): their percent of the core's FMA peak is
    bounded by this rate over the core's."""
    lanes = "8h" if fp16 else "4s"
    chains = registers - 2
    assembly = "".join(f"fmla v{i}.{lanes}, v{chains}.{lanes}, v{chains + 1}.{lanes}\n" for i in range(chains))
    (cycles,) = region_cycles(assembly, mcpu).values()
    return chains / cycles


def estimate(model, inputs: tuple[np.ndarray, ...], mcpu: str = DEFAULT_CPU, features: str = "+neon",
             fp16: bool = False) -> dict:
    """Estimated inner-loop cycles of `model` compiled for AArch64: {cycles, regions: per loop,
    flops: the useful (sparse) conv FLOPs, as in cm.stats()}."""
    import torch

    import fretsaw

    example = tuple(torch.from_numpy(x) for x in inputs)
    cm = fretsaw.compile(model, example, target="aarch64", threads=1, cpu=mcpu, features=features, fp16=fp16,
                         mca_regions=True)
    flops = cm.stats()["sparse_flops"]
    cycles = region_cycles(cm.assembly(), mcpu)
    if not cycles:
        return {"cycles": 0.0, "regions": [], "flops": flops}
    names = sorted(cycles, key=lambda name: int(name[1:]))
    counts = loop_counts(cm, inputs, len(names))
    if len(counts) != len(names):
        raise FretsawError(f"llvm-mca found {len(names)} regions but the code counted {len(counts)} loops")
    regions = [{"region": name, "cycles_per_iteration": cycles[name], "iterations": n}
               for name, n in zip(names, counts)]
    return {"cycles": sum(r["cycles_per_iteration"] * r["iterations"] for r in regions), "regions": regions,
            "flops": flops}


def densified(conv):
    """A copy of `conv` whose zero weights are small non-zeros: the same layer, unpruned."""
    import copy

    import torch

    dense = copy.deepcopy(conv)
    with torch.no_grad():
        zero = dense.weight == 0
        dense.weight[zero] = 1e-3
    return dense


def layer_estimates(model, inputs: tuple[np.ndarray, ...], mcpu: str = DEFAULT_CPU, features: str = "+neon",
                    fp16: bool = False, progress=None, peak: float | None = None) -> list[dict]:
    """Per conv layer of a torch model: estimated inner-loop cycles per output, sparse and dense,
    and the useful (sparse) FLOPs per estimated cycle; with `peak` (the core's FLOPs per cycle,
    CpuTarget.peak_flops_per_cycle) their percentage of it."""
    import torch

    from fretsaw.benchmark import conv_layers

    rng = np.random.default_rng(0)
    rows = []
    for name, conv, shape in conv_layers(model, inputs):
        x = rng.standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            outputs = int(np.prod(conv(torch.from_numpy(x)).shape))
        sparse = estimate(torch.nn.Sequential(conv).eval(), (x,), mcpu, features, fp16)
        dense = estimate(torch.nn.Sequential(densified(conv)).eval(), (x,), mcpu, features, fp16)
        kept = float((conv.weight != 0).float().mean())
        rows.append({"layer": name, "input_shape": list(shape), "outputs": outputs, "kernel": list(conv.kernel_size),
                     "stride": list(conv.stride), "groups": conv.groups, "weights_kept": kept,
                     "sparse_cycles_per_output": sparse["cycles"] / outputs,
                     "dense_cycles_per_output": dense["cycles"] / outputs,
                     "estimated_speedup": dense["cycles"] / sparse["cycles"] if sparse["cycles"] else None,
                     "flops_reduction": 1 / kept if kept else None,
                     "useful_flops": sparse["flops"],
                     "useful_flops_per_cycle": sparse["flops"] / sparse["cycles"] if sparse["cycles"] else None})
        if peak and rows[-1]["useful_flops_per_cycle"] is not None:
            rows[-1]["percent_of_fma_peak"] = 100 * rows[-1]["useful_flops_per_cycle"] / peak
        if progress:
            progress(rows[-1])
    return rows
