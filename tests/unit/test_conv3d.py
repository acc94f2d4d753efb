"""pconv.conv3d (NCDHW) through the rank-generic pieces: built with build_conv from pruned 3-D
weights (patterns recovered from their zeros, kernel groups checked), verified, reordered and
FKW-packed, lowered by the reference pconv-lower, then the host's loops, bufferization and
LLVM stages; compared with torch's conv3d on the same masked weights (RTOL, ATOL of conftest)."""

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch_mlir import ir
from torch_mlir.dialects import arith, func

from conftest import ATOL, RTOL
from fretsaw.backends.base import Signature
from fretsaw.backends.host import HostBackend, HostExecutable
from fretsaw.context import make_context
from fretsaw.dialect import pconv
from fretsaw.pipeline import run_pipeline

ACTIVATIONS = {"none": lambda y: y, "relu": torch.relu, "relu6": lambda y: torch.clamp(y, 0, 6)}


def compile_conv3d(weight, bias, x_shape, strides, padding, dilations, groups, activation, group_shape=None,
                   reference=False):
    """A host executable of one pconv.conv3d of these dense (pruned) weights: its SIMD loops
    (pconv-vectorize in the host's stages), or with `reference` the reference loops (pconv-lower)."""
    patterns, kernel_pattern = pconv.recover_patterns(weight)
    packed = pconv.pack_weights(weight, patterns, kernel_pattern)
    spatial = pconv.conv_output_size(x_shape[2:], weight.shape[2:], strides, padding, dilations)
    out_shape = [x_shape[0], weight.shape[0], *spatial]
    ctx = make_context()
    with ctx, ir.Location.unknown():
        module = ir.Module.create()
        f32 = ir.F32Type.get()
        x_type, y_type = ir.RankedTensorType.get(list(x_shape), f32), ir.RankedTensorType.get(out_shape, f32)
        with ir.InsertionPoint(module.body):
            main = func.FuncOp("main", ([x_type], [y_type]))
            with ir.InsertionPoint(main.add_entry_block()):
                w = arith.ConstantOp(ir.RankedTensorType.get([packed.size], f32), ir.DenseElementsAttr.get(packed))
                b = None if bias is None else arith.ConstantOp(ir.RankedTensorType.get([len(bias)], f32),
                                                               ir.DenseElementsAttr.get(bias)).result
                conv = pconv.build_conv(main.arguments[0], w.result, b, result_type=y_type, patterns=patterns,
                                        kernel_pattern=kernel_pattern, strides=strides, padding=padding,
                                        dilations=dilations, groups=groups, activation=activation,
                                        group_shape=group_shape)
                func.ReturnOp([conv.results[0]])
    assert conv.name == "pconv.conv3d"
    signature = Signature.of(module, "main")
    lower = ", pconv-lower" if reference else ""
    run_pipeline(module, f"builtin.module(pconv-verify, pconv-filter-kernel-reorder, pconv-pack-fkw{lower})")
    for stage in HostBackend().stages():  # the host's stages after "pconv", which made the op
        run_pipeline(module, stage.pipeline, stage=stage.name)
    return HostExecutable(module, "main", signature, opt_level=2)


def torch_conv3d(x, weight, bias, strides, padding, dilations, groups, activation):
    low, high = padding[:3], padding[3:]
    padded = F.pad(torch.from_numpy(x), (low[2], high[2], low[1], high[1], low[0], high[0]))
    y = F.conv3d(padded, torch.from_numpy(weight), None if bias is None else torch.from_numpy(bias),
                 stride=strides, dilation=dilations, groups=groups)
    return ACTIVATIONS[activation](y).numpy()


@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_pruned_conv3d_matches_torch(data):
    groups = data.draw(st.sampled_from([1, 2]))
    cin, cout = groups * data.draw(st.integers(1, 3)), groups * data.draw(st.integers(1, 3))
    kernel = data.draw(st.tuples(*[st.integers(1, 3)] * 3))
    strides = data.draw(st.tuples(*[st.integers(1, 2)] * 3))
    dilations = data.draw(st.tuples(*[st.integers(1, 2)] * 3))
    padding = data.draw(st.tuples(*[st.integers(0, 1)] * 6))
    size = data.draw(st.tuples(*[st.integers(1, 6)] * 3))
    spatial = pconv.conv_output_size(size, kernel, strides, padding, dilations)
    assume(min(spatial) >= 1)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    weight = rng.standard_normal((cout, cin // groups, *kernel)).astype(np.float32)
    weight *= rng.random(weight.shape) < data.draw(st.sampled_from([0.3, 0.6, 1.0]))  # taps kept
    weight[rng.random(weight.shape[:2]) < 0.3] = 0  # kernels removed
    bias = rng.standard_normal(cout).astype(np.float32) if data.draw(st.booleans()) else None
    activation = data.draw(st.sampled_from(sorted(ACTIVATIONS)))
    x = rng.standard_normal((data.draw(st.integers(1, 2)), cin, *size)).astype(np.float32)
    run = compile_conv3d(weight, bias, x.shape, strides, padding, dilations, groups, activation,
                         reference=data.draw(st.booleans()))
    (got,) = run(x)
    np.testing.assert_allclose(got, torch_conv3d(x, weight, bias, strides, padding, dilations, groups, activation),
                               rtol=RTOL, atol=ATOL)


def test_kernel_groups_conv3d_matches_torch():
    # KGS: groups of 2 filters x 2 input channels keep one shared 3x3x3 position set each
    # (4 of 27 taps), a quarter of the groups removed (Vanilla); group_shape is verified
    rng = np.random.default_rng(0)
    cout, cin, g_out, g_in = 8, 6, 2, 2
    weight = rng.standard_normal((cout, cin, 3, 3, 3)).astype(np.float32)
    for f in range(0, cout, g_out):
        for c in range(0, cin, g_in):
            keep = np.zeros(27, dtype=bool)
            if rng.random() > 0.25:
                keep[rng.choice(27, 4, replace=False)] = True
            weight[f:f + g_out, c:c + g_in] *= keep.reshape(3, 3, 3)
    x = rng.standard_normal((1, cin, 5, 8, 8)).astype(np.float32)
    args = ((1, 1, 1), (1, 1, 1, 1, 1, 1), (1, 1, 1), 1, "relu")
    run = compile_conv3d(weight, None, x.shape, *args, group_shape=(g_out, g_in))
    (got,) = run(x)
    np.testing.assert_allclose(got, torch_conv3d(x, weight, None, *args), rtol=RTOL, atol=ATOL)


def test_batchnorm_folds_into_conv_of_every_rank():
    # ConvNd -> BatchNormNd pairs of one rank fold into the conv (no BatchNorm is called any more),
    # with the same outputs
    from fretsaw.frontend.torch_import import fold_batchnorm

    for conv, bn, shape in ((torch.nn.Conv1d(3, 4, 3), torch.nn.BatchNorm1d(4), (2, 3, 9)),
                            (torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), (2, 3, 9, 9)),
                            (torch.nn.Conv3d(3, 4, 3), torch.nn.BatchNorm3d(4), (2, 3, 5, 6, 7))):
        model = torch.nn.Sequential(conv, bn, torch.nn.ReLU()).eval()
        with torch.no_grad():
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 2)
        folded = fold_batchnorm(model)
        modules = dict(folded.named_modules())
        calls = [modules[n.target] for n in folded.graph.nodes if n.op == "call_module"]
        assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in calls), type(bn)
        x = torch.randn(*shape)
        with torch.no_grad():
            np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), rtol=RTOL, atol=ATOL)
