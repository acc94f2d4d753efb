"""pconv-raise on 3-D convolutions, end to end: nn.Conv3d variants (kernels, strides, padding,
dilation, groups, depthwise, bias, BatchNorm3d, ReLU / ReLU6) and KGS / Vanilla pruned weights
compiled with fretsaw.compile and compared with PyTorch on the same weights (RTOL, ATOL of
conftest); the pconv stage holds one pconv.conv3d per conv (no linalg conv left) with the
recovered group_shape. Also the ONNX frontend's 3-D depthwise Conv and recover_groups itself.
Inputs are small: conv3d runs pconv-lower's scalar reference loops for now."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from torch import nn
from torch_mlir import ir

import fretsaw
from conftest import ATOL, RTOL, check_against_torch
from fretsaw import prune
from fretsaw.context import make_context
from fretsaw.dialect import pconv
from fretsaw.errors import FretsawError
from fretsaw.stats import layer_name


class Branches(nn.Module):
    """Every branch applied to the one input: one compile checks many convs."""

    def __init__(self, **branches):
        super().__init__()
        self.branches = nn.ModuleDict(branches)

    def forward(self, x):
        return tuple(branch(x) for branch in self.branches.values())


def raised(cm) -> dict[str, pconv.Conv]:
    """The pconv stage's convs by the name of the top-level module they come from (its 2nd path part
    for Branches, e.g. 'branches.dw.0' -> 'dw'); asserts no linalg convolution is left."""
    text = cm.ir("pconv")
    assert "linalg.conv" not in text and "reduction" not in text  # named convs, grouped generics
    ops = pconv.walk_convs(cm._stages["pconv"].operation)
    assert all(op.name == pconv.CONV3D for op in ops)
    names = [layer_name(op.location).split(".") for op in ops]
    return {name[1] if name[0] == "branches" else name[0]: pconv.Conv(op) for name, op in zip(names, ops)}


def batchnorm3d(channels: int) -> nn.BatchNorm3d:
    bn = nn.BatchNorm3d(channels)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
    return bn


def test_conv3d_variants_raise_and_match_torch():
    # name -> (branch, groups, activation) expected of its one pconv.conv3d
    variants = {
        "k1": (nn.Conv3d(4, 8, 1), 1, "none"),
        "k3": (nn.Sequential(nn.Conv3d(4, 8, 3, padding=1), nn.ReLU()), 1, "relu"),
        "k133": (nn.Conv3d(4, 8, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)), 1, "none"),
        "k311": (nn.Sequential(nn.Conv3d(4, 8, (3, 1, 1), stride=(2, 1, 1), padding=(2, 0, 0), dilation=(2, 1, 1)),
                               nn.ReLU6()), 1, "relu6"),
        "stem": (nn.Conv3d(4, 8, 7, stride=2, padding=3, bias=False), 1, "none"),
        "dilated": (nn.Conv3d(4, 8, 3, padding=(1, 2, 2), dilation=(1, 2, 2)), 1, "none"),
        "asym": (nn.Sequential(nn.ConstantPad3d((1, 0, 0, 2, 1, 0), 0.0), nn.Conv3d(4, 8, 3, stride=(1, 1, 2))), 1,
                 "none"),
        "grouped": (nn.Sequential(nn.Conv3d(4, 8, 3, groups=2, padding=1), nn.ReLU()), 2, "relu"),
        "dw": (nn.Conv3d(4, 4, 3, groups=4, padding=1), 4, "none"),
        "dw2": (nn.Sequential(nn.Conv3d(4, 8, 3, groups=4, stride=2, padding=1, bias=False), nn.ReLU6()), 4, "relu6"),
        "bn": (nn.Sequential(nn.Conv3d(4, 8, 3, padding=1, bias=False), batchnorm3d(8), nn.ReLU()), 1, "relu"),
    }
    model = Branches(**{name: branch for name, (branch, _, _) in variants.items()})
    cm = check_against_torch(model, torch.randn(1, 4, 5, 6, 7))
    convs = raised(cm)
    assert sorted(convs) == sorted(variants)  # one pconv.conv3d per conv: BatchNorm and ReLU folded in
    for name, (_, groups, activation) in variants.items():
        assert (convs[name].groups, convs[name].activation) == (groups, activation), name
        assert (convs[name].kernel_pattern >= 0).all(), name  # depthwise: no zero kernel left either
    assert "tensor.pad" not in cm.ir("pconv")  # every pad, the asymmetric one too, is the op's padding
    assert convs["asym"].padding == [1, 0, 1, 0, 2, 0]
    assert convs["k311"].dilations == [2, 1, 1] and convs["k311"].strides == [2, 1, 1]
    # dense kernels share their (full) masks: the largest kernel group inside a conv group
    assert convs["k3"].group_shape == (8, 4) and convs["grouped"].group_shape == (4, 2)
    assert convs["dw"].group_shape is None and convs["dw2"].group_shape == (2, 1)


@pytest.mark.parametrize("scheme, group_shape", [("kgs", (4, 4)), ("vanilla", (2, 4))])
def test_pruned_conv3d_raises_with_its_kernel_groups(scheme, group_shape):
    model = nn.Sequential(nn.Conv3d(2, 16, 3, padding=1), nn.ReLU(), nn.Conv3d(16, 32, 3, padding=1))
    x = torch.randn(1, 2, 3, 4, 4)
    pruned = prune.project(model, scheme, 2.5, inputs=x, group_shape=group_shape)
    cm = check_against_torch(pruned, x)
    conv = raised(cm)["2"]  # the model's output: no pass empties its filters after the raise
    assert conv.group_shape == group_shape
    if scheme == "vanilla":
        assert 0 < (conv.kernel_pattern >= 0).mean() < 1  # whole groups removed
    else:  # positions removed per group: more masks than a library holds, so the dense pattern stands
        assert (pruned[2].weight == 0).any() and len(conv.patterns) == 1 and conv.patterns.all()  # for all
    # the stats count what the 3-D loops multiply: the kept weights, not the dense pattern's taps
    layer = next(layer for layer in cm.stats()["layers"] if layer["name"] == "2")
    outputs = int(np.prod(layer["output_shape"][2:]))
    assert layer["sparse_flops"] == 2 * outputs * int((pruned[2].weight != 0).sum())
    assert layer["group_shape"] == list(group_shape)


@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_kernel_groups_of_any_conv3d_are_recovered(data):
    # KGS by hand: each gOut x gIn block keeps its own non-empty mask, no two blocks alike, so the
    # group shape is exactly the planted one
    groups = data.draw(st.sampled_from([1, 2]))
    cin_g, cout_g = data.draw(st.sampled_from([1, 2, 4])), data.draw(st.sampled_from([2, 4]))
    g_out = data.draw(st.sampled_from([g for g in (2, 4) if cout_g % g == 0]))
    g_in = data.draw(st.sampled_from([g for g in (1, 2, 4) if cin_g % g == 0]))
    kernel = data.draw(st.tuples(*[st.integers(1, 3)] * 3))
    strides = data.draw(st.tuples(*[st.integers(1, 2)] * 3))
    dilations = data.draw(st.tuples(*[st.integers(1, 2)] * 3))
    pads = data.draw(st.tuples(*[st.integers(0, 1)] * 6))  # F.pad order: W low, W high, H .., D ..
    size = data.draw(st.tuples(*[st.integers(2, 5)] * 3))
    taps, blocks = int(np.prod(kernel)), (groups * cout_g // g_out) * (cin_g // g_in)
    assume(blocks < 2 ** taps)
    padded = [s + pads[2 * (2 - i)] + pads[2 * (2 - i) + 1] for i, s in enumerate(size)]
    assume(all(p >= (k - 1) * d + 1 for p, k, d in zip(padded, kernel, dilations)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    codes = rng.choice(np.arange(1, 2 ** taps), blocks, replace=False)
    masks = (codes[:, None] >> np.arange(taps)) & 1
    mask = masks.reshape(groups * cout_g // g_out, 1, cin_g // g_in, 1, taps)
    mask = np.broadcast_to(mask, (groups * cout_g // g_out, g_out, cin_g // g_in, g_in, taps))
    conv = nn.Conv3d(groups * cin_g, groups * cout_g, kernel, stride=strides, dilation=dilations, groups=groups,
                     bias=data.draw(st.booleans()))
    with torch.no_grad():
        conv.weight.mul_(torch.from_numpy(mask.reshape(conv.weight.shape).astype(np.float32)))
    activation = data.draw(st.sampled_from([nn.Identity(), nn.ReLU(), nn.ReLU6()]))
    model = nn.Sequential(nn.ConstantPad3d(pads, 0.0), conv, activation)
    cm = check_against_torch(model, torch.randn(1, groups * cin_g, *size))
    assert raised(cm)["1"].group_shape == (g_out, g_in)


def test_recover_groups():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((8, 4, 3, 3, 3)).astype(np.float32)
    assert pconv.recover_groups(weight) == (8, 4)  # dense: every kernel keeps every tap
    assert pconv.recover_groups(weight, groups=2) == (4, 4)  # a kernel group stays inside its conv group
    assert pconv.recover_groups(weight[:, :, 0]) is None  # 2-D weights carry patterns, not kernel groups
    weight[0, 0, 0, 0, 0] = 0  # one kernel differs: no block of two filters shares its masks
    assert pconv.recover_groups(weight[:2]) is None
    weight[:2, :, 0, 0, 0] = 0  # filters 0-1 keep one mask, filters 2-7 another
    assert pconv.recover_groups(weight) == (2, 4)
    vanilla = np.ones((8, 4, 1, 3, 3), np.float32)
    vanilla[4:, :2] = 0  # a 4 x 2 group removed: 8 x 1 and 4 x 4 mix kept and removed kernels, and
    assert pconv.recover_groups(vanilla) == (4, 2)  # of the 8-kernel shapes left 4 x 2 has more filters than 2 x 4


def test_kernel_groups_hold_when_patterns_fall_back_to_dense():
    # more distinct kernel masks than a pattern library holds: every kept kernel gets the dense
    # pattern; the group shape is still recovered and verifies against kernel_pattern
    rng = np.random.default_rng(1)
    block_masks = rng.random((32, 16, 3, 3, 3)) < 0.5  # one mask per 2 x 2 group
    masks = block_masks.repeat(2, axis=0).repeat(2, axis=1)
    masks[:2, :2] = False  # one group removed (Vanilla)
    weight = rng.standard_normal(masks.shape).astype(np.float32) * masks
    patterns, kernel_pattern = pconv.recover_patterns(weight)
    assert len(patterns) == 1 and patterns.all()
    assert pconv.recover_groups(weight) == (2, 2)
    packed = pconv.pack_weights(weight, patterns, kernel_pattern)
    with make_context(), ir.Location.unknown():
        f32 = ir.F32Type.get()
        module = ir.Module.create()
        with ir.InsertionPoint(module.body):
            x = ir.Operation.create("tensor.empty", results=[ir.RankedTensorType.get([1, 32, 3, 3, 3], f32)]).result
            w = ir.Operation.create("tensor.empty", results=[ir.RankedTensorType.get([packed.size], f32)]).result
            op = pconv.build_conv(x, w, None, result_type=ir.RankedTensorType.get([1, 64, 1, 1, 1], f32),
                                  patterns=patterns, kernel_pattern=kernel_pattern, strides=[1] * 3,
                                  padding=[0] * 6, dilations=[1] * 3, groups=1, group_shape=(2, 2))
        pconv.verify_conv(op)  # raises on a group that mixes pattern ids


def test_depthwise_conv3d_with_runtime_weights_is_refused_by_name():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(4, 4, 3, groups=4)

        def forward(self, x):
            return F.conv3d(x, self.conv.weight * 2, groups=4)

    with pytest.raises(FretsawError, match=r"3-D depthwise convolution .*groups = in = out channels = 4.* run time"):
        fretsaw.compile(Scaled().eval(), (torch.randn(1, 4, 3, 3, 3),))


def onnx_conv3d_bn(cin: int, cout: int, group: int, weight_input: bool = False):
    """An ONNX Conv (3x3x3, pads 1, `group`) then BatchNormalization, its weight an initializer or,
    with `weight_input`, a graph input. Returns the model and its parameters."""
    rng = np.random.default_rng(cout)
    params = {"w": rng.standard_normal((cout, cin // group, 3, 3, 3)).astype(np.float32),
              "gamma": rng.uniform(0.5, 2, cout).astype(np.float32), "beta": rng.standard_normal(cout).astype(np.float32),
              "mean": rng.standard_normal(cout).astype(np.float32), "var": rng.uniform(0.5, 2, cout).astype(np.float32)}
    inits = [numpy_helper.from_array(v, k) for k, v in params.items() if not (weight_input and k == "w")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, 3, 4, 5])]
    if weight_input:
        inputs.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, list(params["w"].shape)))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], group=group, pads=[1] * 6, name="conv"),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["y"], name="bn")]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)]), params


# depthwise (Torch-MLIR refuses multiplier 1: spread by the frontend) and dense with Cin = Cout,
# where BatchNorm's scale must multiply the filters, not the input channels, of 5-D weights
@pytest.mark.parametrize("cin, cout, group", [(3, 3, 3), (4, 8, 4), (4, 4, 1)])
def test_onnx_conv3d_with_batchnorm(cin, cout, group):
    model, p = onnx_conv3d_bn(cin, cout, group)
    x = np.random.default_rng(0).standard_normal((1, cin, 3, 4, 5)).astype(np.float32)
    cm = fretsaw.compile(model, (x,))
    y = F.conv3d(torch.from_numpy(x), torch.from_numpy(p["w"]), padding=1, groups=group).numpy()
    scale = (p["gamma"] / np.sqrt(p["var"] + 1e-5)).reshape(-1, 1, 1, 1)
    np.testing.assert_allclose(cm(x)[0], (y[0] - p["mean"].reshape(-1, 1, 1, 1)) * scale +
                               p["beta"].reshape(-1, 1, 1, 1), rtol=RTOL, atol=ATOL)
    (conv,) = raised(cm).values()
    assert conv.groups == group and conv.kernel_pattern.shape == (cout, cin // group)


def test_onnx_depthwise_conv3d_with_runtime_weight_is_refused_by_name():
    model, _ = onnx_conv3d_bn(4, 4, 4, weight_input=True)
    with pytest.raises(FretsawError, match=r"Conv node 'conv' is a 3-D depthwise convolution .*make the weight an "
                                           r"initializer"):
        fretsaw.compile(model, (np.zeros((1, 4, 3, 4, 5), np.float32), np.zeros((4, 1, 3, 3, 3), np.float32)))
