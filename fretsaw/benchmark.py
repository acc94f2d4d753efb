"""Side-by-side latency of a compiled model and the dense runtimes a user would otherwise use:
PyTorch eager and torch.compile (for torch models) and ONNX Runtime (when installed; `make bench`
installs it).
Used by `fretsaw bench` and bench/networks.py. Every peer's output is checked against the
reference before it is timed."""

from __future__ import annotations

import gc
import io
import statistics
import time
import warnings

import numpy as np

from fretsaw.errors import FretsawError

RTOL = 1e-4
SETTLE_S = 0.5  # between runtimes: longer than OpenMP's spin-wait after a parallel region (200 ms)
PEERS = ("pytorch_eager", "torch_compile", "onnxruntime")


def median_ms(fn, repeats: int) -> float:
    """Median wall time of `fn()` in milliseconds over `repeats` runs, after one warm-up run and
    a pause that lets the previous runtime's worker threads stop spinning."""
    time.sleep(SETTLE_S)
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


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


def peers(model, inputs: tuple[np.ndarray, ...], threads: int, names=PEERS) -> dict:
    """name -> callable (numpy in, numpy out), or None when that peer is not installed. The torch
    peers need a torch model; torch.compile compiles on its first call."""
    check_peer_names(names)
    runners = {}
    if not isinstance(model, str):
        import torch

        if "pytorch_eager" in names:
            runners["pytorch_eager"] = torch_runner(model, threads)
        if "torch_compile" in names:
            runners["torch_compile"] = torch_runner(torch.compile(model), threads)
    if "onnxruntime" in names:
        if isinstance(model, str):
            with open(model, "rb") as source:
                onnx = source.read()
        else:
            onnx = export_onnx(model, inputs)
        runners["onnxruntime"] = onnxruntime_runner(onnx, threads)
    return runners


def compare(cm, model, inputs: tuple[np.ndarray, ...], repeats: int, names=PEERS) -> dict:
    """Median latency of `cm` and of every installed peer in `names` on `inputs`, each output
    checked against the first peer's (PyTorch for torch models); speedup over the fastest peer."""
    cpu = cm.options.cpu()
    runners = peers(model, inputs, cpu.threads, names)
    got = cm(*inputs)
    reference = None

    def check(out, who):
        scale = float(np.abs(reference).max()) or 1.0
        np.testing.assert_allclose(out, reference, rtol=RTOL, atol=RTOL * scale, err_msg=f"{who} disagrees")

    result = {"threads": cpu.threads, "cpu": cpu.name, "repeats": repeats,
              "fretsaw_ms": median_ms(lambda: cm(*inputs), repeats), "peers_ms": {}}
    for name, run in runners.items():
        if run is None:
            result["peers_ms"][name] = None
            continue
        out = run(*inputs)
        reference = out if reference is None else reference
        check(out, name)
        result["peers_ms"][name] = median_ms(lambda: run(*inputs), repeats)
    if reference is not None:
        check(got, "fretsaw")
    runners.clear()
    gc.collect()  # ONNX Runtime's session and its thread pool go now, not during the next measurement
    timed = [t for t in result["peers_ms"].values() if t is not None]
    result["best_peer_ms"] = min(timed) if timed else None
    result["speedup_over_best_peer"] = min(timed) / result["fretsaw_ms"] if timed else None
    stats = cm.stats()
    result["conv_flops_reduction"] = stats["flops_reduction"]
    result["useful_gflops"] = stats["sparse_flops"] / result["fretsaw_ms"] / 1e6
    return result


def conv_layers(model, inputs: tuple[np.ndarray, ...]) -> list[tuple[str, object, tuple[int, ...]]]:
    """(module path, Conv2d, input shape) of every Conv2d a forward pass of `model` runs."""
    import torch

    seen: dict[str, tuple[object, tuple[int, ...]]] = {}

    def record(name):
        def hook(module, args, output):  # returns None: the output is left alone
            seen.setdefault(name, (module, tuple(args[0].shape)))
        return hook

    hooks = [module.register_forward_hook(record(name))
             for name, module in model.named_modules() if isinstance(module, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            model(*(torch.from_numpy(x) for x in inputs))
    finally:
        for hook in hooks:
            hook.remove()
    return [(name, module, shape) for name, (module, shape) in seen.items()]


def layer_breakdown(model, inputs: tuple[np.ndarray, ...], threads: int, repeats: int,
                    names=("pytorch_eager", "onnxruntime")) -> list[dict]:
    """Each conv layer of a torch model compiled and timed alone (random input of its shape)
    beside the peers in `names`: where the time goes and where the sparsity pays."""
    import torch

    import fretsaw

    rng = np.random.default_rng(0)
    rows = []
    for name, conv, shape in conv_layers(model, inputs):
        layer = torch.nn.Sequential(conv).eval()
        x = rng.standard_normal(shape).astype(np.float32)
        cm = fretsaw.compile(layer, (torch.from_numpy(x),), threads=threads)
        row = compare(cm, layer, (x,), repeats, names)
        row.update(layer=name, input_shape=list(shape), kernel=list(conv.kernel_size), stride=list(conv.stride),
                   groups=conv.groups)
        rows.append(row)
    return rows
