"""pconv-fold-constant-channels: image-constant channels (filters with every kernel removed) fold
into the bias of the unpadded 1x1 convs reading them; results unchanged against PyTorch."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from conftest import ATOL, RTOL, check_against_torch
from fretsaw.dialect import pconv


def convs(cm) -> list[pconv.Conv]:
    return [pconv.Conv(op) for op in pconv.walk_ops(cm._stages["pconv"].operation, pconv.CONV2D)]


def reads_channels(conv: pconv.Conv, channels) -> bool:
    """Whether any kept kernel of `conv` reads one of the input `channels` (a grouped conv's kernel
    j of filter f reads channel group(f) * Cin/groups + j: pconv-raise makes a 1x1 conv whose
    filters each keep only their own channel a depthwise one)."""
    cout, cin_g = conv.kernel_pattern.shape
    group = np.arange(cout) // (cout // conv.groups)
    read = group[:, None] * cin_g + np.arange(cin_g)[None, :]
    return bool(np.isin(read[conv.kernel_pattern >= 0], list(channels)).any())


def expand_project(rng: np.random.Generator, channels: int, empty: list[int], project: int, padding: int = 0):
    """depthwise 3x3 + ReLU6 (filters `empty` removed) -> 1x1 project (connectivity-pruned) + ReLU."""
    dw = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
    pw = nn.Conv2d(channels, project, 1, padding=padding)
    with torch.no_grad():
        dw.weight[empty] = 0
        dw.bias.copy_(torch.from_numpy(rng.uniform(-3, 9, channels)))  # relu6 clamps below 0 and above 6
        pw.weight.mul_(torch.from_numpy(rng.random((project, channels, 1, 1)) < 0.6).float())
    return nn.Sequential(dw, nn.ReLU6(), pw, nn.ReLU())


@settings(max_examples=8, deadline=None)
@given(channels=st.integers(2, 24), project=st.integers(1, 12), size=st.integers(1, 12), seed=st.integers(0, 1000))
def test_folds_into_the_project_conv(channels, project, size, seed):
    rng = np.random.default_rng(seed)
    empty = sorted(rng.choice(channels, size=rng.integers(1, channels + 1), replace=False).tolist())
    model = expand_project(rng, channels, empty, project)
    cm = check_against_torch(model, torch.randn(1, channels, size, size))
    depthwise, projection = convs(cm)
    emptied = np.nonzero((depthwise.kernel_pattern < 0).all(axis=1))[0].tolist()
    assert set(empty) <= set(emptied)  # (and the filters the projection does not read: dropped)
    assert not reads_channels(projection, emptied)  # every kernel on a constant channel folded away


def test_padded_consumer_is_left_alone():
    # zero padding around a constant channel is not that constant: a padded 1x1 conv keeps its kernels
    model = expand_project(np.random.default_rng(1), 8, [0, 2, 4, 6], 5, padding=1)
    with torch.no_grad():
        model[2].weight.fill_(0.5)
    cm = check_against_torch(model, torch.randn(1, 8, 6, 6))
    assert reads_channels(convs(cm)[1], [0, 2, 4, 6])


def test_emptied_filters_fold_into_the_next_conv():
    # a 1x1 conv whose filters read only constant channels is emptied by the fold, and its
    # constant outputs fold into the next 1x1 conv in turn
    first = nn.Conv2d(4, 4, 3, padding=1, groups=4)
    middle, last = nn.Conv2d(4, 3, 1), nn.Conv2d(3, 5, 1)
    with torch.no_grad():
        first.weight[1:] = 0  # channels 1..3 constant
        middle.weight[0, 0] = 0  # filter 0 reads channels 1..3 only: constant after the fold
    model = nn.Sequential(first, nn.ReLU(), middle, nn.ReLU6(), last)
    cm = check_against_torch(model, torch.randn(1, 4, 7, 7))
    _, folded_middle, folded_last = convs(cm)
    assert (folded_middle.kernel_pattern[0] < 0).all()
    assert not reads_channels(folded_last, [0])


@pytest.mark.parametrize("groups", [1, 2])
def test_folds_grouped_consumers(groups):
    # a grouped 1x1 consumer: each constant channel folds into its own group's filters' biases
    dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
    pw = nn.Conv2d(8, 6, 1, groups=groups, bias=False)
    with torch.no_grad():
        dw.weight[[1, 6]] = 0
    cm = check_against_torch(nn.Sequential(dw, pw), torch.randn(2, 8, 5, 5))
    kernel_pattern = convs(cm)[1].kernel_pattern  # 6 x 8 // groups
    if groups == 1:
        assert (kernel_pattern[:, [1, 6]] < 0).all()
    else:  # channel 1 is column 1 of group 0 (filters 0..2), channel 6 column 2 of group 1 (filters 3..5)
        assert (kernel_pattern[:3, 1] < 0).all() and (kernel_pattern[3:, 2] < 0).all()


class Block(nn.Module):
    """MobileNet-V2's inverted residual: expand 1x1, depthwise 3x3 (filters `empty` removed),
    project 1x1, and the residual add when `residual`."""

    def __init__(self, channels: int, hidden: int, empty: list[int], residual: bool):
        super().__init__()
        self.expand, self.project = nn.Conv2d(channels, hidden, 1), nn.Conv2d(hidden, channels, 1)
        self.depthwise = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.residual = residual
        with torch.no_grad():
            self.depthwise.weight[empty] = 0

    def forward(self, x):
        hidden = nn.functional.relu6(self.expand(x))
        y = self.project(nn.functional.relu6(self.depthwise(hidden)))
        return x + y if self.residual else y


def test_drops_the_filters_no_conv_reads():
    # the depthwise conv reads none of the channels of its removed filters: the expand conv's
    # filters for them lose their kernels
    empty = [0, 3, 4, 5, 9, 10]
    cm = check_against_torch(Block(4, 12, empty, residual=False), torch.randn(1, 4, 8, 8))
    expand, depthwise, project = convs(cm)
    assert (expand.kernel_pattern[empty] < 0).all() and (expand.kernel_pattern[[1, 2, 6, 7, 8, 11]] >= 0).all()
    assert not reads_channels(project, empty)


def test_keeps_filters_another_op_reads():
    # the block's input also feeds the residual add: whatever the convs read, every channel of a
    # conv whose result the add reads stays computed
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), Block(4, 12, [0, 1, 2, 3], residual=True))
    with torch.no_grad():
        model[1].expand.weight[:, 2] = 0  # no expand filter reads channel 2 of the first conv
    cm = check_against_torch(model, torch.randn(1, 4, 6, 6))
    first = convs(cm)[0]
    assert (first.kernel_pattern[2] >= 0).all()


def test_unread_filters_are_not_computed():
    # pconv-vectorize computes no plane for the filters (last in the reorder) with no kept kernel
    # whose channel no user reads: the expand conv's dropped filters, the depthwise conv's removed
    # ones (the project conv no longer reads them after the fold); the model's output is all computed
    from fretsaw.passes.conv.rewrite import read_by_users
    from fretsaw.passes.conv.units import computed_positions

    model = Block(4, 12, [0, 3, 4, 5, 9, 10], residual=False)
    x = torch.randn(1, 4, 8, 8)
    cm = check_against_torch(model, x)
    with torch.no_grad():  # a second call, whose unwritten planes hold the first call's data
        np.testing.assert_allclose(cm((2 * x).numpy()), model(2 * x).numpy(), rtol=RTOL, atol=ATOL)
    ops = pconv.walk_ops(cm._stages["pconv"].operation, pconv.CONV2D)
    expand, depthwise, project = (pconv.Conv(op) for op in ops)
    assert computed_positions(expand, expand.fkw(), read_by_users(ops[0])) == 6
    assert computed_positions(depthwise, depthwise.fkw(), read_by_users(ops[1])) == 6
    assert read_by_users(ops[2]) is None and computed_positions(project, project.fkw(), None) == 4
