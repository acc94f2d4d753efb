"""The pconv helpers: packing, pattern recovery, stats and the Python verifier."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_mlir import ir

from fretsaw import FretsawError
from fretsaw.context import make_context
from fretsaw.dialect import pconv
from fretsaw.passes.lower import KernelTables
from fretsaw.passes.raise_ import MAX_PATTERNS, recover_patterns
from fretsaw.prune import candidate_patterns, default_library


@settings(max_examples=30, deadline=None)
@given(cout=st.integers(1, 8), cin=st.integers(1, 8), keep=st.floats(0.0, 1.0), seed=st.integers(0, 10**6))
def test_recover_pack_unpack_roundtrip(cout, cin, keep, seed):
    rng = np.random.default_rng(seed)
    library = default_library(8)
    weight = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32) + 5.0  # no accidental zeros
    ids = rng.integers(0, 8, (cout, cin))
    alive = rng.random((cout, cin)) < keep
    weight *= library[ids] * alive[:, :, None, None]
    patterns, kernel_pattern = recover_patterns(weight)
    assert ((kernel_pattern >= 0) == alive).all()
    assert len(patterns) == len(np.unique(ids[alive])) or not alive.any()
    packed = pconv.pack_weights(weight, patterns, kernel_pattern)
    assert packed.size == pconv.packed_length(patterns, kernel_pattern) == 4 * int(alive.sum())
    np.testing.assert_array_equal(pconv.unpack_weights(packed, patterns, kernel_pattern), weight)


def test_patterns_ordered_by_use():
    weight = np.zeros((3, 1, 3, 3), np.float32)
    weight[0, 0, 1, 1] = 1
    weight[1, 0, 0, 0] = weight[2, 0, 0, 0] = 1
    patterns, kernel_pattern = recover_patterns(weight)
    assert patterns[0][0, 0] and kernel_pattern.ravel().tolist() == [1, 0, 0]


def test_unstructured_sparsity_falls_back_to_full_pattern():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    weight[rng.random(weight.shape) < 0.5] = 0  # far more than MAX_PATTERNS distinct masks
    patterns, kernel_pattern = recover_patterns(weight)
    assert len(np.unique((weight != 0).reshape(-1, 9), axis=0)) > MAX_PATTERNS
    assert patterns.shape == (1, 3, 3) and patterns.all()
    packed = pconv.pack_weights(weight, patterns, kernel_pattern)
    np.testing.assert_array_equal(pconv.unpack_weights(packed, patterns, kernel_pattern), weight)


def test_kernel_tables_follow_canonical_order():
    patterns = np.array([[[1, 0], [0, 1]], [[1, 1], [1, 0]]], dtype=bool)
    tables = KernelTables.build(patterns, np.array([[0, 1], [-1, 0]]))
    assert tables.begin.tolist() == [0, 2, 3]
    assert tables.channel.tolist() == [0, 1, 1]
    assert tables.pattern.tolist() == [0, 1, 0]
    assert tables.offset.tolist() == [0, 2, 5]


def test_candidate_library():
    candidates = candidate_patterns()
    assert candidates.shape == (56, 3, 3)
    assert candidates[:, 1, 1].all() and (candidates.reshape(56, 9).sum(1) == 4).all()
    assert len(np.unique(candidates.reshape(56, 9), axis=0)) == 56
    with pytest.raises(ValueError):
        default_library(57)


def build(kernel_pattern, packed_len, **overrides):
    ctx = make_context()
    ctx.allow_unregistered_dialects = True  # test.source stands in for the producers
    with ctx, ir.Location.unknown():
        module = ir.Module.create()
        with ir.InsertionPoint(module.body):
            f32 = ir.F32Type.get()
            x = ir.Operation.create("test.source", results=[ir.RankedTensorType.get([1, 2, 4, 4], f32)]).result
            w = ir.Operation.create("test.source", results=[ir.RankedTensorType.get([packed_len], f32)]).result
            args = dict(result_type=ir.RankedTensorType.get([1, 2, 3, 3], f32),
                        patterns=np.array([[[1, 0], [0, 1]]], dtype=bool),
                        kernel_pattern=np.array(kernel_pattern), strides=[1, 1], padding=[0, 0, 0, 0],
                        dilations=[1, 1], groups=1)
            args.update(overrides)
            op = pconv.build_conv2d(x, w, None, **args)
        return ctx, module, op


def test_builder_and_accessors():
    ctx, _module, op = build([[0, -1], [0, 0]], 6, activation="relu6")
    with ctx:
        pconv.verify_conv2d(op)
        conv = pconv.Conv2d(op)
        assert conv.kernel_pattern.tolist() == [[0, -1], [0, 0]]
        assert conv.activation == "relu6" and conv.groups == 1 and conv.bias is None
        assert conv.output_shape == [1, 2, 3, 3]


def test_verifier_names_op_and_mismatch():
    ctx, _module, op = build([[0, -1], [0, 0]], 5)
    with ctx, pytest.raises(FretsawError, match="'pconv.conv2d' op: packed_weights has 5 elements .* keep 6"):
        pconv.verify_conv2d(op)
