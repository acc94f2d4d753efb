"""Side-by-side latency of a compiled model and the dense runtimes a user would otherwise use:
PyTorch eager and torch.compile (for torch models), ONNX Runtime and IREE llvm-cpu (when
installed; `make bench` installs them).
Used by `fretsaw bench` and bench/networks.py. Every peer's output is checked against the
reference before it is timed."""

from __future__ import annotations

import dataclasses
import gc
import io
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from fretsaw.errors import FretsawError
from fretsaw.target import CpuTarget, host_target

RTOL = 1e-4
SETTLE_S = 0.5  # between runtimes: longer than OpenMP's spin-wait after a parallel region (200 ms)
PEERS = ("pytorch_eager", "torch_compile", "onnxruntime", "iree")
# IREE llvm-cpu flags: this CPU's features, convs as im2col + matmul, data-tiled matmuls: the
# fastest combination we measured on ResNet-18 (bench/RESULTS.md, 2026-11-23); channels-last
# preprocessing and transpose propagation did not help.
IREE_FLAGS = ("--iree-llvmcpu-target-cpu=host", "--iree-global-opt-use-im2col-for-convs", "--iree-opt-data-tiling")
# What to install for a peer that is missing (the torch peers come with fretsaw).
INSTALL = {"onnxruntime": "pip install onnxruntime", "iree": "pip install iree-base-compiler iree-base-runtime"}


def median_ms(fn, repeats: int, settle: float = SETTLE_S) -> float:
    """Median wall time of `fn()` in milliseconds over `repeats` runs, after one warm-up run and
    a pause of `settle` seconds that lets the previous runtime's worker threads stop spinning."""
    time.sleep(settle)
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


# Rounds `compare` spreads each runtime's timed calls over: this project's shared VMs swing by up to
# 2x for seconds to minutes, and timing one runtime after the other put whole runtimes in a slow
# stretch (ONNX Runtime's ResNet-50 read 46 ms in one run and 90 ms in the next)
ROUNDS = 5


def rounds_ms(fns: dict, repeats: int, rounds: int = ROUNDS, settle: float = SETTLE_S) -> dict:
    """Median wall time in ms of each callable of `fns` (name -> fn) over about `repeats` timed
    calls, made in `rounds` rounds: each round calls every fn in turn, after a pause of `settle`
    seconds (the previous runtime's worker threads stop spinning) and a warm-up call, its share
    of the calls. A slow stretch of a shared machine then falls on every runtime alike instead
    of on whichever ran during it."""
    rounds = max(1, min(rounds, repeats))
    share = -(-repeats // rounds)
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            time.sleep(settle)
            fn()  # warm-up
            for _ in range(share):
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(kept) for name, kept in times.items()}


def interleaved_ms(fns: list, repeats: int) -> list[float]:
    """Median wall time in ms of each of `fns`, called in turn `repeats` times after a warm-up
    call each, so that a swing of the machine (a shared VM's neighbours) falls on all alike."""
    times = [[] for _ in fns]
    for fn in fns:
        fn()
    for _ in range(repeats):
        for fn, kept in zip(fns, times):
            start = time.perf_counter()
            fn()
            kept.append((time.perf_counter() - start) * 1e3)
    return [statistics.median(kept) for kept in times]


MATMUL_SIZE = 2048  # the peak's fp32 matmul: n x n times n x n, 2 n^3 FLOPs


def matmul_peak(threads: int, repeats: int = 10, size: int = MATMUL_SIZE) -> float:
    """GFLOP/s of a large fp32 matmul in PyTorch (MKL / oneDNN) on `threads` threads, the median of
    `repeats`: the dense peak the useful GFLOP/s are read against ("percent of the measured
    matmul peak")."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        ms = median_ms(lambda: torch.matmul(a, b), repeats)
    finally:
        torch.set_num_threads(before)
    return 2 * size ** 3 / ms / 1e6


_FMA_PEAKS: dict[CpuTarget, float] = {}


def fma_peak(threads: int, cpu: CpuTarget | None = None, repeats: int = 30) -> float:
    """GFLOP/s of the machine's FMA peak on `threads` threads at once: a register-resident loop of
    independent FMA chains generated for `cpu` (default this machine's description: its vector
    width and registers) and compiled by the host backend's LLVM stage (fretsaw/peak.py), the
    fastest of `repeats` runs. The limit useful GFLOP/s are read against ("percent of FMA peak"):
    a large matmul in PyTorch stays well below it on some CPUs. Measured once per process for
    each (threads, target description), which names the ISA."""
    cpu = dataclasses.replace(cpu or host_target(), threads=threads)
    if cpu not in _FMA_PEAKS:
        from fretsaw.peak import measure

        _FMA_PEAKS[cpu] = measure(cpu, repeats)
    return _FMA_PEAKS[cpu]


PEAK_NAMES = {"fma": "FMA", "matmul": "matmul"}  # measured_peaks' keys as the tables name them


def measured_peaks(threads: int) -> dict[str, float]:
    """{"fma": fma_peak, "matmul": matmul_peak} on `threads` threads: what `compare` reads the
    useful GFLOP/s against."""
    return {"fma": fma_peak(threads), "matmul": matmul_peak(threads)}


def describe_peaks(peaks: dict[str, float], cpu: str) -> str:
    """Each peak of `measured_peaks` with its GFLOP/s and how it was measured, on one line."""
    how = {"fma": f"FMA chain loop on {cpu}", "matmul": f"PyTorch, {MATMUL_SIZE}^3 fp32"}
    return ", ".join(f"{PEAK_NAMES[name]} {gflops:.1f} GFLOP/s ({how[name]})" for name, gflops in peaks.items())


def export_onnx(model, inputs) -> bytes:
    """The ONNX of a torch.nn.Module (TorchScript exporter, which needs no extra packages)."""
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, tuple(torch.from_numpy(x) for x in inputs), buffer, dynamo=False,
                          input_names=[f"input{i}" for i in range(len(inputs))])
    return buffer.getvalue()


def onnxruntime_runner(onnx: bytes, threads: int):
    """A callable running the ONNX model in ONNX Runtime's CPU provider with `threads` intra-op
    threads, or None when onnxruntime is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda *inputs: session.run(None, dict(zip(names, inputs)))[0]


def static_onnx(onnx_bytes: bytes, inputs: tuple[np.ndarray, ...]) -> bytes:
    """The ONNX model with its inputs fixed to the shapes of `inputs` and every shape inferred
    (IREE's importer wants typed, shaped outputs; ONNX files often leave them symbolic)."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    weights = {init.name for init in model.graph.initializer}
    for value, array in zip([v for v in model.graph.input if v.name not in weights], inputs):
        value.type.tensor_type.ClearField("shape")
        for size in array.shape:
            value.type.tensor_type.shape.dim.add().dim_value = size
    for value in model.graph.output:
        value.type.tensor_type.ClearField("shape")
    return onnx.shape_inference.infer_shapes(model, strict_mode=True).SerializeToString()


def iree_runner(onnx: bytes, inputs: tuple[np.ndarray, ...], threads: int):
    """A callable running the ONNX model compiled by IREE for its llvm-cpu backend (IREE_FLAGS)
    at the shapes of `inputs` on the local-task driver with `threads` worker threads,
    or None when IREE's compiler or runtime is not installed."""
    try:
        import iree.compiler as ireec
        import iree.runtime as ireert
    except ImportError:
        return None
    with tempfile.TemporaryDirectory(prefix="fretsaw-iree-") as tmp:
        source, mlir = Path(tmp) / "model.onnx", Path(tmp) / "model.mlir"
        source.write_bytes(static_onnx(onnx, inputs))
        imported = subprocess.run([sys.executable, "-m", "iree.compiler.tools.import_onnx", str(source), "-o", str(mlir)],
                                  capture_output=True, text=True)
        if imported.returncode:
            raise FretsawError(f"IREE could not import the ONNX model: {imported.stderr.strip()[-500:]}; "
                               f"leave IREE out with --peers")
        try:
            vmfb = ireec.compile_file(str(mlir), target_backends=["llvm-cpu"], extra_args=list(IREE_FLAGS))
        except ireec.CompilerToolError as error:
            diagnostics = str(error).split("Invoked with:")[0]  # the command line after it says nothing of why
            why = diagnostics[max(0, diagnostics.find("error:")):].strip()
            raise FretsawError(f"IREE could not compile the model: {why[:500]}; leave IREE out with --peers") from None
    ireert.flags.parse_flags(f"--task_topology_max_group_count={threads}")
    context = ireert.SystemContext(config=ireert.Config("local-task"))
    module = ireert.VmModule.copy_buffer(context.instance, vmfb)
    context.add_vm_module(module)
    entry = next(name for name in module.function_names if not name.startswith("__") and "$" not in name)
    main = context.modules[module.name][entry]
    return lambda *inputs: np.asarray(main(*inputs).to_host())


def torch_runner(module, threads: int):
    import torch

    torch.set_num_threads(threads)

    def run(*arrays):
        with torch.no_grad():
            return module(*(torch.from_numpy(a) for a in arrays)).numpy()

    return run


def check_peer_names(names) -> None:
    unknown = sorted(set(names) - set(PEERS))
    if unknown:
        raise FretsawError(f"unknown peer(s) {', '.join(unknown)} in --peers; choose from {', '.join(PEERS)}")


def peers(model, inputs: tuple[np.ndarray, ...], threads: int, names=PEERS, keep_going: bool = False) -> dict:
    """name -> callable (numpy in, numpy out), or None when that peer is not installed. The torch
    peers need a torch model; torch.compile compiles on its first call. A peer that cannot be
    built (IREE refusing a model) raises, or with `keep_going` maps to its FretsawError."""
    check_peer_names(names)
    runners = {}
    if not isinstance(model, str):
        import torch

        if "pytorch_eager" in names:
            runners["pytorch_eager"] = torch_runner(model, threads)
        if "torch_compile" in names:
            runners["torch_compile"] = torch_runner(torch.compile(model), threads)
    if "onnxruntime" in names or "iree" in names:
        if isinstance(model, str):
            with open(model, "rb") as source:
                onnx = source.read()
        else:
            onnx = export_onnx(model, inputs)
        if "onnxruntime" in names:
            runners["onnxruntime"] = onnxruntime_runner(onnx, threads)
        if "iree" in names:
            try:
                runners["iree"] = iree_runner(onnx, inputs, threads)
            except FretsawError as error:
                if not keep_going:
                    raise
                runners["iree"] = error
    return runners


def compare(cm, model, inputs: tuple[np.ndarray, ...], repeats: int, names=PEERS,
            peaks: dict[str, float] | None = None, keep_going: bool = False) -> dict:
    """Median latency of `cm` and of every installed peer in `names` on `inputs` (timed in rounds,
    rounds_ms), each output checked against the first peer's (PyTorch for torch models); speedup
    over the fastest peer; with `peaks` (name -> GFLOP/s, as from measured_peaks), the useful
    GFLOP/s as a percentage of each (read_against): fields `<name>_peak_gflops` and `percent_of_<name>_peak`. With `keep_going`, a peer that
    cannot be built, fails to run or disagrees is left untimed and its reason recorded in
    result["peers_failed"] (bench/video.py: IREE on 3-D pools), not raised."""
    cpu = cm.backend.cpu
    runners = peers(model, inputs, cpu.threads, names, keep_going)
    got = cm(*inputs)
    reference = None

    def check(out, who):
        scale = float(np.abs(reference).max()) or 1.0
        np.testing.assert_allclose(out, reference, rtol=RTOL, atol=RTOL * scale, err_msg=f"{who} disagrees")

    result = {"threads": cpu.threads, "cpu": cpu.name, "repeats": repeats, "rounds": min(ROUNDS, repeats),
              "peers_ms": {}, "peers_failed": {}}
    timed = {"fretsaw": lambda: cm(*inputs)}
    for name, run in runners.items():
        result["peers_ms"][name] = None
        if isinstance(run, FretsawError):
            result["peers_failed"][name] = str(run)
            continue
        if run is None:
            continue
        try:
            out = run(*inputs)
            reference = out if reference is None else reference
            check(out, name)
        except Exception as error:  # noqa: BLE001 (keep_going reports whatever stopped a peer)
            if not keep_going:
                raise
            result["peers_failed"][name] = f"{type(error).__name__}: {error}".strip()
            continue
        timed[name] = lambda run=run: run(*inputs)
    if reference is not None:
        check(got, "fretsaw")
    medians = rounds_ms(timed, repeats)
    result["fretsaw_ms"] = medians.pop("fretsaw")
    result["peers_ms"].update(medians)
    timed.clear()
    runners.clear()
    gc.collect()  # ONNX Runtime's session and its thread pool go now, not during the next measurement
    latencies = [t for t in result["peers_ms"].values() if t is not None]
    result["best_peer_ms"] = min(latencies) if latencies else None
    result["speedup_over_best_peer"] = min(latencies) / result["fretsaw_ms"] if latencies else None
    stats = cm.stats()
    result["conv_flops_reduction"] = stats["flops_reduction"]
    result["useful_gflops"] = stats["sparse_flops"] / result["fretsaw_ms"] / 1e6
    read_against(result, peaks or {})
    return result


def read_against(result: dict, peaks: dict[str, float]) -> None:
    """Set `result`'s `<name>_peak_gflops` and `percent_of_<name>_peak` (its useful GFLOP/s) for
    each of `peaks`."""
    for name, gflops in peaks.items():
        result[f"{name}_peak_gflops"] = gflops
        result[f"percent_of_{name}_peak"] = 100 * result["useful_gflops"] / gflops


def higher_peaks(first: dict[str, float], threads: int) -> dict[str, float]:
    """Each of `first` (measured_peaks before a run) or a reading taken now, whichever is higher:
    a peak is what the machine can do, and a reading taken while a shared VM gave the threads
    less than their cores only lowers it (one run's FMA reading was 98 GFLOP/s where the others
    on the same machine read 193-203)."""
    now = measured_peaks(threads)
    return {name: max(gflops, now[name]) for name, gflops in first.items()}


def conv_layers(model, inputs: tuple[np.ndarray, ...]) -> list[tuple[str, object, tuple[int, ...]]]:
    """(module path, conv, input shape) of every Conv2d and Conv3d a forward pass of `model` runs."""
    import torch

    from fretsaw.prune.layers import trace

    ran = trace(model, tuple(torch.from_numpy(x) for x in inputs), (torch.nn.Conv2d, torch.nn.Conv3d))
    return [(name, module, shape) for name, (module, shape, _) in ran.items()]


def layer_breakdown(model, inputs: tuple[np.ndarray, ...], threads: int, repeats: int,
                    names=("pytorch_eager", "onnxruntime"), peaks: dict[str, float] | None = None,
                    **options) -> list[dict]:
    """Each conv layer of a torch model compiled (with compile `options`) and timed alone (random
    input of its shape) beside the peers in `names`: where the time goes and where the sparsity pays
    (with `peaks`, each layer's useful GFLOP/s as a percentage of each, as in `compare`)."""
    import torch

    import fretsaw

    rng = np.random.default_rng(0)
    rows = []
    for name, conv, shape in conv_layers(model, inputs):
        layer = torch.nn.Sequential(conv).eval()
        x = rng.standard_normal(shape).astype(np.float32)
        cm = fretsaw.compile(layer, (torch.from_numpy(x),), threads=threads, **options)
        row = compare(cm, layer, (x,), repeats, names, peaks)
        row.update(layer=name, input_shape=list(shape), kernel=list(conv.kernel_size), stride=list(conv.stride),
                   groups=conv.groups)
        rows.append(row)
    return rows


def network_profile(cm, inputs: tuple[np.ndarray, ...], repeats: int, peaks: dict[str, float] | None = None) -> list[dict]:
    """Where a host model compiled with profile=True spends a call, layer by layer inside the
    network: the median over `repeats` profiled calls of each step (cm.profile), a layer's steps
    (a conv's input staging and its loops: `steps_ms`) added up, in the order the network runs them. A conv
    layer gets its useful GFLOP/s (its sparse FLOPs from cm.stats()) and, with `peaks`, their
    percentage of each peak."""
    for _ in range(2):  # warm-up: first-touch of the buffers, the threads started
        cm.profile(*inputs)
    runs = [cm.profile(*inputs) for _ in range(repeats)]
    steps = [statistics.median(run[k][1] for run in runs) for k in range(len(runs[0]))]
    total = sum(steps)
    flops: dict[str, float] = {}
    for layer in cm.stats()["layers"]:  # a conv module called twice: both calls' FLOPs under its one name
        flops[layer["name"]] = flops.get(layer["name"], 0) + layer["sparse_flops"]
    rows: dict[str, dict] = {}
    for (label, _), ms in zip(runs[0], steps):
        row = rows.setdefault(label, {"layer": label, "steps": 0, "ms": 0.0, "steps_ms": []})
        row["steps"] += 1
        row["ms"] += ms
        row["steps_ms"].append(ms)
    for row in rows.values():
        row["percent"] = 100 * row["ms"] / total if total else 0.0
        name = next((name for name in flops if row["layer"] == name or row["layer"].startswith(name + " (")), None)
        if name is not None and row["ms"] > 0:
            row["conv"] = name
            row["useful_gflops"] = flops[name] / row["ms"] / 1e6
            for peak, gflops in (peaks or {}).items():
                row[f"percent_of_{peak}_peak"] = 100 * row["useful_gflops"] / gflops
    return list(rows.values())


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or a FretsawError saying how to get it."""
    try:
        import matplotlib
    except ImportError:
        raise FretsawError("--chart needs matplotlib: pip install matplotlib (make bench installs it)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def chart(result: dict, path: str) -> None:
    """Write a PNG of a `compare` result: fretsaw's and each peer's median latency; with a
    per-layer breakdown (`result["layers"]`), a second panel of each conv layer's speedup over its
    fastest peer beside its conv FLOPs cut (the speedup the sparsity could give)."""
    plt = pyplot()
    layers = result.get("layers")
    fig, axes = plt.subplots(1, 2 if layers else 1, figsize=(13 if layers else 6, 4.5), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 2.5]} if layers else None)
    timed = {"fretsaw": result["fretsaw_ms"], **{n: ms for n, ms in result["peers_ms"].items() if ms is not None}}
    ax = axes[0][0]
    bars = ax.bar(list(timed), list(timed.values()), color=["tab:green"] + ["tab:gray"] * (len(timed) - 1))
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_ylabel("median latency (ms)")
    ax.set_title(f"{result.get('model', 'model')}: {result['threads']} thread(s), {result['cpu']}", fontsize=9)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    if layers:
        ax = axes[0][1]
        at = np.arange(len(layers))
        ax.bar(at - 0.2, [row["speedup_over_best_peer"] or 0.0 for row in layers], 0.4, color="tab:green",
               label="fretsaw speedup over the fastest peer")
        ax.bar(at + 0.2, [row["conv_flops_reduction"] for row in layers], 0.4, color="tab:blue", alpha=0.5,
               label="conv FLOPs cut")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(at, [row["layer"] for row in layers], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("x")
        ax.set_title("each conv layer compiled and timed alone", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


COLORS = ("tab:green", "tab:gray", "tab:orange", "tab:purple", "tab:red", "tab:olive", "tab:cyan")  # fretsaw, PEERS, others


def networks_chart(rows: list[dict], path: str) -> None:
    """Write a PNG of bench/networks.py's rows: per network, every runtime's median latency over
    fretsaw's (fretsaw 1; a peer at 2 takes twice as long), beside the conv FLOPs cut. Runtimes a
    row's peers_ms names beyond PEERS come after them (bench/video.py's fretsaw on the dense model)."""
    plt = pyplot()
    others = [name for row in rows for name in row["peers_ms"] if name not in PEERS]
    names = ["fretsaw", *PEERS, *dict.fromkeys(others)]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    at = np.arange(len(rows))
    step = 0.8 / (len(names) + 1)
    for i, name in enumerate(names):
        ratios = [(row["fretsaw_ms"] if name == "fretsaw" else row["peers_ms"].get(name) or 0.0) / row["fretsaw_ms"]
                  for row in rows]
        bars = ax.bar(at + i * step, ratios, step, label=name, color=COLORS[i % len(COLORS)])
        ax.bar_label(bars, fmt="%.1f", fontsize=6)
    ax.bar(at + len(names) * step, [row["conv_flops_reduction"] for row in rows], step, color="tab:blue",
           alpha=0.4, label="conv FLOPs cut")
    ax.set_xticks(at + 0.4 - step / 2, [row["network"] for row in rows])
    ax.set_ylabel("latency / fretsaw's")
    ax.set_title(f"{rows[0]['threads']} thread(s), {rows[0]['cpu']}: dense peers against fretsaw (pruned)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_run_arguments(parser, networks, json_help: str):
    """The benchmark scripts' shared options (--tune, --json, --chart) added to `parser`, the command
    line parsed, and the --networks it names checked against `networks`: (args, names)."""
    parser.add_argument("--tune", action="store_true",
                        help="tune every conv's schedule (cached in ~/.cache/fretsaw: the first run searches)")
    parser.add_argument("--json", help=json_help)
    parser.add_argument("--chart", metavar="FILE.png",
                        help="draw each runtime's latency over fretsaw's (needs matplotlib)")
    args = parser.parse_args()
    names = args.networks.split(",")
    unknown = sorted(set(names) - set(networks))
    if unknown:
        parser.error(f"unknown network(s) {', '.join(unknown)}; choose from {', '.join(networks)}")
    return args, names
