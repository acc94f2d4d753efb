"""Pruning methods compared on real data available offline: scikit-learn's bundled digits images
(1797 8x8 handwritten digits; nothing is downloaded).

2D: a small VGG-style CNN is trained dense, then pruned to the same conv-FLOPs cut (default 3.6x)
by extended ADMM (pattern + connectivity), reweighted regularisation (pattern + connectivity),
one-shot magnitude projection (pattern + connectivity), L1 filter pruning, and RT3D's kernel
groups on its Conv2d layers (KGS by ADMM and reweighted, Vanilla by ADMM; groups of 4 filters x
4 channels), each given the same number of training epochs after the dense model. The ADMM model is then compiled with fretsaw
and checked against PyTorch.
3D: short clips built from the same images (the digit drifting one pixel per frame) train a
small Conv3d net, pruned by KGS and Vanilla at equal FLOPs (ADMM, reweighted as RT3D, one-shot).

    .venv/bin/python bench/prune_digits.py [--flops 3.6] [--seeds 3] [--json bench/prune_digits.json]
(`make bench-prune` installs scikit-learn first.)
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fretsaw import prune


def digits(seed: int):
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit("bench/prune_digits.py needs scikit-learn: .venv/bin/pip install -r bench/requirements.txt "
                         "(or make bench-prune)") from None
    data = load_digits()
    images = (data.images / 16.0 - 0.5).astype(np.float32) / 0.5
    return train_test_split(images, data.target, test_size=0.2, random_state=seed, stratify=data.target)


def clips(images: np.ndarray, seed: int, frames: int = 4, canvas: int = 12) -> np.ndarray:
    """Each 8x8 image drifting by one pixel per frame in a random direction on a 12x12 canvas."""
    rng = np.random.default_rng(seed)
    out = np.full((len(images), 1, frames, canvas, canvas), images.min(), dtype=np.float32)
    for i, image in enumerate(images):
        dy, dx = rng.integers(-1, 2, size=2)
        for t in range(frames):
            y, x = 2 + dy * (t - frames // 2 + 1), 2 + dx * (t - frames // 2 + 1)
            out[i, 0, t, y:y + 8, x:x + 8] = image
    return out


def block(conv, bn, cin, cout):
    return [conv(cin, cout, 3, padding=1, bias=False), bn(cout), nn.ReLU()]


class DigitsCNN(nn.Sequential):
    def __init__(self, width: int = 32):
        w = width
        super().__init__(*block(nn.Conv2d, nn.BatchNorm2d, 1, w), *block(nn.Conv2d, nn.BatchNorm2d, w, w),
                         nn.MaxPool2d(2), *block(nn.Conv2d, nn.BatchNorm2d, w, 2 * w),
                         *block(nn.Conv2d, nn.BatchNorm2d, 2 * w, 2 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(2 * w, 10))


class DigitsCNN3d(nn.Sequential):
    def __init__(self, width: int = 16):
        w = width
        super().__init__(*block(nn.Conv3d, nn.BatchNorm3d, 1, w), *block(nn.Conv3d, nn.BatchNorm3d, w, 2 * w),
                         nn.MaxPool3d((1, 2, 2)), *block(nn.Conv3d, nn.BatchNorm3d, 2 * w, 2 * w),
                         nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(2 * w, 10))


def loaders(x_train, y_train, x_test, y_test, batch: int):
    train = DataLoader(TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train)), batch_size=batch,
                       shuffle=True, generator=torch.Generator().manual_seed(0))
    test = (torch.from_numpy(x_test), torch.from_numpy(y_test))
    return train, test


def accuracy_of(test):
    @torch.no_grad()
    def evaluate(model):
        return 100.0 * float((model(test[0]).argmax(dim=1) == test[1]).float().mean())
    return evaluate


def train_dense(model, train, evaluate, epochs, lr):
    start = time.perf_counter()
    prune.finetune(model, train, {}, epochs, lr=lr, progress=True)  # no masks: plain training
    return evaluate(model.eval()), time.perf_counter() - start


def row(method, scheme, report, seconds):
    acc = report["accuracy"]
    return {"method": method, "scheme": scheme, "flops_reduction": report["flops_reduction"],
            "accuracy_projected": acc["projected"], "accuracy": acc["finetuned"], "time_s": seconds,
            "report": report}


def run_methods(dense, train, evaluate, methods, flops, epochs, finetune_epochs, lr):
    """Prune `dense` with each (name, scheme, method); returns the table rows and the pruned models."""
    rows, models = [], []
    for name, scheme, method in methods:
        torch.manual_seed(0)
        start = time.perf_counter()
        if method is prune.oneshot:  # the same training epochs as the trained methods, all fine-tuning
            options = {"finetune_epochs": epochs + finetune_epochs}
        else:
            options = {"epochs": epochs, "finetune_epochs": finetune_epochs}
        model, report = method(dense, train, scheme=scheme, flops=flops, lr=lr, evaluate=evaluate, **options)
        rows.append(row(name, scheme, report, time.perf_counter() - start))
        models.append(model)
        print(f"  {name:34} {scheme:8} FLOPs cut {report['flops_reduction']:5.2f}x  accuracy "
              f"{report['accuracy']['projected']:5.1f}% projected -> {report['accuracy']['finetuned']:5.1f}% "
              f"fine-tuned  ({rows[-1]['time_s']:.0f} s)")
    return rows, models


def compile_check(model, x):
    import fretsaw

    cm = fretsaw.compile(model.eval(), (x,), target="host")
    with torch.no_grad():
        want = model(x).numpy()
    got = cm(x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    stats = cm.stats()
    return {"max_abs_difference": float(np.abs(got - want).max()), "flops_reduction": stats["flops_reduction"],
            "pattern_histogram": stats["pattern_histogram"]}


def table(runs: list[dict]) -> str:
    """One row per method: the mean over the runs (seeds), and the range when there are several."""
    def shown(values, suffix="%"):
        mean = f"{np.mean(values):.1f}{suffix}"
        return mean if len(values) == 1 else f"{mean} ({min(values):.1f}-{max(values):.1f})"

    lines = ["| method | structure | conv FLOPs cut | accuracy after projection | accuracy after fine-tuning "
             "| vs dense | time |", "|---|---|---:|---:|---:|---:|---:|"]
    for i, first in enumerate(runs[0]["rows"]):
        rows = [run["rows"][i] for run in runs]
        delta = [r["accuracy"] - run["dense_accuracy"] for r, run in zip(rows, runs)]
        lines.append(f"| {first['method']} | {first['scheme']} | {first['flops_reduction']:.2f}x "
                     f"| {shown([r['accuracy_projected'] for r in rows])} | {shown([r['accuracy'] for r in rows])} "
                     f"| {np.mean(delta):+.1f} | {np.mean([r['time_s'] for r in rows]):.0f} s |")
    return "\n".join(lines)


def experiment(name, model_class, data, methods, args, epochs, finetune_epochs, dense_epochs, seed):
    x_train, x_test, y_train, y_test = data
    torch.manual_seed(seed)
    train, test = loaders(x_train, y_train, x_test, y_test, batch=64)
    evaluate = accuracy_of(test)
    dense = model_class()
    dense_acc, dense_s = train_dense(dense, train, evaluate, dense_epochs, args.lr)
    print(f"{name}, seed {seed}: dense {dense_acc:.1f}% test accuracy ({len(x_test)} samples), trained in "
          f"{dense_s:.0f} s; pruned to {args.flops}x fewer conv FLOPs:")
    rows, models = run_methods(dense, train, evaluate, methods, args.flops, epochs, finetune_epochs, args.lr)
    return {"seed": seed, "dense_accuracy": dense_acc, "dense_time_s": dense_s, "rows": rows,
            "models": models, "test": test}


def two_d_summary(runs: list[dict], args) -> dict:
    """Print the 2D table, compile the last run's ADMM-pruned model with fretsaw and check it."""
    print(f"\n2D, {args.seeds} seed(s), dense accuracy {np.mean([r['dense_accuracy'] for r in runs]):.1f}%:")
    print(table(runs))
    last = runs[-1]
    compiled = compile_check(last["models"][0], last["test"][0][:1])  # methods[0]: ADMM
    print(f"fretsaw.compile of an ADMM-pruned model: output matches PyTorch (max abs diff "
          f"{compiled['max_abs_difference']:.1e}); its stats() count {compiled['flops_reduction']:.2f}x fewer conv FLOPs")
    return {"runs": [_plain(run) for run in runs], "compiled": compiled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flops", type=float, default=3.6, help="conv-FLOPs reduction for every method")
    parser.add_argument("--dense-epochs", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=20, help="ADMM / reweighted epochs (3D: half)")
    parser.add_argument("--finetune-epochs", type=int, default=10, help="masked fine-tuning epochs (3D: half)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seeds", type=int, default=3, help="2D runs, each with its own split and init")
    parser.add_argument("--skip-3d", action="store_true")
    parser.add_argument("--json", help="write every figure and report here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
              "flops": args.flops, "epochs": args.epochs, "finetune_epochs": args.finetune_epochs}

    methods = [("extended ADMM (PatDNN)", "pattern", prune.admm),
               ("reweighted regularisation (RT3D)", "pattern", prune.reweighted),
               ("one-shot magnitude projection", "pattern", prune.oneshot),
               ("L1 filter pruning", "filter", prune.oneshot),
               ("extended ADMM", "kgs", prune.admm),
               ("reweighted regularisation (RT3D)", "kgs", prune.reweighted),
               ("extended ADMM", "vanilla", prune.admm)]
    runs = []
    for seed in range(args.seeds):  # --seeds 0: the 3D part only
        x_train, x_test, y_train, y_test = digits(seed)
        runs.append(experiment("2D digits CNN", DigitsCNN, (x_train[:, None], x_test[:, None], y_train, y_test),
                               methods, args, args.epochs, args.finetune_epochs, args.dense_epochs, seed))
    if runs:
        result["2d"] = two_d_summary(runs, args)

    if not args.skip_3d:
        x_train, x_test, y_train, y_test = digits(0)
        methods3 = [(method, scheme, fn) for method, fn in (("extended ADMM", prune.admm),
                                                                 ("reweighted regularisation (RT3D)", prune.reweighted),
                                                                 ("one-shot magnitude projection", prune.oneshot))
                    for scheme in ("kgs", "vanilla")]
        run3 = experiment("3D clips (4 frames of 12x12) Conv3d net, groups of 4 filters x 4 channels", DigitsCNN3d,
                          (clips(x_train, 1), clips(x_test, 2), y_train, y_test), methods3, args, args.epochs // 2,
                          args.finetune_epochs // 2, args.dense_epochs // 2, 0)
        print(f"\n3D, dense accuracy {run3['dense_accuracy']:.1f}%:")
        print(table([run3]))
        result["3d"] = _plain(run3)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)


def _plain(run: dict) -> dict:
    return {key: value for key, value in run.items() if key not in ("models", "test")}


if __name__ == "__main__":
    main()
