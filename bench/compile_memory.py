"""Peak memory and wall time of compiling one network (default the pruned VGG-16 of networks.py, whose
weights are about 530 MB of fp32) for one target. Run it once per target, each in a fresh process:
the peak resident set size is a high-water mark of the whole process.

    .venv/bin/python bench/compile_memory.py [--target host|aarch64] [--network vgg16] [--dense]

Prints the compile's wall time, the RSS once the model is built and pruned (what compiling starts
from: Python, torch and the model), the process's peak RSS and its RSS after compiling, and the peak
of the child processes apart (opt-22 and llc-22 for aarch64; a child also counts the pages it
shares with this process when it starts, so this is never far below the process's RSS then).
`/usr/bin/time -v` on this script reports the larger peak as "Maximum resident set size".
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

import fretsaw
from fretsaw import prune
from networks import NETWORKS


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="host", choices=("host", "aarch64"))
    parser.add_argument("--network", default="vgg16", choices=sorted(NETWORKS))
    parser.add_argument("--dense", action="store_true", help="compile the network unpruned")
    parser.add_argument("--flops", type=float, default=3.6, help="conv-FLOPs reduction of the pruning (default 3.6)")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = NETWORKS[args.network]().eval()
    x = torch.randn(1, 3, 224, 224)
    if not args.dense:
        prune.project(model, "pattern", args.flops, num_patterns=8, inputs=x, inplace=True)
    before = rss_mb()
    start = time.perf_counter()
    cm = fretsaw.compile(model, (x,), target=args.target)
    seconds = time.perf_counter() - start
    print(f"{args.network} ({'dense' if args.dense else 'pruned'}) target={args.target}: compile {seconds:.1f} s; "
          f"RSS before compile {before:.0f} MB, peak {peak_mb():.0f} MB, after {rss_mb():.0f} MB; "
          f"children's peak {peak_mb(resource.RUSAGE_CHILDREN):.0f} MB")
    del cm


if __name__ == "__main__":
    main()
