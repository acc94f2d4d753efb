"""The SPIR-V backend on this machine's Vulkan device: whole networks at 1x3x224x224 (random weights,
bench/networks.py's definitions), pruned PatDNN-style to --flops fewer conv FLOPs, run by fretsaw's
kernels (pruned), by fretsaw on the dense model, and by IREE's vulkan-spirv on the dense model
when fretsaw/iree_vulkan.py can run it, side by side on the same device. On lavapipe (a CPU driver)
absolute times say nothing about a phone; the ratios on one device do. Prints a markdown table
once every network ran (IREE last: its threads waiting on the device spin on after its runs);
--layers adds each network's slowest dispatches (device time, timestamp queries) dense and pruned.

    .venv/bin/python bench/spirv.py [--networks resnet18,mobilenet_v2] [--repeats 3] [--layers]
                                    [--iree-networks resnet18] [--iree-repeats 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import fretsaw
from fretsaw import prune
from fretsaw.backends import vulkan
from fretsaw.benchmark import median_ms
from fretsaw.errors import FretsawError
from networks import NETWORKS, network


def iree_ms(model, x: np.ndarray, repeats: int) -> tuple[float | None, str]:
    """IREE vulkan-spirv's median ms on the dense model, or None and why not."""
    try:
        from fretsaw.iree_vulkan import iree_vulkan
        run = iree_vulkan(model, (x,))
        return median_ms(lambda: run(x), repeats), ""
    except Exception as error:  # a peer that cannot run is reported, not fatal
        return None, f"{type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"


def measure(name: str, args) -> dict:
    model = network(name)
    x = torch.randn(1, 3, 224, 224)
    row = {"network": name}
    try:
        dense = fretsaw.compile(model, (x,), target="spirv")
    except FretsawError as error:
        return {**row, "error": str(error).splitlines()[0]}
    row["dense_ms"] = median_ms(lambda: dense(x.numpy()), args.repeats)
    if args.layers:
        row["dense_layers"] = dense.profile(x.numpy())
    prune.project(model, "pattern", args.flops, num_patterns=8, inputs=x, inplace=True)
    start = time.perf_counter()
    pruned = fretsaw.compile(model, (x,), target="spirv")
    row["compile_s"] = time.perf_counter() - start
    with torch.no_grad():
        error = float(np.abs(pruned(x.numpy()) - model(x).numpy()).max())
    row["max_abs_error"] = error
    row["pruned_ms"] = median_ms(lambda: pruned(x.numpy()), args.repeats)
    stats = pruned.stats()
    row["conv_flops_reduction"] = stats["dense_flops"] / stats["sparse_flops"]
    row["speedup_over_dense"] = row["dense_ms"] / row["pruned_ms"]
    row["of_the_cut"] = row["speedup_over_dense"] / row["conv_flops_reduction"]
    if args.layers:
        row["pruned_layers"] = pruned.profile(x.numpy())
    return row


def slowest(layers: list[tuple[str, float]], count: int = 8) -> str:
    total = sum(ms for _, ms in layers)
    top = sorted(layers, key=lambda item: -item[1])[:count]
    return f"{total:.0f} ms on device; slowest: " + ", ".join(f"{layer} {ms:.0f}" for layer, ms in top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="resnet18,mobilenet_v2,resnet50,vgg16",
                        help=f"comma-separated: {', '.join(NETWORKS)}")
    parser.add_argument("--flops", type=float, default=3.6, help="conv-FLOPs reduction of the pruning (default 3.6)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", action="store_true", help="per-dispatch device times (slowest first)")
    parser.add_argument("--iree-networks", default="resnet18,mobilenet_v2",
                        help="the networks IREE vulkan-spirv runs too (minutes a run on lavapipe; '' for none)")
    parser.add_argument("--iree-repeats", type=int, default=1, help="IREE's timed runs after its warm-up (default 1)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    names = args.networks.split(",")
    unknown = [n for n in names if n not in NETWORKS]
    if unknown:
        parser.error(f"unknown network(s) {', '.join(unknown)}; choose from {', '.join(NETWORKS)}")
    print(f"Vulkan device: {vulkan.device().name}\n")
    print("| network | fretsaw pruned | fretsaw dense | IREE vulkan-spirv (dense) | pruned over dense | conv FLOPs cut "
          "| of the cut | compile |")
    print("|---|---|---|---|---|---|---|---|")
    rows = [measure(name, args) for name in names]
    # IREE after every fretsaw measurement: its threads waiting on the device spin on after its runs
    for row in rows:
        if row["network"] in args.iree_networks.split(",") and "error" not in row:
            torch.manual_seed(1)
            row["iree_ms"], row["iree_error"] = iree_ms(network(row["network"]), torch.randn(1, 3, 224, 224).numpy(),
                                                        args.iree_repeats)
        else:
            row["iree_ms"], row["iree_error"] = None, "not run"
    for row in rows:
        name = row["network"]
        if "error" in row:
            print(f"| {name} | fails: {row['error']} | | | | | | |", flush=True)
            continue
        iree = f"{row['iree_ms']:.0f} ms" if row["iree_ms"] is not None else \
            ("not run" if row["iree_error"] == "not run" else f"fails ({row['iree_error']})")
        print(f"| {name} | {row['pruned_ms']:.0f} ms | {row['dense_ms']:.0f} ms | {iree} | "
              f"{row['speedup_over_dense']:.2f}x | {row['conv_flops_reduction']:.2f}x | {row['of_the_cut']:.2f} | "
              f"{row['compile_s']:.0f} s |", flush=True)
    if args.layers:
        for row in rows:
            if "dense_layers" in row:
                print(f"\n{row['network']} dense: {slowest(row['dense_layers'])}")
                print(f"{row['network']} pruned: {slowest(row['pruned_layers'])}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)


if __name__ == "__main__":
    main()
