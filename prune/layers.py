"""The convolutions a pruning scheme works on, their FLOPs, and the removable units of a weight.

A unit is what connectivity-style pruning removes at once. Every scheme's unit is a block of a
conv weight viewed as Cout x Cin/groups x positions, cut into groups of `go` filters x `gi` input
channels (zero-padded at ragged edges):
- whole groups (`columns=False`): a kernel is a 1 x 1 group, a filter a 1 x Cin/groups group,
  RT3D's Vanilla a go x gi group;
- one kernel position across a group (`columns=True`): RT3D's KGS, where the kernels of a group
  share the positions they drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import torch
from torch import nn


@dataclass
class Layer:
    """A conv of the model. `outputs` is the number of output positions it computes for the
    example inputs (batch x spatial), 1 when FLOPs are counted per output position."""
    name: str
    conv: nn.Conv2d | nn.Conv3d
    outputs: int
    pruned: bool

    @property
    def weight(self) -> nn.Parameter:
        return self.conv.weight

    @property
    def depthwise(self) -> bool:
        """One input channel per group (and more than one group): each kernel is a channel's."""
        return self.conv.groups > 1 and self.conv.in_channels == self.conv.groups

    @property
    def is_3x3(self) -> bool:
        return tuple(self.conv.kernel_size) == (3, 3)

    def flops(self, weights: int | None = None) -> int:
        """2 x multiply-adds for `weights` nonzero weights (default: all, the dense FLOPs)."""
        return 2 * self.outputs * (self.weight.numel() if weights is None else weights)


def conv_layers(model: nn.Module, inputs=None) -> list[Layer]:
    """Every Conv2d and Conv3d of `model` in module order, with output positions measured by one
    forward pass on `inputs` (a tensor or tuple; eval mode, no gradients) when given."""
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))]
    outputs = {name: 1 for name, _ in convs}
    if inputs is not None:
        ran = trace(model, inputs, (nn.Conv2d, nn.Conv3d))
        out_shapes = {name: out for name, (_, _, out) in ran.items()}
        # batch x spatial positions; 0 for a conv the forward never ran
        outputs = {name: out_shapes[name][0] * prod(out_shapes[name][2:]) if name in ran else 0
                   for name, _ in convs}
    return [Layer(name, conv, outputs[name], pruned=False) for name, conv in convs]


def trace(model: nn.Module, inputs, kinds: tuple[type, ...]) -> dict[str, tuple[nn.Module, tuple, tuple]]:
    """One forward pass of `model` on `inputs` (a tensor or tuple; eval mode, no gradients, the
    mode restored after) recording each module of `kinds` it runs, in the order they first run:
    name -> (module, input shape, output shape)."""
    seen: dict[str, tuple[nn.Module, tuple, tuple]] = {}

    def hook(name):
        def record(module, args, out):  # returns None: the output is left alone
            seen.setdefault(name, (module, tuple(args[0].shape), tuple(out.shape)))
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules() if isinstance(m, kinds)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(*(inputs if isinstance(inputs, (tuple, list)) else (inputs,)))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return seen


def group_view(t: torch.Tensor, go: int, gi: int) -> torch.Tensor:
    """A Cout x Cin_g x ... tensor as GO x go x GI x gi x P, zero-padded to whole groups."""
    cout, cin = t.shape[:2]
    flat = t.reshape(cout, cin, -1)
    pad_o, pad_i = -cout % go, -cin % gi
    if pad_o or pad_i:
        flat = nn.functional.pad(flat, (0, 0, 0, pad_i, 0, pad_o))
    return flat.reshape((cout + pad_o) // go, go, (cin + pad_i) // gi, gi, flat.shape[-1])


def unit_sums(t: torch.Tensor, go: int, gi: int, columns: bool) -> torch.Tensor:
    """Sum of `t` over each unit: GO x GI (groups) or GO x GI x P (columns). Differentiable."""
    grouped = group_view(t, go, gi).sum(dim=(1, 3))
    return grouped if columns else grouped.sum(dim=-1)


def unit_mask(keep: torch.Tensor, shape: torch.Size, go: int, gi: int, columns: bool) -> torch.Tensor:
    """Spread per-unit values `keep` (shaped as unit_sums returns: a bool keep, or factors) back to
    the weight's shape."""
    cout, cin = shape[:2]
    positions = prod(shape[2:])
    if not columns:
        keep = keep[..., None].expand(*keep.shape, positions)
    big = keep[:, None, :, None, :].expand(keep.shape[0], go, keep.shape[1], gi, positions)
    big = big.reshape(keep.shape[0] * go, keep.shape[1] * gi, positions)
    return big[:cout, :cin].reshape(shape)
