"""The `fretsaw` command line: `demo`, `compile`, `bench` and `prune`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from fretsaw.benchmark import (INSTALL, PEAK_NAMES, PEERS, chart, check_peer_names, compare, describe_peaks,
                               layer_breakdown, measured_peaks, median_ms, network_profile, pyplot)
from fretsaw.errors import FretsawError


def format_stats(stats: dict) -> str:
    lines = [f"{'layer':24} {'shape (out)':18} {'kernels kept':>13} {'patterns':>8} "
             f"{'dense MFLOP':>11} {'sparse MFLOP':>12}"]
    for layer in stats["layers"]:
        kept = layer["kernels"] - layer["removed_kernels"]
        lines.append(f"{layer['name'][:24]:24} {'x'.join(map(str, layer['output_shape'])):18} "
                     f"{kept:>6}/{layer['kernels']:<6} {layer['num_patterns']:>8} "
                     f"{layer['dense_flops'] / 1e6:>11.2f} {layer['sparse_flops'] / 1e6:>12.2f}")
    lines.append(f"total conv FLOPs: dense {stats['dense_flops'] / 1e6:.2f} M, sparse "
                 f"{stats['sparse_flops'] / 1e6:.2f} M, reduction {stats['flops_reduction']:.2f}x; "
                 f"connectivity {stats['connectivity']:.1%}")
    top = list(stats["pattern_histogram"].items())[:8]
    lines.append("most used patterns (rows of the 3x3 kernel): " + ", ".join(f"{k} x{v}" for k, v in top))
    return "\n".join(lines)


def demo(args) -> int:
    import torch

    import fretsaw
    from fretsaw.examples import SmallVGG, randomize_batchnorm
    from fretsaw.prune import random_pattern_prune

    torch.manual_seed(0)
    model = randomize_batchnorm(SmallVGG(width=args.width)).eval()
    random_pattern_prune(model, num_patterns=8, connectivity=args.connectivity, seed=0)
    x = torch.randn(1, 3, args.size, args.size)
    print(f"fretsaw demo: VGG-style CNN (width {args.width}), 3x3 convs pruned to 8 patterns of 4 "
          f"weights with {args.connectivity:.0%} of kernels kept (first conv dense); input {tuple(x.shape)}")
    start = time.perf_counter()
    cm = fretsaw.compile(model, (x,), target="host")
    print(f"compiled for host in {time.perf_counter() - start:.1f} s "
          f"(stages: {', '.join(cm.stage_names)})")
    y = cm(x)
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    print(f"output matches PyTorch: max abs difference {np.abs(y - ref).max():.2e} (rtol 1e-4, atol 1e-5)\n")
    print(format_stats(cm.stats()))
    cpu = cm.backend.cpu
    torch.set_num_threads(cpu.threads)
    x_np = x.numpy()
    with torch.no_grad():
        torch_ms = median_ms(lambda: model(x), args.repeats)
    fretsaw_ms = median_ms(lambda: cm(x_np), args.repeats)
    print(f"\nlatency, median of {args.repeats} runs, {cpu.threads} thread(s) each: fretsaw {fretsaw_ms:.2f} ms, "
          f"PyTorch eager {torch_ms:.2f} ms (ratio {torch_ms / fretsaw_ms:.2f}x)")
    print(f"note: fretsaw's SIMD code uses {cpu.vector_width} fp32 lanes with the untuned schedules; "
          "fretsaw.compile(..., tune=True) or `fretsaw compile/bench --tune` searches each conv's.")
    return 0


def _load_model(path: str):
    if path.endswith(".onnx"):
        return path
    import torch

    if not os.path.isfile(path):
        raise FretsawError(f"model file {path} not found: pass a torch.save'd nn.Module (.pt) or an .onnx file")
    try:
        model = torch.load(path, weights_only=False)
    except (ImportError, AttributeError) as error:  # the pickle names a class this process cannot import
        raise FretsawError(f"{path}: the model's class cannot be imported here ({type(error).__name__}: {error}); "
                           f"make the module that defines it importable (e.g. add its directory to PYTHONPATH), "
                           f"or export the model to ONNX and pass the .onnx file") from None
    except Exception as error:  # torch.load raises several kinds on a file it cannot read
        raise FretsawError(f"{path} is not a model file torch.load can read ({type(error).__name__}: {error}); "
                           f"save one with torch.save(model, path), or pass an .onnx file") from None
    if not isinstance(model, torch.nn.Module):
        raise FretsawError(f"{path} does not hold a pickled torch.nn.Module (got {type(model).__name__}); "
                           f"save one with torch.save(model, path), or pass an .onnx file")
    return model.eval()


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,3,224,224, got '{text}'")
    if min(shape) < 1:
        raise argparse.ArgumentTypeError(f"every size must be a positive integer, got '{text}'")
    return shape


def _check_output_dirs(*outputs: tuple[str, str | None]) -> None:
    """Each (flag, path) given must name a file in an existing directory: checked before any work."""
    for flag, path in outputs:
        if path is None:
            continue
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise FretsawError(f"{flag} {path}: directory {directory} does not exist; create it first")


def _compile(args, inputs: tuple[np.ndarray, ...], **options):
    import fretsaw

    for name in ("cpu", "features", "triple", "device"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.fp16:
        options["fp16"] = True
    model = _load_model(args.model)
    example = inputs
    if not isinstance(model, str):
        import torch
        example = tuple(torch.from_numpy(x) for x in inputs)
    if args.tune:
        options["tune"] = True
    if args.tuning_cache is not None:
        options["tuning_cache"] = args.tuning_cache
    cm = fretsaw.compile(model, example, target=args.target, **options)
    if cm.tuning:
        from fretsaw.tune import summary
        print(summary(cm.tuning))
    return model, cm


def compile_command(args) -> int:
    _check_output_dirs(("-o", args.output), ("--stats-json", args.stats_json))
    inputs = tuple(np.zeros(shape, dtype=np.float32) for shape in args.input_shape)
    if args.save and args.target == "host":
        raise FretsawError("--save writes a target's artifacts: add --target aarch64 (objects and C driver) or "
                           "--target spirv (SPIR-V kernels and dispatch plan)")
    options = {"threads": args.threads} if args.threads else {}
    _, cm = _compile(args, inputs, **options)
    if args.save:
        paths = cm.save(args.save, args.name)
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
    if args.emit:
        text = cm.ir(args.emit, elide_weights=False)
        if args.output:
            with open(args.output, "w") as out:
                out.write(text)
        else:
            sys.stdout.write(text)
    if args.stats_json:
        with open(args.stats_json, "w") as out:
            json.dump(cm.stats(), out, indent=2)
    if not args.emit or args.output:
        print(format_stats(cm.stats()))
    return 0


def bench_aarch64(args) -> int:
    """`fretsaw bench --target aarch64`: the model checked under qemu, then llvm-mca's estimate of
    every conv layer's inner loops, sparse vs dense (fretsaw/mca.py)."""
    import torch

    from fretsaw.backends.aarch64 import FP16_TOLERANCE
    from fretsaw.backends.aarch64 import FMA_PIPES
    from fretsaw.mca import DEFAULT_CPU, layer_estimates, mca_fma_per_cycle

    if args.model.endswith(".onnx"):
        raise FretsawError("--target aarch64 estimates each conv of a torch model (.pt) alone: an ONNX file's "
                           "convs cannot be cut out here; compile it with `fretsaw compile --target aarch64`")
    for flag in ("layers", "profile", "chart", "peers", "tune"):
        if getattr(args, flag):
            raise FretsawError(f"--{flag} times on this machine and does not apply to --target aarch64, "
                               f"which estimates cycles with llvm-mca")
    mcpu = args.cpu or DEFAULT_CPU
    rng = np.random.default_rng(0)
    inputs = tuple(rng.standard_normal(shape).astype(np.float32) for shape in args.input_shape)
    model, cm = _compile(args, inputs, cpu=mcpu, threads=args.threads)
    got = cm.run_emulated(*inputs)
    with torch.no_grad():
        want = model(*(torch.from_numpy(x) for x in inputs))
    rule = f"max abs error <= {FP16_TOLERANCE:g} x max |output|" if args.fp16 else "rtol 1e-4, atol 1e-5"
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        w = w.numpy()
        bad = (np.abs(g - w).max() > FP16_TOLERANCE * np.abs(w).max() if args.fp16
               else not np.allclose(g, w, rtol=1e-4, atol=1e-5))
        if bad:
            raise FretsawError(f"the AArch64 code's output differs from PyTorch's under qemu ({rule}): max abs "
                               f"difference {np.abs(g - w).max():.3g}; please report it with the model")
    print(f"fretsaw bench --target aarch64: {args.model} compiled for {cm.backend.triple} "
          f"(-mcpu={mcpu}{', fp16 convs' if args.fp16 else ''}), run under qemu-aarch64: output matches "
          f"PyTorch ({rule})")
    cpu = cm.backend.cpu
    peak = cpu.peak_flops_per_cycle(args.fp16)
    modelled = mca_fma_per_cycle(mcpu, args.fp16, cpu.registers)
    if peak:
        print(f"FMA peak of {mcpu}: {cpu.fma_pipes} x 128-bit FMA a cycle = {peak} {'fp16' if args.fp16 else 'fp32'} "
              f"FLOP/cycle; llvm-mca-22's model of it starts {modelled:.2f} a cycle")
    else:
        print(f"FMA peak of {mcpu}: not described (backends/aarch64.py FMA_PIPES knows {', '.join(FMA_PIPES)}), so "
              f"no percentage of it; llvm-mca-22's model of it starts {modelled:.2f} 128-bit FMA a cycle")
    print(f"estimated cycles per output element of each conv's SIMD inner loops on {mcpu} (llvm-mca-22 cycles "
          f"per iteration x iterations counted under qemu), pruned vs the same layer dense; useful (pruned) FLOPs "
          f"per estimated cycle:")
    print(f"  {'layer':24} {'input':16} {'k/s/g':>7} {'kept':>6} {'sparse':>9} {'dense':>9} {'speedup':>8} "
          f"{'FLOPs cut':>9} {'FLOP/cyc':>8} {'% FMA':>6}")

    def show(row):
        percent = row.get("percent_of_fma_peak")
        print(f"  {row['layer'][:24]:24} {'x'.join(map(str, row['input_shape'])):16} "
              f"{row['kernel'][0]}/{row['stride'][0]}/{row['groups']:<3} {row['weights_kept']:6.1%} "
              f"{row['sparse_cycles_per_output']:9.2f} {row['dense_cycles_per_output']:9.2f} "
              + (f"{row['estimated_speedup']:7.2f}x" if row["estimated_speedup"] else f"{'n/a':>8}")
              + (f" {row['flops_reduction']:8.2f}x" if row["flops_reduction"] else f" {'n/a':>9}")
              + (f" {row['useful_flops_per_cycle']:8.2f}" if row["useful_flops_per_cycle"] else f" {'n/a':>8}")
              + (f" {percent:5.0f}%" if percent is not None else f" {'n/a':>6}"), flush=True)

    rows = layer_estimates(model, inputs, mcpu, cm.backend.features, fp16=args.fp16, progress=show, peak=peak)
    sparse = sum(r["sparse_cycles_per_output"] * r["outputs"] for r in rows)
    dense = sum(r["dense_cycles_per_output"] * r["outputs"] for r in rows)
    useful = sum(r["useful_flops"] for r in rows) / sparse if sparse else None
    result = {"model": args.model, "target": "aarch64", "cpu": mcpu, "fp16": args.fp16,
              "input_shapes": [list(s) for s in args.input_shape], "layers": rows, "sparse_cycles": sparse,
              "dense_cycles": dense, "estimated_speedup": dense / sparse if sparse else None,
              "fma_pipes": cpu.fma_pipes, "peak_flops_per_cycle": peak, "mca_fma_per_cycle": modelled,
              "useful_flops_per_cycle": useful}
    if peak and useful:
        result["percent_of_fma_peak"] = 100 * useful / peak
    if sparse:
        print(f"all convs: {sparse / 1e6:.2f} M cycles pruned vs {dense / 1e6:.2f} M dense: estimated "
              f"{dense / sparse:.2f}x (inner loops only; llvm-mca assumes L1 hits); {useful:.2f} useful FLOP/cycle"
              + (f" = {result['percent_of_fma_peak']:.0f}% of the FMA peak" if peak else ""))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)
    return 0


def bench_spirv(args) -> int:
    """`fretsaw bench --target spirv`: the model on the Vulkan device beside IREE's vulkan-spirv on the
    same device (the dense peer; skipped by --peers without iree), checked against PyTorch; with
    --layers each dispatch's device time."""
    for flag in ("threads", "tune", "chart", "profile"):
        if getattr(args, flag):
            raise FretsawError(f"--{flag} does not apply to --target spirv (the Vulkan device schedules its own "
                               f"threads; per-layer device times: --layers)")
    names = ("iree",) if args.peers is None else () if args.peers == "none" else tuple(args.peers.split(","))
    if any(name != "iree" for name in names):
        raise FretsawError(f"--target spirv compares with IREE's vulkan-spirv on the same device: --peers iree "
                           f"(the default) or none, not {args.peers}")
    from fretsaw.benchmark import median_ms

    rng = np.random.default_rng(0)
    inputs = tuple(rng.standard_normal(shape).astype(np.float32) for shape in args.input_shape)
    start = time.perf_counter()
    model, cm = _compile(args, inputs)
    compile_s = time.perf_counter() - start
    from fretsaw.backends.vulkan import device

    result = {"model": args.model, "target": "spirv", "device": device().name, "fp16": args.fp16,
              "compile_s": compile_s, "fretsaw_ms": median_ms(lambda: cm(*inputs), args.repeats), "peers_ms": {}}
    print(f"fretsaw bench --target spirv: {args.model} on {result['device']}, median of {args.repeats} runs "
          f"(compiled in {compile_s:.1f} s)")
    print(f"  {'fretsaw':28} {result['fretsaw_ms']:10.2f} ms")
    if names and not isinstance(model, str):  # (IREE's vulkan peer takes a torch model)
        result["peers_ms"]["iree_vulkan"] = _iree_vulkan_ms(model, inputs, args.repeats, result["fretsaw_ms"])
    if not isinstance(model, str):
        import torch

        with torch.no_grad():
            want = model(*(torch.from_numpy(x) for x in inputs))
        if isinstance(want, torch.Tensor):
            result["max_abs_error"] = float(np.abs(cm(*inputs) - want.numpy()).max())
            print(f"max |fretsaw - PyTorch| = {result['max_abs_error']:.2e}")
    print(format_stats(cm.stats()))
    if args.layers:
        result["layers"] = cm.profile(*inputs)
        total = sum(ms for _, ms in result["layers"])
        print(f"\ndispatches on the device ({total:.1f} ms in all), slowest first:")
        for layer, ms in sorted(result["layers"], key=lambda item: -item[1])[:30]:
            print(f"  {layer[:40]:40} {ms:9.3f} ms")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)
    return 0


def _iree_vulkan_ms(model, inputs, repeats: int, fretsaw_ms: float) -> float | None:
    """IREE vulkan-spirv's median ms on `model` on the Vulkan device (printed), None when it fails (why printed)."""
    from fretsaw.benchmark import median_ms
    from fretsaw.iree_vulkan import iree_vulkan

    try:
        run = iree_vulkan(model, inputs)
        ms = median_ms(lambda: run(*inputs), repeats)
    except RuntimeError as error:
        print(f"  {'IREE vulkan-spirv (dense)':28} fails: {str(error).splitlines()[0][:200]}")
        return None
    print(f"  {'IREE vulkan-spirv (dense)':28} {ms:10.2f} ms")
    print(f"speedup over IREE: {ms / fretsaw_ms:.2f}x")
    return ms


def bench_command(args) -> int:
    _check_output_dirs(("--json", args.json), ("--chart", args.chart))
    if args.target == "aarch64":
        return bench_aarch64(args)
    if args.target == "spirv":
        return bench_spirv(args)
    names = tuple(args.peers.split(",")) if args.peers else PEERS
    check_peer_names(names)  # before the compile, not after it
    if args.layers and args.model.endswith(".onnx"):
        raise FretsawError("--layers needs a torch model (.pt): an ONNX file's convs cannot be run alone here")
    if args.chart:
        pyplot()  # matplotlib missing: say so before the compile, not after the timing

    rng = np.random.default_rng(0)
    inputs = tuple(rng.standard_normal(shape).astype(np.float32) for shape in args.input_shape)
    start = time.perf_counter()
    model, cm = _compile(args, inputs, threads=args.threads)
    compile_s = time.perf_counter() - start
    peaks = measured_peaks(cm.backend.cpu.threads)
    result = compare(cm, model, inputs, args.repeats, names, peaks)
    result.update(model=args.model, input_shapes=[list(s) for s in args.input_shape], compile_s=compile_s,
                  tuning=cm.tuning)
    print(f"fretsaw bench: {args.model}, inputs {', '.join('x'.join(map(str, s)) for s in args.input_shape)}, "
          f"{result['threads']} thread(s) each, {result['cpu']}, median of {args.repeats} runs "
          f"(compiled in {compile_s:.1f} s" + ("; every output checked against the first peer's)"
                                                 if result["best_peer_ms"] is not None else "; no peer to check against)"))
    print(f"  {'fretsaw':16} {result['fretsaw_ms']:9.2f} ms")
    for name, ms in result["peers_ms"].items():
        shown = f"{ms:9.2f} ms" if ms is not None else f"not installed ({INSTALL[name]}, or make bench)"
        print(f"  {name:16} {shown}")
    if result["speedup_over_best_peer"] is not None:
        print(f"speedup over the fastest peer: {result['speedup_over_best_peer']:.2f}x; conv FLOPs cut "
              f"{result['conv_flops_reduction']:.2f}x")
    print(f"useful {result['useful_gflops']:.1f} GFLOP/s = "
          + ", ".join(f"{result[f'percent_of_{name}_peak']:.0f}% of the {PEAK_NAMES[name]} peak" for name in peaks)
          + f"\npeaks measured in this run on the same threads: {describe_peaks(peaks, result['cpu'])}\n")
    print(format_stats(cm.stats()))
    if args.layers:
        layer_names = tuple(n for n in names if n != "torch_compile")  # one torch.compile per layer is too slow
        result["layers"] = layer_breakdown(model, inputs, result["threads"], args.repeats, layer_names, peaks,
                                           tune=args.tune, tuning_cache=args.tuning_cache)
        print(f"\nconv layers compiled and timed alone (median of {args.repeats}):")
        print(f"  {'layer':24} {'input':18} {'k/s/g':>7} {'fretsaw':>9} " + " ".join(f"{n:>14}" for n in layer_names)
              + f" {'speedup':>8} {'FLOPs cut':>9} {'GFLOP/s':>8} {'% FMA':>6} {'% matmul':>8}")
        for row in result["layers"]:
            peers_ms = " ".join(f"{row['peers_ms'][n]:11.3f} ms" if row["peers_ms"][n] is not None else f"{'n/a':>14}"
                                for n in layer_names)
            speedup = f"{row['speedup_over_best_peer']:7.2f}x" if row["speedup_over_best_peer"] else f"{'n/a':>8}"
            print(f"  {row['layer'][:24]:24} {'x'.join(map(str, row['input_shape'])):18} "
                  f"{row['kernel'][0]}/{row['stride'][0]}/{row['groups']:<3} {row['fretsaw_ms']:6.3f} ms {peers_ms} "
                  f"{speedup} {row['conv_flops_reduction']:8.2f}x {row['useful_gflops']:8.1f} "
                  f"{row['percent_of_fma_peak']:5.0f}% {row['percent_of_matmul_peak']:7.0f}%")
    if args.profile:
        result["profile"] = profile_network(args, inputs, result, peaks)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)
    if args.chart:
        chart(result, args.chart)
        print(f"\nchart written to {args.chart}")
    return 0


def profile_network(args, inputs: tuple[np.ndarray, ...], result: dict, peaks: dict[str, float]) -> list[dict]:
    """`fretsaw bench --profile`: a second build with profile=True, each layer timed inside the
    network (network_profile), printed in the order the network runs them."""
    _, profiled = _compile(args, inputs, threads=args.threads, profile=True)
    rows = network_profile(profiled, inputs, args.repeats, peaks)
    total = sum(row["ms"] for row in rows)
    convs = sum(row["ms"] for row in rows if "conv" in row)
    print(f"\nlayers timed inside the network (a profile=True build, median of {args.repeats}; "
          f"{total:.2f} ms in all, the uninstrumented build {result['fretsaw_ms']:.2f} ms):")
    print(f"  {'layer':36} {'steps':>5} {'ms':>9} {'share':>6} {'GFLOP/s':>8} {'% FMA':>6}")
    for row in rows:
        speed = (f"{row['useful_gflops']:8.1f} {row['percent_of_fma_peak']:5.0f}%" if "conv" in row else "")
        print(f"  {row['layer'][:36]:36} {row['steps']:5} {row['ms']:9.3f} {row['percent']:5.1f}% {speed}")
    print(f"convs {convs:.2f} ms ({100 * convs / total if total else 0:.0f}%), the rest {total - convs:.2f} ms")
    return rows


def prune_command(args) -> int:
    import torch

    from fretsaw import prune

    if args.model.endswith(".onnx"):
        raise FretsawError("fretsaw prune works on torch models (.pt, a pickled nn.Module): ONNX weights are "
                           "not trainable here; export the pruned torch model to ONNX afterwards if needed")
    _check_output_dirs(("-o", args.output), ("--report", args.report))
    model = _load_model(args.model)
    inputs = tuple(torch.zeros(shape) for shape in args.input_shape) if args.input_shape else None
    library = None
    if args.library:
        try:
            with open(args.library) as source:
                library = json.load(source)
        except UnicodeDecodeError as error:
            raise FretsawError(f"--library {args.library} is not text (byte {error.object[error.start]:#04x} at "
                               f"offset {error.start} is not UTF-8); expected a JSON list of patterns like "
                               f'["010/111/010", "110/110/000"]') from None
        except (OSError, json.JSONDecodeError) as error:
            raise FretsawError(f"--library {args.library}: {error}; expected a JSON list of patterns like "
                               f'["010/111/010", "110/110/000"]') from None
    plan = prune.make_plan(model, args.scheme, args.flops, args.patterns, library=library,
                           connectivity=args.connectivity, group_shape=args.group_shape,
                           skip_first=not args.prune_first, depthwise=args.prune_depthwise, inputs=inputs)
    prune.apply(plan)
    torch.save(model, args.output)
    report = prune.report(model, inputs, plan.library)
    print(f"fretsaw prune: {args.model} -> {args.output}, scheme {args.scheme}, conv FLOPs "
          f"{report['dense_flops'] / 1e6:.2f} M -> {report['sparse_flops'] / 1e6:.2f} M "
          f"({report['flops_reduction']:.2f}x; {report['flops_basis']})")
    for layer in report["layers"]:
        print(f"  {layer['name'][:28]:28} {'x'.join(map(str, layer['weight_shape'])):16} kernels kept "
              f"{layer['kept_kernels']:>6}/{layer['kernels']:<6} weights kept {layer['weights_kept']:6.1%}")
    if report["library"]:
        print("library: " + ", ".join(report["library"]))
    if args.report:
        with open(args.report, "w") as out:
            json.dump(report, out, indent=2)
    return 0


def _group_shape(text: str) -> tuple[int, int]:
    shape = _shape(text)
    if len(shape) != 2:
        raise argparse.ArgumentTypeError(f"expected filters,channels like 4,4, got '{text}'")
    return shape


def _model_arguments(sub: argparse.ArgumentParser) -> None:
    """The model file, its input shapes, the target and tuning: what `compile` and `bench` both take."""
    sub.add_argument("model", help="model.onnx or model.pt (a pickled torch.nn.Module)")
    sub.add_argument("--input-shape", type=_shape, action="append", required=True,
                     help="shape of an input, e.g. 1,3,224,224 (repeat for several inputs)")
    sub.add_argument("--target", default="host", choices=("host", "aarch64", "spirv"),
                     help="compilation target (default host)")
    sub.add_argument("--device", help="spirv: the GPU, local (the Vulkan device here; default), adreno or mali")
    sub.add_argument("--cpu", help="aarch64: llc's -mcpu, e.g. cortex-a76 (default generic)")
    sub.add_argument("--features", help="aarch64: llc's -mattr, e.g. +neon,+fullfp16 (default +neon)")
    sub.add_argument("--triple", help="aarch64: target triple, e.g. aarch64-linux-android24 "
                                      "(default aarch64-linux-gnu)")
    sub.add_argument("--fp16", action="store_true", help="aarch64: convolutions compute in fp16 (adds +fullfp16); "
                                                          "spirv: convolutions store and compute in fp16")
    sub.add_argument("--tune", action="store_true",
                     help="time each conv's register block and channel tile choices and keep the fastest "
                          "(cached on disk: each layer is searched once per machine)")
    sub.add_argument("--tuning-cache", metavar="FILE", help="the tuning cache (default ~/.cache/fretsaw/tuning.json)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fretsaw", description="compiler for pattern-pruned CNNs")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="compile a bundled pattern-pruned CNN, check it, show stats and latency")
    d.add_argument("--width", type=int, default=32, help="channels of the first stage (default 32)")
    d.add_argument("--size", type=int, default=64, help="input height and width (default 64)")
    d.add_argument("--connectivity", type=float, default=0.5, help="fraction of kernels kept (default 0.5)")
    d.add_argument("--repeats", type=int, default=20, help="timed runs (default 20)")
    d.set_defaults(func=demo)
    c = sub.add_parser("compile", help="compile an .onnx file or a torch.save'd nn.Module")
    _model_arguments(c)
    c.add_argument("--emit", metavar="STAGE", help="print the IR of STAGE (torch, linalg, pconv, loops, "
                                                    "bufferized, llvm)")
    c.add_argument("-o", "--output", help="write the --emit IR here instead of stdout")
    c.add_argument("--stats-json", metavar="FILE", help="write cm.stats() as JSON")
    c.add_argument("--threads", type=int, help="threads of the generated code (default: all cores; aarch64 4)")
    c.add_argument("--save", metavar="DIR", help="aarch64: write the object, C header, wrapper, driver, runtime "
                                                 "and Makefile into DIR; spirv: the .spv kernels and dispatch plan")
    c.add_argument("--name", default="model", help="with --save: prefix of the files and of NAME_run (default model)")
    c.set_defaults(func=compile_command)
    b = sub.add_parser("bench", help="time a compiled model beside PyTorch eager, torch.compile, ONNX Runtime and IREE")
    _model_arguments(b)
    b.add_argument("--threads", type=int, default=None, help="threads for fretsaw and every peer (default: all)")
    b.add_argument("--repeats", type=int, default=20, help="timed runs (default 20)")
    b.add_argument("--peers", help=f"comma-separated subset of {','.join(PEERS)} (default: all)")
    b.add_argument("--layers", action="store_true",
                   help="also compile and time every conv layer alone beside the peers (torch models)")
    b.add_argument("--profile", action="store_true",
                   help="also time each layer inside the network (host: a second build with profile=True)")
    b.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    b.add_argument("--chart", metavar="FILE.png", help="draw the latencies (and with --layers each layer's "
                                                       "speedup and FLOPs cut) as a PNG; needs matplotlib")
    b.set_defaults(func=bench_command)
    p = sub.add_parser("prune", help="one-shot projection of a torch model onto a pattern / filter / KGS structure "
                                     "(training methods: the Python API fretsaw.prune)")
    p.add_argument("model", help="model.pt (a pickled torch.nn.Module)")
    p.add_argument("-o", "--output", required=True, help="where to torch.save the pruned nn.Module")
    p.add_argument("--scheme", default="pattern", choices=("pattern", "filter", "kgs", "vanilla"),
                   help="what to remove (default pattern: library patterns + whole kernels)")
    p.add_argument("--flops", type=float, default=3.6, help="conv-FLOPs reduction to reach (default 3.6)")
    p.add_argument("--patterns", type=int, default=8, help="library size extracted from the weights (default 8)")
    p.add_argument("--library", metavar="FILE", help='JSON list of 3x3 patterns, e.g. ["010/111/010", ...]')
    p.add_argument("--connectivity", default="layer", choices=("layer", "global"),
                   help="the same cut in every layer (default) or ranked over the whole model")
    p.add_argument("--group-shape", type=_group_shape, default=(4, 4), help="KGS/Vanilla group: filters,channels")
    p.add_argument("--prune-first", action="store_true", help="prune the first conv too (default: left dense)")
    p.add_argument("--prune-depthwise", action="store_true",
                   help="let connectivity remove kernels of depthwise convs, i.e. whole channels (default: they "
                        "keep every kernel, 3x3 ones take patterns)")
    p.add_argument("--input-shape", type=_shape, action="append",
                   help="example input shape for real FLOPs, e.g. 1,3,224,224 (default: per output position)")
    p.add_argument("--report", metavar="FILE", help="write the pruning report as JSON")
    p.set_defaults(func=prune_command)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FretsawError as error:
        print(f"fretsaw: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a file fretsaw reads or writes: its message names the file
        print(f"fretsaw: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
