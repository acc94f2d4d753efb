"""Single pattern-pruned 3x3 conv + ReLU layers of VGG-16's shapes: fretsaw beside PyTorch eager
(dense), same thread count, one run. Prints a markdown table, fretsaw's useful GFLOP/s also as a
percentage of the machine's FMA peak and of a large matmul's, both measured on the same threads
before and after the layers, the higher reading of each (record runs in bench/RESULTS.md).

    .venv/bin/python bench/conv_layers.py [--connectivity 0.55] [--repeats 20] [--threads N]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

import fretsaw
from fretsaw.benchmark import PEAK_NAMES, describe_peaks, higher_peaks, measured_peaks, median_ms
from fretsaw.prune.patterns import random_pattern_prune

SHAPES = ((64, 64, 224), (128, 128, 112), (256, 256, 56), (512, 512, 28), (512, 512, 14))


def measure(cin: int, cout: int, size: int, args) -> dict:
    model = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()).eval()
    random_pattern_prune(model, num_patterns=8, connectivity=args.connectivity, skip_first=False)
    x = torch.randn(1, cin, size, size)
    cm = fretsaw.compile(model, (x,), threads=args.threads)
    with torch.no_grad():
        np.testing.assert_allclose(cm(x), model(x).numpy(), rtol=1e-4, atol=1e-4)
        torch_ms = median_ms(lambda: model(x), args.repeats)
    x_np = x.numpy()
    fretsaw_ms = median_ms(lambda: cm(x_np), args.repeats)
    stats = cm.stats()
    return {"layer": f"{cin}->{cout}, {size}x{size}", "fretsaw_ms": fretsaw_ms, "torch_ms": torch_ms,
            "flops_reduction": stats["flops_reduction"],
            "useful_gflops": stats["sparse_flops"] / fretsaw_ms / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connectivity", type=float, default=0.55, help="fraction of kernels kept")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="default: every core")
    args = parser.parse_args()
    cpu = fretsaw.HostOptions(threads=args.threads).cpu_target()
    args.threads = cpu.threads
    peaks = measured_peaks(cpu.threads)
    torch.set_num_threads(cpu.threads)
    rows = [measure(*shape, args) for shape in SHAPES]
    peaks = higher_peaks(peaks, cpu.threads)  # a reading the VM starved only lowers the peak
    print(f"{cpu.threads} thread(s) each; {cpu.name}; measured peaks (the higher of before and after the "
          f"layers): {describe_peaks(peaks, cpu.name)}\n")
    print("| layer | fretsaw | PyTorch eager (dense) | FLOPs cut | fretsaw useful GFLOP/s | "
          + " | ".join(f"% of {PEAK_NAMES[name]} peak" for name in peaks) + " |")
    print("|---|---|---|---|---|" + "---|" * len(peaks))
    for row in rows:
        print(f"| {row['layer']} | {row['fretsaw_ms']:.1f} ms | {row['torch_ms']:.1f} ms | "
              f"{row['flops_reduction']:.2f}x | {row['useful_gflops']:.1f} | "
              + " | ".join(f"{100 * row['useful_gflops'] / gflops:.0f}%" for gflops in peaks.values()) + " |")


if __name__ == "__main__":
    main()
