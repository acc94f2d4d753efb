"""Video networks (bench/video_networks.py: C3D, R3D-18, MC3-18, R(2+1)D-18, S3D; random weights,
random BatchNorm statistics) on one 16-frame clip, 1x3x16x112x112 (S3D 1x3x16x224x224), pruned by
`fretsaw.prune.project` to 3.6x fewer conv FLOPs: KGS (groups of 4 filters x 4 input channels
share the kernel positions they keep) and Vanilla (whole 4x4 groups removed), every Conv3d but the
first. fretsaw on each pruned model and on the dense one ("dense-fretsaw": the pruning's own gain
shows against it) beside the dense peers on the dense model (PyTorch eager, torch.compile, and ONNX
Runtime and IREE llvm-cpu when installed: `make bench-video` installs them), same threads, one run.
A peer that cannot build or run a network is reported as failed with its reason, not skipped.
Prints a markdown table with the useful GFLOP/s as a percentage of the machine's FMA peak and of a
2048^3 fp32 matmul's in PyTorch, both measured first on the same threads; with --layers each Conv3d
compiled and timed alone; with --json the figures, with --chart a PNG.

    .venv/bin/python bench/video.py [--networks c3d,r2plus1d_18] [--schemes kgs,vanilla] [--frames 16]
                                    [--size 112] [--repeats 5] [--threads N] [--peers ...] [--layers]
                                    [--json out.json] [--chart out.png]

Quick check of the harness on a small clip (C3D needs 16 frames of 16x16 at least, S3D 5 of 17x17):
    .venv/bin/python bench/video.py --networks c3d --size 32 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
from torch import nn
from video_networks import NETWORKS

import fretsaw
from fretsaw import prune
from fretsaw.benchmark import (PEAK_NAMES, PEERS, ROUNDS, check_peer_names, compare, describe_peaks, higher_peaks,
                               layer_breakdown, measured_peaks, networks_chart, parse_run_arguments, pyplot,
                               read_against)
from fretsaw.errors import FretsawError
from fretsaw.examples import randomize_batchnorm

TITLES = {"c3d": "C3D", "r3d_18": "R3D-18", "mc3_18": "MC3-18", "r2plus1d_18": "R(2+1)D-18", "s3d": "S3D"}
SCHEMES = [name for name, (kinds, _) in prune.SCHEMES.items() if nn.Conv3d in kinds]  # kgs, vanilla, filter
PEER_TITLES = {"pytorch_eager": "PyTorch eager", "torch_compile": "torch.compile", "onnxruntime": "ONNX Runtime",
               "iree": "IREE llvm-cpu"}
LAYER_PEERS = ("pytorch_eager", "onnxruntime")  # per layer: one torch.compile or IREE build each is too slow


def build(name: str, frames: int, size: int) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = randomize_batchnorm(NETWORKS[name][0](frames, size)).eval()
    return model, torch.randn(1, 3, frames, size, size)


def percents(row: dict, args) -> str:
    return " | ".join(f"{row[key]:.0f}%" for key in args.percent_keys)


def layer_rows(model: nn.Module, x: torch.Tensor, args) -> list[dict]:
    """Each Conv3d of `model` compiled and timed alone beside PyTorch eager and ONNX Runtime."""
    names = tuple(n for n in LAYER_PEERS if n in args.peers)
    return layer_breakdown(model, (x.numpy(),), args.threads, args.repeats, names, args.peaks, tune=args.tune)


def measure(name: str, args) -> dict:
    """Dense-fretsaw and the dense peers on the dense model in one compare(), then fretsaw on each
    pruned model (its output checked against PyTorch eager on the same pruned weights)."""
    model, x = build(name, args.frames, args.size or NETWORKS[name][1])
    result = {"network": name, "input_shape": list(x.shape), "variants": [], "layers": {}}
    for variant in ["dense", *args.schemes]:
        net = model if variant == "dense" else prune.project(model, variant, args.flops, group_shape=args.group_shape,
                                                             inputs=x)
        start = time.perf_counter()
        cm = fretsaw.compile(net, (x,), threads=args.threads, tune=args.tune)
        compile_s = time.perf_counter() - start
        peers = args.peers if variant == "dense" else ("pytorch_eager",)
        timed = compare(cm, net, (x.numpy(),), args.repeats, peers, args.peaks, keep_going=True)
        if variant == "dense":
            result.update({k: timed[k] for k in ("threads", "cpu", "peers_ms", "peers_failed", "best_peer_ms")})
        best, stats = result["best_peer_ms"], cm.stats()
        row = {"variant": variant, "fretsaw_ms": timed["fretsaw_ms"], "compile_s": compile_s,
               "speedup_over_best_peer": best / timed["fretsaw_ms"] if best else None,
               "pytorch_eager_ms": timed["peers_ms"].get("pytorch_eager"), "conv_flops": stats["sparse_flops"],
               **{k: timed[k] for k in ("conv_flops_reduction", "useful_gflops", *args.percent_keys)},
               "convs_in_pconv": stats["conv_layers"], "convs": len(prune.report(net)["layers"]), "tuning": cm.tuning}
        result["variants"].append(row)
        if args.layers:
            result["layers"][variant] = layer_rows(net, x, args)
    return result


def cell(text: str, limit: int) -> str:
    """`text` fit for a markdown table cell: one line, no pipes, at most `limit` characters."""
    return " ".join(text.split()).replace("|", "/")[:limit]


def peer_cell(result: dict, peer: str) -> str:
    if peer not in result["peers_ms"]:
        return "not run (--peers)"
    if peer in result["peers_failed"]:  # from its first "error:" on; the whole reason follows the table
        reason = result["peers_failed"][peer]
        return f"failed: {cell(reason[max(0, reason.find('error: ')):], 100)}"
    ms = result["peers_ms"][peer]
    return f"{ms:.1f} ms" if ms is not None else "not installed (make bench)"


def print_rows(result: dict, args) -> None:
    title = f"{TITLES[result['network']]} ({'x'.join(map(str, result['input_shape'][2:]))})"
    for i, row in enumerate(result["variants"]):
        peers = " | ".join(peer_cell(result, p) if i == 0 else "" for p in PEERS)
        speedup = f"{row['speedup_over_best_peer']:.2f}x" if row["speedup_over_best_peer"] else "n/a"
        variant = "dense" if row["variant"] == "dense" else f"{row['variant']} {args.group_text}"
        print(f"| {title if i == 0 else ''} | {variant} | {row['fretsaw_ms']:.1f} ms | {peers} | {speedup} | "
              f"{row['conv_flops_reduction']:.2f}x | {row['useful_gflops']:.1f} | {percents(row, args)} | "
              f"{row['compile_s']:.0f} s |", flush=True)


def print_layers(result: dict, args) -> None:
    names = [n for n in LAYER_PEERS if n in args.peers]
    for variant, rows in result["layers"].items():
        print(f"\n{TITLES[result['network']]}, {variant}: each Conv3d compiled and timed alone (median of "
              f"{args.repeats})\n")
        print("| layer | input | kernel | stride | fretsaw | " + " | ".join(PEER_TITLES[n] for n in names) +
              f" | speedup over best peer | FLOPs cut | useful GFLOP/s | {args.peak_titles} |")
        print("|---" * (8 + len(names) + len(args.peaks)) + "|")
        for row in rows:
            speedup = f"{row['speedup_over_best_peer']:.2f}x" if row["speedup_over_best_peer"] else "n/a"
            peers = " | ".join(f"{row['peers_ms'][n]:.2f} ms" if row["peers_ms"].get(n) is not None else "n/a"
                               for n in names)
            print(f"| {row['layer']} | {'x'.join(map(str, row['input_shape']))} | "
                  f"{'x'.join(map(str, row['kernel']))} | {'x'.join(map(str, row['stride']))} | "
                  f"{row['fretsaw_ms']:.2f} ms | {peers} | {speedup} | {row['conv_flops_reduction']:.2f}x | "
                  f"{row['useful_gflops']:.1f} | {percents(row, args)} |")


def chart_rows(results: list[dict]) -> list[dict]:
    """networks_chart's rows: one per network and variant, fretsaw on that variant against the
    dense peers and, for the pruned ones, dense-fretsaw."""
    rows = []
    for result in results:
        dense_ms = result["variants"][0]["fretsaw_ms"]
        for row in result["variants"]:
            peers_ms = dict(result["peers_ms"])
            if row["variant"] != "dense":
                peers_ms["dense-fretsaw"] = dense_ms
            rows.append({"network": f"{TITLES[result['network']]}\n{row['variant']}", "fretsaw_ms": row["fretsaw_ms"],
                         "peers_ms": peers_ms, "conv_flops_reduction": row["conv_flops_reduction"],
                         "threads": result["threads"], "cpu": result["cpu"]})
    return rows


def check_sizes(names: list[str], args, parser) -> None:
    """Every network fits the clip (a narrow copy of each is built), before anything is measured."""
    for name in names:
        try:
            NETWORKS[name][0](args.frames, args.size or NETWORKS[name][1], width=1)
        except ValueError as error:
            parser.error(f"--frames/--size: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default=",".join(NETWORKS), help=f"comma-separated: {', '.join(NETWORKS)}")
    parser.add_argument("--schemes", default="kgs,vanilla",
                        help=f"pruned variants, comma-separated ({', '.join(SCHEMES)}); '' for dense only")
    parser.add_argument("--flops", type=float, default=3.6, help="conv-FLOPs reduction of the pruning (default 3.6)")
    parser.add_argument("--group-shape", default="4,4", help="KGS / Vanilla groups: filters,input channels (4,4)")
    parser.add_argument("--frames", type=int, default=16, help="clip length (default 16)")
    parser.add_argument("--size", type=int, default=None, help="frame height and width (default 112, S3D 224)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="default: every core")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated: {', '.join(PEERS)}")
    parser.add_argument("--layers", action="store_true", help="also time each Conv3d of every variant alone")
    args, names = parse_run_arguments(parser, NETWORKS, "also write the results here")
    args.schemes = [s for s in args.schemes.split(",") if s]
    if set(args.schemes) - set(SCHEMES):
        parser.error(f"unknown scheme(s) in --schemes {', '.join(args.schemes)}; choose from {', '.join(SCHEMES)}")
    args.peers = tuple(args.peers.split(","))
    try:
        check_peer_names(args.peers)
        args.group_shape = tuple(int(n) for n in args.group_shape.split(","))
    except (FretsawError, ValueError) as error:
        parser.error(str(error) if isinstance(error, FretsawError) else f"--group-shape: expected like 4,4 ({error})")
    args.group_text = "x".join(map(str, args.group_shape))
    check_sizes(names, args, parser)
    if args.chart:
        pyplot()  # matplotlib missing: say so now, not after the runs
    cpu = fretsaw.HostOptions(threads=args.threads).cpu_target()
    args.threads = cpu.threads
    args.peaks = measured_peaks(cpu.threads)
    args.peak_titles = " | ".join(f"% of {PEAK_NAMES[name]} peak" for name in args.peaks)
    args.percent_keys = [f"percent_of_{name}_peak" for name in args.peaks]  # compare's fields
    torch.set_num_threads(cpu.threads)
    results, failed = [], []
    for name in names:
        try:
            results.append(measure(name, args))
        except FretsawError as error:  # a 3-D feature fretsaw lacks: the other networks still run
            failed.append({"network": name, "error": str(error)})
        print(f"{name}: measured", file=sys.stderr, flush=True)
    args.peaks = higher_peaks(args.peaks, cpu.threads)  # measured again after the runs
    for result in results:
        for row in [*result["variants"], *(r for rows in result["layers"].values() for r in rows)]:
            read_against(row, args.peaks)
    print(f"{cpu.threads} thread(s) each; {cpu.name}; measured peaks (the higher of before and after the runs): "
          f"{describe_peaks(args.peaks, cpu.name)}; median of {args.repeats} calls in "
          f"{min(ROUNDS, args.repeats)} rounds\n")
    print("| network | fretsaw on | fretsaw | " + " | ".join(f"{PEER_TITLES[p]} (dense)" for p in PEERS) +
          f" | speedup over best dense peer | conv FLOPs cut | useful GFLOP/s | {args.peak_titles} | compile |")
    print("|---" * (7 + len(PEERS) + len(args.peaks)) + "|")
    for result in results:
        print_rows(result, args)
    for failure in failed:
        print(f"| {TITLES[failure['network']]} | | failed: {cell(failure['error'].splitlines()[0], 160)} |")
    for result in results:
        for row in result["variants"]:
            if row["convs_in_pconv"] < row["convs"]:
                print(f"\n{TITLES[result['network']]} {row['variant']}: {row['convs_in_pconv']} of {row['convs']} "
                      f"convs raised into pconv; the others ran as upstream loops")
    for result in results:
        for peer, reason in result["peers_failed"].items():
            print(f"\n{TITLES[result['network']]}: {PEER_TITLES[peer]} failed: {reason}")
    for failure in failed:
        print(f"\n{TITLES[failure['network']]} failed: {failure['error']}")
    for result in results:
        print_layers(result, args)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"threads": cpu.threads, "cpu": cpu.name,
                       **{f"{name}_peak_gflops": gflops for name, gflops in args.peaks.items()},
                       "frames": args.frames, "flops": args.flops, "group_shape": list(args.group_shape),
                       "results": results, "failed": failed}, out, indent=2)
    if args.chart and results:
        networks_chart(chart_rows(results), args.chart)
        print(f"\nchart written to {args.chart}")


if __name__ == "__main__":
    main()
