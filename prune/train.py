"""Pruning with training: extended ADMM (PatDNN), reweighted regularisation (RT3D) and the
one-shot baseline, each followed by hard projection and masked fine-tuning.

All three take the same arguments and return `(pruned_model, report)`: a copy of the model with
exact zeros outside the structure (see `project`), and the report of `prune.report` plus what
the training did (losses, the ADMM residual, time, accuracy when an `evaluate` callable is given).
"""

from __future__ import annotations

import copy
import time
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from fretsaw.prune.errors import PruneError
from fretsaw.prune.layers import unit_mask, unit_sums
from fretsaw.prune.project import Plan, apply, make_plan
from fretsaw.prune.report import report as make_report


def finetune(model: nn.Module, loader: Iterable, masks: dict[str, torch.Tensor], epochs: int, *,
             lr: float = 1e-3, loss_fn: Callable | None = None, progress: bool = True,
             optimizer: torch.optim.Optimizer | None = None) -> list[float]:
    """Masked fine-tuning: train `model` with the gradients of the masked weights zeroed and the
    masks re-applied after every step (so momentum and weight decay cannot revive a zero).
    `masks` maps conv module names to bool masks of their weights. Returns the epoch losses."""
    weights = dict(model.named_modules())
    missing = sorted(set(masks) - set(weights))
    if missing:
        raise PruneError(f"masks: no module named {missing[0]} in the model")
    masked = [(weights[name].weight, mask) for name, mask in masks.items()]

    def after_step():
        with torch.no_grad():
            for weight, mask in masked:
                weight.mul_(mask)

    def mask_gradients():
        for weight, mask in masked:
            if weight.grad is not None:
                weight.grad.mul_(mask)

    after_step()
    return _train(model, loader, epochs, lr=lr, loss_fn=loss_fn, progress=progress, desc="masked fine-tune",
                  optimizer=optimizer, before_step=mask_gradients, after_step=after_step)


def admm(model: nn.Module, train_loader: Iterable, scheme: str = "pattern", flops: float = 3.6,
         num_patterns: int = 8, *, epochs: int = 10, finetune_epochs: int = 5, lr: float = 1e-3,
         rho: float = 1e-3, rho_growth: float | None = None, rho_max: float = 1.0, loss_fn: Callable | None = None,
         evaluate: Callable | None = None, progress: bool = True, **structure) -> tuple[nn.Module, dict]:
    """Extended ADMM (PatDNN): minimise loss + sum_s rho/2 ||W - Z_s + U_s||^2 where each
    constraint set s (the pattern set and the connectivity set for scheme "pattern", the unit set
    otherwise) has its own auxiliary Z_s (the projection of W + U_s) and dual U_s, updated after
    every epoch; rho grows by `rho_growth` per epoch up to `rho_max` (default: geometrically from
    `rho` to `rho_max` over the epochs). Then hard projection and `finetune_epochs` of masked
    fine-tuning. `structure`: library, connectivity, group_shape, skip_first, depthwise (as in `project`)."""
    model, plan, info = _start(model, train_loader, scheme, flops, num_patterns, structure)
    sets = plan.constraint_sets()
    aux = [{layer.name: _projected(project_set, layer, layer.weight) for layer in plan.pruned}
           for project_set in sets]
    dual = [{name: torch.zeros_like(z) for name, z in zs.items()} for zs in aux]
    state = {"rho": rho}
    if rho_growth is None:
        rho_growth = (rho_max / rho) ** (1 / max(epochs - 1, 1))

    def penalty():
        total = 0.0
        for layer in plan.pruned:
            for zs, us in zip(aux, dual):
                total = total + (layer.weight - zs[layer.name] + us[layer.name]).square().sum()
        return state["rho"] / 2 * total

    residuals = [plan.residual()]

    def epoch_end():
        with torch.no_grad():
            for project_set, zs, us in zip(sets, aux, dual):
                for layer in plan.pruned:
                    shifted = layer.weight + us[layer.name]
                    zs[layer.name] = _projected(project_set, layer, shifted)
                    us[layer.name] = shifted - zs[layer.name]
        state["rho"] = min(state["rho"] * rho_growth, rho_max)
        residuals.append(plan.residual())
        return {"residual": f"{residuals[-1]:.3f}"}

    start = time.perf_counter()
    info["losses"] = _train(model, train_loader, epochs, lr=lr, loss_fn=loss_fn, progress=progress, desc="ADMM",
                            penalty=penalty, epoch_end=epoch_end)
    info["admm"] = {"residual": residuals, "rho_final": state["rho"], "time_s": time.perf_counter() - start}
    return _finish(model, plan, train_loader, info, finetune_epochs, lr, loss_fn, evaluate, progress)


def reweighted(model: nn.Module, train_loader: Iterable, scheme: str = "pattern", flops: float = 3.6,
               num_patterns: int = 8, *, epochs: int = 10, finetune_epochs: int = 5, lr: float = 1e-3,
               strength: float = 2.0, eps: float = 0.1, loss_fn: Callable | None = None,
               evaluate: Callable | None = None, progress: bool = True, **structure) -> tuple[nn.Module, dict]:
    """Reweighted group regularisation (RT3D): the penalty strength x sum_g a_g ||W_g||^2 over the
    scheme's units g (kernels, filters, KGS columns, Vanilla groups; for "pattern" also every
    single weight of a 3x3 kernel) with a_g = m / (||W_g||^2 + eps x m), m the layer's mean
    ||W_g||^2, recomputed after every epoch, so small groups are driven to zero far faster than
    large ones. Two choices of ours, both measured on bench/prune_digits.py's 2D model (figures in
    bench/RESULTS.md, 2026-11-23): the penalty acts only on the weights that the projection of the
    current weights would remove (penalising every group leaves much more of the weight norm
    outside the structure), and its gradient step is taken apart from the optimiser's after each
    step (W_g *= 1 - 2 lr strength a_g), as decoupled weight decay is, so Adam's per-weight scaling
    cannot flatten the reweighting. Then hard projection and masked fine-tuning, as `admm`."""
    model, plan, info = _start(model, train_loader, scheme, flops, num_patterns, structure)
    terms = _groupings(plan)
    shrink = {}

    def reweight():
        with torch.no_grad():
            outside = {layer.name: ~plan.mask(layer, layer.weight) for layer in plan.pruned}
            for key, (layer, grouping, spread) in terms.items():
                norms = grouping(layer.weight)
                mean = norms.mean().clamp_min(1e-30)
                alpha = mean / (norms + eps * mean)
                factor = spread((1 - 2 * lr * strength * alpha).clamp_min(0.0), layer.weight.shape)
                shrink[key] = torch.where(outside[layer.name], factor, 1.0)

    def decay():
        with torch.no_grad():
            for key, (layer, _, _) in terms.items():
                layer.weight.mul_(shrink[key])

    residuals = [plan.residual()]

    def epoch_end():
        reweight()
        residuals.append(plan.residual())
        return {"residual": f"{residuals[-1]:.3f}"}

    reweight()
    start = time.perf_counter()
    info["losses"] = _train(model, train_loader, epochs, lr=lr, loss_fn=loss_fn, progress=progress,
                            desc="reweighted", after_step=decay, epoch_end=epoch_end)
    info["reweighted"] = {"residual": residuals, "time_s": time.perf_counter() - start}
    return _finish(model, plan, train_loader, info, finetune_epochs, lr, loss_fn, evaluate, progress)


def oneshot(model: nn.Module, train_loader: Iterable, scheme: str = "pattern", flops: float = 3.6,
            num_patterns: int = 8, *, finetune_epochs: int = 5, lr: float = 1e-3, loss_fn: Callable | None = None,
            evaluate: Callable | None = None, progress: bool = True, **structure) -> tuple[nn.Module, dict]:
    """The baseline: one-shot magnitude projection (`project`) of the model as it is, then masked
    fine-tuning. With scheme="filter" this is L1 filter pruning (Li et al.)."""
    model, plan, info = _start(model, train_loader, scheme, flops, num_patterns, structure)
    return _finish(model, plan, train_loader, info, finetune_epochs, lr, loss_fn, evaluate, progress)


def _start(model, loader, scheme, flops, num_patterns, structure) -> tuple[nn.Module, Plan, dict]:
    unknown = set(structure) - {"library", "connectivity", "group_shape", "skip_first", "depthwise"}
    if unknown:
        raise PruneError(f"unexpected argument {sorted(unknown)[0]!r}; the structure arguments are library, "
                         f"connectivity, group_shape, skip_first and depthwise")
    model = copy.deepcopy(model)
    inputs = _example(loader)
    plan = make_plan(model, scheme, flops, num_patterns, inputs=inputs, **structure)
    return model, plan, {"scheme": scheme, "requested_flops_reduction": flops, "inputs": inputs}


def _example(loader):
    """One example input from the first batch of `loader` (batches are (inputs, targets))."""
    try:
        batch = next(iter(loader))
    except StopIteration:
        raise PruneError("train_loader: it yields no batches") from None
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise PruneError("train_loader: expected batches of (inputs, targets), e.g. a torch DataLoader "
                         "over a TensorDataset")
    return batch[0][:1]


def _finish(model, plan, loader, info, finetune_epochs, lr, loss_fn, evaluate, progress):
    masks = apply(plan)
    inputs = info.pop("inputs")
    accuracy = {}
    if evaluate is not None:
        accuracy["projected"] = _evaluate(model, evaluate)
    start = time.perf_counter()
    info["finetune_losses"] = finetune(model, loader, masks, finetune_epochs, lr=lr, loss_fn=loss_fn,
                                       progress=progress)
    info["finetune_time_s"] = time.perf_counter() - start
    if evaluate is not None:
        accuracy["finetuned"] = _evaluate(model, evaluate)
        info["accuracy"] = accuracy
    model.eval()
    return model, {**make_report(model, inputs, plan.library), **info}


def _evaluate(model, evaluate):
    model.eval()
    with torch.no_grad():
        return float(evaluate(model))


def _projected(project_set, layer, w):
    w = w.detach()
    return w * project_set(layer, w)


def _groupings(plan: Plan) -> dict:
    """The reweighted penalty's terms: (layer, squared norms of its groups as a function of W,
    a function spreading per-group values back to the weight's shape)."""
    terms = {}
    for layer in plan.pruned:
        go, gi, columns = plan.units(layer)
        terms[(layer.name, "units")] = (
            layer, lambda w, go=go, gi=gi, c=columns: unit_sums(w.square(), go, gi, c),
            lambda v, shape, go=go, gi=gi, c=columns: unit_mask(v, shape, go, gi, c))
        if plan.library is not None and layer.is_3x3:
            terms[(layer.name, "weights")] = (layer, torch.square, lambda v, shape: v)
    return terms


def _train(model, loader, epochs, *, lr, loss_fn, progress, desc, penalty=None, epoch_end=None,
           before_step=None, after_step=None, optimizer=None) -> list[float]:
    """A plain training loop (Adam unless `optimizer`) with a progress bar over the epochs;
    `penalty()` is added to the loss; returns the mean loss of every epoch."""
    loss_fn = loss_fn or nn.functional.cross_entropy
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress, leave=False)
    for _ in bar:
        model.train()
        total, batches = 0.0, 0
        for inputs, targets in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            if penalty is not None:
                loss = loss + penalty()
            loss.backward()
            if before_step is not None:
                before_step()
            optimizer.step()
            if after_step is not None:
                after_step()
            total, batches = total + loss.item(), batches + 1
        losses.append(total / max(batches, 1))
        shown = {"loss": f"{losses[-1]:.4f}"}
        if epoch_end is not None:
            shown.update(epoch_end())
        bar.set_postfix(shown)
    bar.close()
    model.eval()
    return losses
