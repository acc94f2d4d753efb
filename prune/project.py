"""Projection onto a pruning structure: which weights a scheme keeps at a requested FLOPs cut.

A `Plan` is made once from a model: the layers it prunes, the pattern library and how many units
(kernels, filters, KGS columns or Vanilla groups) each layer keeps so that the conv FLOPs of the
whole model drop by the requested factor. It then projects any weights onto that structure: the
one-shot projection, ADMM's Z-updates and the hard projection after training all use it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fretsaw.prune.errors import PruneError
from fretsaw.prune.layers import Layer, conv_layers, unit_mask, unit_sums
from fretsaw.prune.patterns import best_patterns, check_library, extract_library

# scheme -> (the convs it prunes, what it removes)
SCHEMES = {
    "pattern": ((nn.Conv2d,), "a library pattern per 3x3 kernel, then whole kernels (connectivity)"),
    "filter": ((nn.Conv2d, nn.Conv3d), "whole filters by L1 norm"),
    "kgs": ((nn.Conv2d, nn.Conv3d), "kernel positions shared by each group of kernels (RT3D KGS)"),
    "vanilla": ((nn.Conv2d, nn.Conv3d), "whole groups of kernels (RT3D Vanilla)"),
}
CONNECTIVITY = ("layer", "global")


@dataclass
class Plan:
    scheme: str
    layers: list[Layer]           # every conv; `pruned` marks the ones the scheme prunes
    library: np.ndarray | None    # K x 3 x 3 (pattern scheme with 3x3 convs), else None
    keep: dict[str, int]          # units kept per pruned layer
    group_shape: tuple[int, int]
    requested: float              # the conv-FLOPs reduction asked for

    @property
    def pruned(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.pruned]

    def units(self, layer: Layer) -> tuple[int, int, bool]:
        """(go, gi, columns) of this scheme's unit in `layer` (see layers.py)."""
        if self.scheme == "filter":
            return 1, layer.weight.shape[1], False
        if self.scheme in ("kgs", "vanilla"):
            return *self.group_shape, self.scheme == "kgs"
        return 1, 1, False

    def scores(self, layer: Layer, w: torch.Tensor) -> torch.Tensor:
        """Each unit's norm, flattened: L1 for filters (Li et al.), L2 otherwise."""
        go, gi, columns = self.units(layer)
        if self.scheme == "filter":
            return unit_sums(w.detach().abs(), go, gi, columns).flatten()
        return unit_sums(w.detach().square(), go, gi, columns).flatten().sqrt()

    def costs(self, layer: Layer, allowed: torch.Tensor) -> torch.Tensor:
        """FLOPs of each unit (flattened) when only the `allowed` weights are computed."""
        go, gi, columns = self.units(layer)
        return 2 * layer.outputs * unit_sums(allowed.double(), go, gi, columns).flatten()

    def pattern_mask(self, layer: Layer, w: torch.Tensor) -> torch.Tensor:
        """Every 3x3 kernel on the library pattern keeping most of its energy; all-true for
        other layers and schemes."""
        if self.library is None or not layer.is_3x3:
            return torch.ones_like(w, dtype=torch.bool)
        return torch.from_numpy(self.library)[best_patterns(w, self.library)]

    def connectivity_mask(self, layer: Layer, w: torch.Tensor) -> torch.Tensor:
        """The layer's `keep` units of largest norm."""
        go, gi, columns = self.units(layer)
        scores = self.scores(layer, w)
        keep = torch.zeros_like(scores, dtype=torch.bool)
        keep[scores.argsort(descending=True, stable=True)[:self.keep[layer.name]]] = True
        shape = unit_sums(w.detach(), go, gi, columns).shape
        return unit_mask(keep.reshape(shape), w.shape, go, gi, columns)

    def mask(self, layer: Layer, w: torch.Tensor) -> torch.Tensor:
        """The full projection: patterns first, then units ranked on the patterned weights."""
        allowed = self.pattern_mask(layer, w)
        return allowed & self.connectivity_mask(layer, w * allowed)

    def constraint_sets(self) -> list:
        """The sets extended ADMM keeps separate auxiliary variables for (PatDNN): the pattern set
        and the connectivity set for the pattern scheme, the unit set alone otherwise."""
        if self.library is not None:
            return [self.pattern_mask, self.connectivity_mask]
        return [self.connectivity_mask]

    @torch.no_grad()
    def residual(self) -> float:
        """Relative distance of the pruned layers' weights to the structure: ||W - proj(W)|| / ||W||."""
        off = sum(float((layer.weight * ~self.mask(layer, layer.weight)).square().sum()) for layer in self.pruned)
        total = sum(float(layer.weight.square().sum()) for layer in self.pruned)
        return (off / total) ** 0.5 if total else 0.0

    def masks(self) -> dict[str, torch.Tensor]:
        return {layer.name: self.mask(layer, layer.weight) for layer in self.pruned}


def make_plan(model: nn.Module, scheme: str = "pattern", flops: float = 3.6, num_patterns: int = 8, *,
              library=None, connectivity: str = "layer", group_shape=(4, 4), skip_first: bool = True,
              depthwise: bool = False, inputs=None) -> Plan:
    """Check the request against `model` and decide what each layer keeps (see `project`)."""
    if scheme not in SCHEMES:
        choices = "; ".join(f"'{name}' ({what})" for name, (_, what) in SCHEMES.items())
        raise PruneError(f"scheme: unknown '{scheme}'; choose one of {choices}")
    if connectivity not in CONNECTIVITY:
        raise PruneError(f"connectivity: unknown '{connectivity}'; choose 'layer' (the same cut in every "
                         f"layer) or 'global' (smallest kernels of the whole model first)")
    if not (isinstance(flops, (int, float)) and flops >= 1):
        raise PruneError(f"flops: the conv-FLOPs reduction must be a number >= 1 (e.g. 3.6), got {flops!r}")
    if len(group_shape) != 2 or min(group_shape) < 1:
        raise PruneError(f"group_shape: expected (filters, input channels) >= 1, got {group_shape!r}")
    layers = conv_layers(model, inputs)
    kinds, _ = SCHEMES[scheme]
    matching = [layer for layer in layers if isinstance(layer.conv, kinds) and layer.outputs]
    candidates = matching[1:] if skip_first else matching
    if not candidates:
        convs = ", ".join(f"{layer.name} ({type(layer.conv).__name__})" for layer in layers) or "none"
        hint = "; pass skip_first=False to prune the first conv too" if matching else ""
        raise PruneError(f"no conv for scheme '{scheme}' to prune: it works on "
                         f"{' and '.join(k.__name__ for k in kinds)} layers; the model's convs: {convs}{hint}")
    for layer in candidates:
        layer.pruned = True
    plan = Plan(scheme, layers, _library(scheme, candidates, num_patterns, library), {}, tuple(group_shape),
                float(flops))
    whole = set() if depthwise else {layer.name for layer in candidates if layer.depthwise}
    _budget(plan, connectivity, skip_first, whole)
    return plan


def _library(scheme, candidates, num_patterns, library):
    if scheme != "pattern":
        if library is not None:
            raise PruneError(f"library: scheme '{scheme}' uses no pattern library; drop the argument")
        return None
    if library is not None:
        return check_library(library)
    kernels = [layer.weight.detach() for layer in candidates if layer.is_3x3]
    return extract_library(kernels, num_patterns) if kernels else None


def _budget(plan: Plan, connectivity: str, skip_first: bool, whole: set[str]) -> None:
    """Fill plan.keep: the most units per layer such that the model's conv FLOPs fall to
    dense / requested, each layer keeping at least its best unit; the layers named in `whole`
    (depthwise convs) keep every unit (their patterns still apply)."""
    dense = sum(layer.flops() for layer in plan.layers)
    fixed = sum(layer.flops() for layer in plan.layers if not layer.pruned)
    ranked: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # (scores, costs), best unit first
    for layer in plan.pruned:
        allowed = plan.pattern_mask(layer, layer.weight)
        scores = plan.scores(layer, layer.weight.detach() * allowed)
        if layer.name in whole:
            plan.keep[layer.name] = len(scores)
            fixed += float(plan.costs(layer, allowed).sum())
            continue
        order = scores.argsort(descending=True, stable=True)
        # Layers differ in scale (a layer's weights shrink with its fan-in), so global ranking
        # compares norms relative to the RMS unit norm of their own layer.
        relative = scores / scores.square().mean().sqrt().clamp_min(1e-30)
        ranked[layer.name] = (relative[order], plan.costs(layer, allowed)[order])
    budget = (dense / plan.requested - fixed) * (1 + 1e-9)
    floor = sum(float(costs[0]) for _, costs in ranked.values())
    if budget < floor:
        dense_names = [layer.name for layer in plan.layers if not layer.pruned]
        reachable = dense / (fixed + floor)
        hints = [" (or pass skip_first=False)" if skip_first else "",
                 f"; the depthwise convs ({', '.join(sorted(whole))}) keep every kernel: depthwise=True lets "
                 f"connectivity remove their kernels (whole channels)" if whole else ""]
        raise PruneError(f"flops={plan.requested:g}: at most {reachable:.2f}x is reachable with scheme "
                         f"'{plan.scheme}' on this model: the convs it leaves dense "
                         f"({', '.join(dense_names) or 'none'}) and one unit per pruned layer already take "
                         f"{(fixed + floor) / dense:.1%} of the conv FLOPs; ask for at most "
                         f"{reachable:.2f}{hints[0]}{hints[1]}")
    if not ranked:  # every pruned layer keeps its units (depthwise convs): their patterns reach the cut
        return
    if connectivity == "layer":
        total = sum(float(costs.sum()) for _, costs in ranked.values())
        share = min(1.0, budget / total)
        for name, (_, costs) in ranked.items():
            plan.keep[name] = int((costs.cumsum(0) <= share * float(costs.sum()) * (1 + 1e-9)).sum())
    else:
        names = list(ranked)
        owner = torch.cat([torch.full((len(ranked[n][0]),), i) for i, n in enumerate(names)])
        scores = torch.cat([r[0] for r in ranked.values()])
        costs = torch.cat([r[1] for r in ranked.values()])
        order = scores.argsort(descending=True, stable=True)
        kept = order[costs[order].cumsum(0) <= budget]
        plan.keep.update(zip(names, torch.bincount(owner[kept], minlength=len(names)).tolist()))
    _settle(plan, ranked, budget, connectivity)


def _settle(plan: Plan, ranked: dict, budget: float, connectivity: str) -> None:
    """Give every layer its best unit, take units back while over budget, then spend what is left
    on one more unit per layer while it fits (large units such as filters round coarsely). Layer
    mode trims the layers keeping the most and tops up those keeping the least; global mode
    trims the weakest kept unit and adds the strongest removed one."""
    for name in ranked:
        plan.keep[name] = max(1, plan.keep[name])
    prefix = {name: costs.cumsum(0).tolist() for name, (_, costs) in ranked.items()}

    def spent():
        return sum(prefix[name][plan.keep[name] - 1] for name in ranked)

    def fraction(name):
        return plan.keep[name] / len(ranked[name][0])

    def last_kept(name):
        return float(ranked[name][0][plan.keep[name] - 1])

    while spent() > budget:
        trimmable = [name for name in ranked if plan.keep[name] > 1]
        victim = max(trimmable, key=fraction) if connectivity == "layer" else min(trimmable, key=last_kept)
        plan.keep[victim] -= 1
    growable = [name for name in ranked if plan.keep[name] < len(ranked[name][0])]
    if connectivity == "layer":
        growable.sort(key=fraction)
    else:
        growable.sort(key=lambda name: -float(ranked[name][0][plan.keep[name]]))
    for name in growable:
        if spent() + float(ranked[name][1][plan.keep[name]]) <= budget:
            plan.keep[name] += 1


@torch.no_grad()
def apply(plan: Plan) -> dict[str, torch.Tensor]:
    """Zero every weight outside the plan's structure; returns the masks used."""
    masks = plan.masks()
    for layer in plan.pruned:
        layer.weight.mul_(masks[layer.name])
    return masks


def project(model: nn.Module, scheme: str = "pattern", flops: float = 3.6, num_patterns: int = 8, *,
            library=None, connectivity: str = "layer", group_shape=(4, 4), skip_first: bool = True,
            depthwise: bool = False, inputs=None, inplace: bool = False) -> nn.Module:
    """One-shot magnitude projection of `model` (a copy unless `inplace`) onto a pruning scheme,
    cutting its conv FLOPs by at least `flops` (within one unit per layer):

    - "pattern": each 3x3 kernel of the Conv2d layers keeps the library pattern holding most of
      its energy (library: `num_patterns` extracted from the model, or the `library` given as
      3x3 masks or keys like '010/111/010'), then whole kernels go by L2 norm (connectivity);
      other kernel sizes lose whole kernels only.
    - "filter": whole filters by L1 norm (Li et al.), Conv2d and Conv3d.
    - "kgs" / "vanilla" (Conv3d, RT3D): kernels in groups of `group_shape` (filters, input
      channels); KGS drops the same kernel positions in a whole group, Vanilla whole groups.

    `connectivity`: "layer" cuts every pruned layer by the same factor, "global" ranks the units
    of all layers together (each by its norm relative to its layer's RMS unit norm). The first conv
    stays dense when `skip_first`. Depthwise convs (one input channel per group) keep every
    kernel, filter and group unless `depthwise`: removing one of their kernels removes a channel,
    which a dense runtime gets by shrinking the model, so it is no sparsity win (their 3x3 kernels
    still take patterns). FLOPs are counted for
    `inputs` (example inputs); without them every conv counts one output position.
    """
    model = model if inplace else copy.deepcopy(model)
    plan = make_plan(model, scheme, flops, num_patterns, library=library, connectivity=connectivity,
                     group_shape=group_shape, skip_first=skip_first, depthwise=depthwise, inputs=inputs)
    apply(plan)
    return model
