"""The pconv helpers: packing, pattern recovery, stats and the Python verifier."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_mlir import ir

from fretsaw import FretsawError
from fretsaw.context import make_context
from fretsaw.dialect import pconv
from fretsaw.dialect.fkw import Fkw, reorder_filters, repack, unpack
from fretsaw.dialect.pconv import MAX_PATTERNS
from fretsaw.dialect.pconv import recover_patterns
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


def test_fkw_tables_in_canonical_order():
    patterns = np.array([[[1, 0], [0, 1]], [[1, 1], [1, 0]]], dtype=bool)
    table = Fkw.of(patterns, np.array([[0, 1], [-1, 0]]))  # never reordered nor packed
    assert table.order.tolist() == [0, 1]
    assert table.stride.tolist() == [0, 1, 2, 3, 3]  # (filter, pattern) runs; filter 1 has no pattern 1
    assert table.index.tolist() == [0, 1, 1]
    assert table.pattern.tolist() == [0, 1, 0]
    assert table.weight.tolist() == [0, 2, 5]  # canonical packing


@settings(max_examples=30, deadline=None)
@given(cout=st.integers(1, 20), cin=st.integers(1, 8), keep=st.floats(0.0, 1.0), seed=st.integers(0, 10**6))
def test_reorder_and_fkw_repacking_keep_every_weight(cout, cin, keep, seed):
    rng = np.random.default_rng(seed)
    library = default_library(8)
    weight = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32) + 5.0
    weight *= library[rng.integers(0, 8, (cout, cin))] * (rng.random((cout, cin)) < keep)[:, :, None, None]
    patterns, kernel_pattern = recover_patterns(weight)
    order, groups = reorder_filters(patterns, kernel_pattern)
    assert sorted(order.tolist()) == list(range(cout))
    counts = (kernel_pattern >= 0).sum(axis=1)[order]
    assert (np.diff(counts) <= 0).all()  # most kernels first
    assert groups[0] == 0 and groups[-1] == cout and (np.diff(groups) > 0).all()
    assert all(len(set(counts[a:b])) == 1 for a, b in zip(groups[:-1], groups[1:]))  # one kernel count a group
    table, canonical = Fkw.build(patterns, kernel_pattern, order, groups)
    packed = repack(pconv.pack_weights(weight, patterns, kernel_pattern), canonical, table, patterns)
    np.testing.assert_array_equal(unpack(packed, table, patterns, (cout, cin)), weight)
    runs = np.repeat(np.arange(cout * len(patterns)), np.diff(table.stride))
    assert (table.pattern == runs % len(patterns)).all()  # kernels sorted by pattern inside a filter


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
            op = pconv.build_conv(x, w, None, **args)
        return ctx, module, op


def test_builder_and_accessors():
    ctx, _module, op = build([[0, -1], [0, 0]], 6, activation="relu6")
    with ctx:
        pconv.verify_conv(op)
        conv = pconv.Conv(op)
        assert conv.kernel_pattern.tolist() == [[0, -1], [0, 0]]
        assert conv.activation == "relu6" and conv.groups == 1 and conv.bias is None
        assert conv.output_shape == [1, 2, 3, 3]


def test_verifier_names_op_and_mismatch():
    ctx, _module, op = build([[0, -1], [0, 0]], 5)
    with ctx, pytest.raises(FretsawError, match="'pconv.conv2d' op: packed_weights has 5 elements .* keep 6"):
        pconv.verify_conv(op)


@pytest.mark.parametrize("attributes,message", [
    ({"filter_order": [0, 0]}, "filter_order must be a permutation of the 2 filters"),
    ({"filter_order": [1, 0], "filter_groups": [0, 1]}, "filter_groups must rise strictly from 0 to 2"),
    ({"filter_groups": [0, 2]}, "need filter_order"),
    ({"filter_order": [1, 0], "filter_groups": [0, 2], "fkw_stride": [0, 1, 3], "fkw_index": [0, 1, 0]},
     "fkw_stride does not count the kept kernels"),
    ({"filter_order": [1, 0], "filter_groups": [0, 2], "fkw_stride": [0, 2, 3], "fkw_index": [1, 0, 0]},
     "fkw_index does not list"),
    ({"filter_order": [1, 0], "filter_groups": [0, 2], "fkw_stride": [0, 2, 3]}, "come together"),
])
def test_verifier_checks_reorder_and_fkw_attributes(attributes, message):
    ctx, _module, op = build([[0, -1], [0, 0]], 6)
    with ctx:
        pconv.verify_conv(op)
        for name, values in attributes.items():
            op.attributes[name] = ir.DenseElementsAttr.get(np.array(values, dtype=np.int32))
        with pytest.raises(FretsawError, match=f"'pconv.conv2d' op: .*{message}"):
            pconv.verify_conv(op)
        if "fkw_index" in attributes:  # the right arrays pass: filter 1 (2 kernels) first
            op.attributes["fkw_stride"] = ir.DenseElementsAttr.get(np.array([0, 2, 3], dtype=np.int32))
            op.attributes["fkw_index"] = ir.DenseElementsAttr.get(np.array([0, 1, 0], dtype=np.int32))
            pconv.verify_conv(op)


@pytest.mark.parametrize("value,message", [
    (ir.DenseI64ArrayAttr.get, None),                                  # rows, vectors, tile (earlier tunings)
    (lambda v: ir.DenseI64ArrayAttr.get(v + [8]), None),                # and units
    (lambda v: ir.DenseI64ArrayAttr.get(v + [8, 0]), None),             # and filters (0: not a kernel-group conv)
    (lambda v: ir.DenseI32ArrayAttr.get(v), r"fretsaw.schedule must be array<i64: rows, vectors, tile, units, "
                                            r"filters>, got array<i32"),
    (lambda v: ir.DenseI64ArrayAttr.get(v[:2]), r"must be array<i64: rows, vectors, tile, units, filters>, "
                                                r"got array<i64: 3, 1>"),
    (lambda v: ir.DenseI64ArrayAttr.get(v + [8, 1, 1]), r"must be array<i64: rows, vectors, tile, units, filters>, "
                                                        r"got array<i64: 3, 1, 2, 8, 1, 1>"),
    (lambda v: ir.DenseI64ArrayAttr.get(v + [8, 4]), r"filters=4 is the kernel-group lowering's filter block .* "
                                                     r"give filters=0"),
    (lambda v: ir.StringAttr.get("3x1"), r"must be array<i64: rows, vectors, tile, units, filters>, got \"3x1\""),
    (lambda v: ir.DenseI64ArrayAttr.get(v + [-2]), r"fretsaw.schedule = array<i64: 3, 1, 2, -2>: units=-2 is negative"),
    (lambda v: ir.DenseI64ArrayAttr.get([-1, 1, 1]), r"fretsaw.schedule = array<i64: -1, 1, 1>: rows=-1 is negative"),
    (lambda v: ir.DenseI64ArrayAttr.get([4, 1, 1]), r"rows=4 exceeds the 3 output row"),
    (lambda v: ir.DenseI64ArrayAttr.get([1, 1, 3]), r"tile=3 exceeds the conv's 2 input channels per group"),
])
def test_verifier_checks_the_tuned_schedule(value, message):
    ctx, _module, op = build([[0, -1], [0, 0]], 6)
    with ctx:
        op.attributes["fretsaw.schedule"] = value([3, 1, 2])
        if message is None:
            pconv.verify_conv(op)
            return
        with pytest.raises(FretsawError, match=f"'pconv.conv2d' op: .*{message}"):
            pconv.verify_conv(op)


@pytest.mark.parametrize("segments", [[1, 1, 1], [1, 0, 0], [1, 1], [2, 0, 0]])
def test_verifier_checks_operand_segments(segments):
    ctx, _module, op = build([[0, -1], [0, 0]], 6)
    with ctx:
        op.attributes["operandSegmentSizes"] = ir.DenseI32ArrayAttr.get(segments)
        with pytest.raises(FretsawError, match=r"'pconv.conv2d' op: operandSegmentSizes is .* but the op has 2 "
                                               r"operands: it must be array<i32: 1, 1, 0>"):
            pconv.verify_conv(op)
