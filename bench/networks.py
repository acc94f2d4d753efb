"""Whole networks at 1x3x224x224 (random weights), pruned PatDNN-style by `fretsaw.prune.project`
(8 patterns of 4 weights per 3x3 kernel, then whole kernels of every conv but the first removed by
L2 norm until the conv FLOPs fall 3.6x; depthwise convs keep every kernel, since removing one
removes a channel, which a dense runtime gets by shrinking the model): fretsaw beside the
dense peers running the same model (PyTorch eager, torch.compile, and ONNX Runtime and IREE
llvm-cpu when installed: `make bench` installs them), same thread count, one run. Prints a markdown
table (with the useful GFLOP/s as a percentage of the machine's FMA peak and of a 2048^3 fp32
matmul's in PyTorch, both measured first on the same threads); with --json writes the figures,
with --chart a PNG. With --tune, fretsaw's row is the tuned build, and the same network untuned is
timed in turn with it after the table (tuning should never make a network slower). --scheme kgs
or vanilla prunes with RT3D's kernel groups instead (group_shape 4x4 on every conv but the first;
depthwise convs keep every kernel), which fretsaw computes in filter blocks (kernel_groups).

    .venv/bin/python bench/networks.py [--networks vgg16,resnet18] [--scheme pattern] [--peers onnxruntime]
                                       [--repeats 10] [--tune] [--json out.json] [--chart out.png]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
from torch import nn

import fretsaw
from fretsaw.benchmark import (PEERS, ROUNDS, check_peer_names, compare, describe_peaks, higher_peaks, interleaved_ms,
                               measured_peaks, networks_chart, parse_run_arguments, pyplot, read_against)
from fretsaw import prune


def vgg16() -> nn.Module:
    layers, cin = [], 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
            cin = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(),
                         nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000))


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act=nn.ReLU) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)] + \
        ([act()] if act else [])


class Residual(nn.Module):
    def __init__(self, body: nn.Module, shortcut: nn.Module, relu: bool = True):
        super().__init__()
        self.body, self.shortcut, self.relu = body, shortcut, relu

    def forward(self, x):
        y = self.body(x) + self.shortcut(x)
        return torch.relu(y) if self.relu else y


def resnet(bottleneck: bool, blocks: tuple[int, ...]) -> nn.Module:
    layers, cin = conv_bn(3, 64, 7, 2) + [nn.MaxPool2d(3, 2, 1)], 64
    for stage, count in enumerate(blocks):
        width = 64 * 2 ** stage
        cout = width * 4 if bottleneck else width
        for i in range(count):
            stride = 2 if stage and not i else 1
            if bottleneck:
                body = conv_bn(cin, width, 1) + conv_bn(width, width, 3, stride) + conv_bn(width, cout, 1, act=None)
            else:
                body = conv_bn(cin, width, 3, stride) + conv_bn(width, width, 3, act=None)
            shortcut = nn.Sequential(*conv_bn(cin, cout, 1, stride, act=None)) if stride != 1 or cin != cout \
                else nn.Identity()
            layers.append(Residual(nn.Sequential(*body), shortcut))
            cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000))


def mobilenet_v2() -> nn.Module:
    layers, cin = conv_bn(3, 32, 3, 2, act=nn.ReLU6), 32
    for expand, cout, count, stride in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(count):
            s, hidden = stride if i == 0 else 1, cin * expand
            body = (conv_bn(cin, hidden, 1, act=nn.ReLU6) if expand != 1 else []) + \
                conv_bn(hidden, hidden, 3, s, groups=hidden, act=nn.ReLU6) + conv_bn(hidden, cout, 1, act=None)
            block = nn.Sequential(*body)
            layers.append(Residual(block, nn.Identity(), relu=False) if s == 1 and cin == cout else block)
            cin = cout
    return nn.Sequential(*layers, *conv_bn(cin, 1280, 1, act=nn.ReLU6), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(1280, 1000))


NETWORKS = {"vgg16": vgg16, "resnet18": lambda: resnet(False, (2, 2, 2, 2)),
            "resnet50": lambda: resnet(True, (3, 4, 6, 3)), "mobilenet_v2": mobilenet_v2}


def network(name: str) -> nn.Module:
    """NETWORKS[name] in eval mode: random weights (torch seed 0), BatchNorm statistics randomised."""
    torch.manual_seed(0)
    model = NETWORKS[name]().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):  # inference statistics that are not the identity
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


def measure(name: str, args) -> dict:
    model = network(name)
    x = torch.randn(1, 3, 224, 224)
    if args.scheme == "pattern":
        prune.project(model, "pattern", args.flops, num_patterns=8, inputs=x, inplace=True)
    else:
        prune.project(model, args.scheme, args.flops, inputs=x, inplace=True)
    start = time.perf_counter()
    cm = fretsaw.compile(model, (x,), threads=args.threads, tune=args.tune)
    compile_s = time.perf_counter() - start
    row = compare(cm, model, (x.numpy(),), args.repeats, names=args.peers, peaks=args.peaks)
    row.update(network=name, compile_s=compile_s, tuning=cm.tuning)
    if args.tune:  # the same network untuned, timed in turn with the tuned build
        untuned = fretsaw.compile(model, (x,), threads=args.threads)
        x_np = x.numpy()
        row["tuned_ms"], row["untuned_ms"] = interleaved_ms([lambda: cm(x_np), lambda: untuned(x_np)], args.repeats)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default=",".join(NETWORKS), help=f"comma-separated: {', '.join(NETWORKS)}")
    parser.add_argument("--flops", type=float, default=3.6, help="conv-FLOPs reduction of the pruning (default 3.6)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="default: every core")
    parser.add_argument("--scheme", default="pattern", choices=("pattern", "kgs", "vanilla"),
                        help="pruning: PatDNN's patterns and connectivity (default), or RT3D's kernel groups")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated: {', '.join(PEERS)}")
    args, names = parse_run_arguments(parser, NETWORKS, "also write the rows here")
    args.peers = tuple(args.peers.split(","))
    try:
        check_peer_names(args.peers)
    except fretsaw.FretsawError as error:
        parser.error(str(error))
    cpu = fretsaw.HostOptions(threads=args.threads).cpu_target()
    args.threads = cpu.threads
    if args.chart:
        pyplot()  # matplotlib missing: say so now, not after the runs
    args.peaks = measured_peaks(cpu.threads)
    torch.set_num_threads(cpu.threads)
    rows = []
    for name in names:
        rows.append(measure(name, args))
        print(f"{name}: measured", file=sys.stderr, flush=True)
    args.peaks = higher_peaks(args.peaks, cpu.threads)  # measured again after the runs
    for row in rows:
        read_against(row, args.peaks)
    print(f"{cpu.threads} thread(s) each; {cpu.name}; pruning: {args.scheme} at {args.flops:g}x; "
          f"measured peaks (the higher of before and after the runs): {describe_peaks(args.peaks, cpu.name)}; "
          f"median of {args.repeats} calls in {min(ROUNDS, args.repeats)} rounds\n")
    print("| network | fretsaw (pruned) | PyTorch eager (dense) | torch.compile (dense) | ONNX Runtime (dense) "
          "| IREE llvm-cpu (dense) | speedup over best peer | conv FLOPs cut | useful GFLOP/s | % of FMA peak "
          "| % of matmul peak | compile |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        peer = {k: f"{v:.1f} ms" if v is not None else "not installed (make bench)" for k, v in row["peers_ms"].items()}
        peer = {who: peer.get(who, "not run (--peers)") for who in PEERS}
        print(f"| {row['network']} | {row['fretsaw_ms']:.1f} ms | {peer['pytorch_eager']} | {peer['torch_compile']} | "
              f"{peer['onnxruntime']} | {peer['iree']} | "
              f"{row['speedup_over_best_peer']:.2f}x | {row['conv_flops_reduction']:.2f}x | "
              f"{row['useful_gflops']:.1f} | {row['percent_of_fma_peak']:.0f}% | {row['percent_of_matmul_peak']:.0f}% | "
              f"{row['compile_s']:.0f} s |",
              flush=True)
    if args.tune:
        print("\ntuned against untuned, the two builds called in turn (median ms):")
        for row in rows:
            print(f"  {row['network']}: tuned {row['tuned_ms']:.1f}, untuned {row['untuned_ms']:.1f} "
                  f"({row['untuned_ms'] / row['tuned_ms']:.2f}x)")
    if args.json:
        with open(args.json, "w") as out:
            peaks = {f"{name}_peak_gflops": gflops for name, gflops in args.peaks.items()}
            json.dump({"threads": cpu.threads, "cpu": cpu.name, "scheme": args.scheme, **peaks, "rows": rows},
                      out, indent=2)
    if args.chart:
        networks_chart(rows, args.chart)
        print(f"\nchart written to {args.chart}")


if __name__ == "__main__":
    main()
