"""ONNX conformance: the onnx wheel's backend test data compiled with fretsaw, compared with the
stored outputs; and the errors of the ONNX import.

- Model cases: every model of `backend/test/data/pytorch-converted` and `pytorch-operator`
  (PyTorch exports at opset 6-12, converted to frontend.onnx_import.OPSET before import), with
  its test_data_set_0 inputs and outputs.
- Node cases: the one-node models that `onnx.backend.test.case.node` builds (each op module's
  export functions call `expect()` with inputs and reference outputs; this wheel ships no
  `data/node` directory), for the ops of CNNs. A node case's non-float32 inputs (shapes, axes,
  pads, indices) become initializers, as they are constants in an exported CNN; a case with a
  non-float32 output, or inputs none of which is float32, must raise FretsawError (fretsaw
  compiles float32 models).
- Light models (FRETSAW_ONNX_ALL=1 only): `backend/test/data/light`, nine ImageNet CNNs
  (AlexNet, DenseNet-121, Inception v1/v2, ResNet-50, ShuffleNet, SqueezeNet, VGG-19, ZFNet) at
  opset 9 with every weight 0.02, fed the input of ONNX's own runner (arange / size); their
  outputs are near-uniform, so they check that whole old-opset CNN graphs convert, import,
  compile and run more than they check numerics.
- Every other case fretsaw does not compile is in OUT_OF_SCOPE with its reason and must raise
  FretsawError, never another exception. A listed case that starts to compile fails the test:
  then check its outputs and take it off the list.

Tolerances: rtol 1e-4, atol 1e-5 (conftest), looser only in LOOSER, with the reason.
By default the model cases and the node cases of the core CNN ops run (about 1.5 min on two
idle cores); FRETSAW_ONNX_ALL=1 adds the node cases of the other ops (activations, shape ops,
reductions, resize, ...; about 1.5 min more) and the light models (about 4 min more).
"""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import fretsaw
from conftest import ATOL, RTOL
from fretsaw.frontend.onnx_import import OPSET

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
ALL = os.environ.get("FRETSAW_ONNX_ALL") == "1"

# Node test modules (onnx.backend.test.case.node.<name>) of the ops fretsaw claims: the core CNN
# ops always, the rest with FRETSAW_ONNX_ALL=1.
CORE_OPS = ["conv", "maxpool", "averagepool", "globalaveragepool", "batch_normalization", "gemm", "matmul",
            "relu", "clip", "sigmoid", "tanh", "add", "mul", "sub", "div", "concat", "reshape", "flatten",
            "transpose"]
MORE_OPS = ["globalmaxpool", "convtranspose", "leakyrelu", "prelu", "hardsigmoid", "hardswish", "elu", "selu",
            "softplus", "gelu", "mish", "swish", "erf", "softmax", "logsoftmax", "neg", "abs", "sqrt", "exp",
            "pow", "reciprocal", "sum", "max", "min", "mean", "pad", "squeeze", "unsqueeze", "slice", "split",
            "identity", "dropout", "constant", "reducemean", "reducesum", "reducemax", "instance_normalization",
            "lrn", "depthtospace", "spacetodepth", "upsample", "resize", "gather", "expand", "tile", "shape"]
NODE_OPS = CORE_OPS + (MORE_OPS if ALL else [])

# Cases fretsaw does not compile (beyond the float32 rule above), each must raise FretsawError.
TRAINING = "training mode (batch statistics, random masks): fretsaw compiles inference models"
EMPTY = "an input with no elements: fretsaw compiles tensors of at least one element"
RESIZE = "Torch-MLIR's ONNX Resize import supports no {}"
EXCLUDE_OUTSIDE = "exclude_outside, nor cubic_coeff_a other than -0.75"
RUN_TIME_SCALES = ("Resize with align_corners and scales given at run time: fretsaw cannot check that they "
                   "give whole output sizes, and where they do not, Torch-MLIR computes other values than ONNX")
OUT_OF_SCOPE = {
    # model cases
    # node cases, core ops
    "test_matmul_1d_3d": "Torch-MLIR does not lower aten.matmul of a 1-D by a 3-D tensor",
    "test_matmul_4d_1d": "Torch-MLIR does not lower aten.matmul of a 4-D by a 1-D tensor",
    "test_batchnorm_example_training_mode": TRAINING,
    "test_batchnorm_epsilon_training_mode": TRAINING,
    "test_reshape_allowzero_reordered": EMPTY + " (without that check Torch-MLIR dies of SIGFPE on it)",
    # node cases, more ops
    "test_training_dropout": TRAINING,
    "test_training_dropout_default": TRAINING,
    "test_training_dropout_zero_ratio": TRAINING,
    "test_identity_sequence": "a sequence input: fretsaw compiles tensor inputs",
    "test_identity_opt": "an optional input: fretsaw compiles tensor inputs",
    "test_slice_neg_steps": "Slice with a negative step: upstream expand-strided-metadata rejects the reversed "
                            "view's negative offset",
    "test_split_zero_size_splits_opset13": EMPTY,
    "test_split_zero_size_splits_opset18": EMPTY,
    "test_reduce_sum_empty_set": EMPTY,
    "test_reduce_sum_empty_set_non_reduced_axis_zero": EMPTY,
    "test_reduce_max_empty_set": EMPTY,
    "test_convtranspose_autopad_same": "Torch-MLIR's ONNX import supports no ConvTranspose auto_pad=SAME_UPPER",
    "test_convtranspose_group_2": "Torch-MLIR's lowering of grouped ConvTranspose builds an invalid collapse_shape",
    "test_convtranspose_group_2_image_3": "Torch-MLIR's lowering of grouped ConvTranspose builds an invalid "
                                         "collapse_shape",
    "test_resize_upsample_scales_linear_align_corners": RUN_TIME_SCALES,
    "test_resize_downsample_scales_linear_align_corners": RUN_TIME_SCALES,
    "test_resize_upsample_scales_cubic_align_corners": RUN_TIME_SCALES,
    "test_resize_downsample_scales_cubic_align_corners": RUN_TIME_SCALES,
    "test_resize_upsample_scales_cubic_A_n0p5_exclude_outside": RESIZE.format(EXCLUDE_OUTSIDE),
    "test_resize_downsample_scales_cubic_A_n0p5_exclude_outside": RESIZE.format(EXCLUDE_OUTSIDE),
    "test_resize_downsample_scales_linear_antialias": RESIZE.format("antialias"),
    "test_resize_downsample_sizes_linear_antialias": RESIZE.format("antialias"),
    "test_resize_downsample_scales_cubic_antialias": RESIZE.format("antialias"),
    "test_resize_downsample_sizes_cubic_antialias": RESIZE.format("antialias"),
    "test_resize_tf_crop_and_resize": RESIZE.format("roi (tf_crop_and_resize)"),
    "test_resize_tf_crop_and_resize_extrapolation_value": RESIZE.format("roi (tf_crop_and_resize)"),
    "test_resize_tf_crop_and_resize_axes_2_3": RESIZE.format("roi (tf_crop_and_resize)"),
    "test_resize_tf_crop_and_resize_axes_3_2": RESIZE.format("roi (tf_crop_and_resize)"),
    "test_resize_upsample_sizes_nearest_floor_align_corners": RESIZE.format("nearest mode with align_corners "
                                                                            "(only asymmetric, half_pixel)"),
    "test_resize_upsample_scales_nearest_axes_2_3": RESIZE.format("axes"),
    "test_resize_upsample_scales_nearest_axes_3_2": RESIZE.format("axes"),
    "test_resize_upsample_sizes_nearest_axes_2_3": RESIZE.format("axes"),
    "test_resize_upsample_sizes_nearest_axes_3_2": RESIZE.format("axes"),
    "test_resize_upsample_sizes_nearest_not_larger": RESIZE.format("axes (with keep_aspect_ratio_policy)"),
    "test_resize_upsample_sizes_nearest_not_smaller": RESIZE.format("axes (with keep_aspect_ratio_policy)"),
    "test_resize_downsample_sizes_nearest_not_larger": RESIZE.format("axes (with keep_aspect_ratio_policy)"),
    "test_resize_downsample_sizes_nearest_not_smaller": RESIZE.format("axes (with keep_aspect_ratio_policy)"),
}

# Cases compared with looser tolerances: name -> (rtol, atol, reason).
LOOSER = {
    "test_averagepool_2d_ceil_last_window_starts_on_pad": (1e-4, 1e-4, "the expected output is written "
                                                          "with 4 decimals (0.1511 for 0.15105554)"),
}

# Cases not run: name -> reason.
SKIPPED: dict[str, str] = {}


def data_set(case_dir: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The inputs and outputs of a model case's first test data set, in index order."""
    folder = case_dir / "test_data_set_0"

    def tensors(prefix: str) -> list[np.ndarray]:
        files = sorted(folder.glob(f"{prefix}_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
        return [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in files]

    return tensors("input"), tensors("output")


def model_cases() -> list[Path]:
    return sorted(p for kind in ("pytorch-converted", "pytorch-operator") for p in (DATA / kind).iterdir()
                  if (p / "model.onnx").exists())


def node_cases(module: str) -> list:
    """The TestCases the export functions of onnx.backend.test.case.node.<module> produce (they
    run when the module is first imported; `expect()` appends to the package's list)."""
    import onnx.backend.test.case.node as node_package

    if module not in _NODE_CASES:
        before = len(node_package._NodeTestCases)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the reference implementations' overflow and divide warnings
            importlib.import_module(f"onnx.backend.test.case.node.{module}")
        _NODE_CASES[module] = node_package._NodeTestCases[before:]
    assert _NODE_CASES[module], f"onnx.backend.test.case.node.{module} produced no test case"
    return _NODE_CASES[module]


_NODE_CASES: dict[str, list] = {}


def not_float32(inputs, outputs) -> str | None:
    """Why a case is outside fretsaw's float32 scope, or None."""
    dtypes = {str(np.asarray(x).dtype) for x in outputs} - {"float32"}
    if dtypes:
        return f"output of dtype {', '.join(sorted(dtypes))}"
    if inputs and not any(np.asarray(x).dtype == np.float32 for x in inputs):
        return f"no float32 input (dtypes {', '.join(sorted({str(np.asarray(x).dtype) for x in inputs}))})"
    return None


def freeze_non_float_inputs(model: onnx.ModelProto, inputs) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    """Make the non-float32 graph inputs initializers holding the case's values."""
    frozen = onnx.ModelProto()
    frozen.CopyFrom(model)
    kept = []
    for graph_input, value in zip(list(model.graph.input), inputs):
        value = np.asarray(value)
        if value.dtype == np.float32:
            kept.append(value)
            continue
        frozen.graph.initializer.append(numpy_helper.from_array(value, graph_input.name))
        frozen.graph.input.remove(next(i for i in frozen.graph.input if i.name == graph_input.name))
    return frozen, kept


def check_case(name: str, model, inputs: list[np.ndarray], outputs: list[np.ndarray], reason: str | None) -> None:
    """Compile and compare; or, with a reason, expect a FretsawError."""
    if reason is not None:
        try:
            fretsaw.compile(model, inputs)
        except fretsaw.FretsawError:
            return
        pytest.fail(f"{name} compiles, but is listed as out of scope ({reason}): check its outputs, then "
                    f"take it off the list")
    cm = fretsaw.compile(model, inputs)
    got = cm(*inputs)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(outputs), f"{name}: {len(got)} outputs, expected {len(outputs)}"
    rtol, atol, _ = LOOSER.get(name, (RTOL, ATOL, ""))
    for index, (g, w) in enumerate(zip(got, outputs)):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{name} output {index}")


@pytest.mark.parametrize("case_dir", model_cases(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_model_case(case_dir: Path):
    name = case_dir.name
    if name in SKIPPED:
        pytest.skip(SKIPPED[name])
    inputs, outputs = data_set(case_dir)
    dtypes = {str(x.dtype) for x in inputs + outputs} - {"float32"}
    reason = OUT_OF_SCOPE.get(name) or (f"dtype {', '.join(sorted(dtypes))}" if dtypes else None)
    check_case(name, str(case_dir / "model.onnx"), inputs, outputs, reason)


@pytest.mark.parametrize("module", NODE_OPS)
def test_node_cases(module: str):
    failures = []
    for case in node_cases(module):
        if case.name in SKIPPED:
            continue
        inputs, outputs = case.data_sets[0]
        reason = OUT_OF_SCOPE.get(case.name) or not_float32(inputs, outputs)
        model, inputs = freeze_non_float_inputs(case.model, inputs) if reason is None else (case.model, inputs)
        try:
            check_case(case.name, model, inputs, list(outputs), reason)
        except (Exception, pytest.fail.Exception) as error:  # one report for every case of the op
            first = (str(error).strip().splitlines() or [""])[0]
            failures.append(f"{case.name}: {type(error).__name__}: {first}")
    assert not failures, f"{len(failures)} case(s) of {module} failed:\n" + "\n".join(failures)


def light_models() -> list[Path]:
    return sorted((DATA / "light").glob("light_*.onnx"))


@pytest.mark.skipif(not ALL, reason="whole ImageNet CNNs, minutes (FRETSAW_ONNX_ALL=1)")
@pytest.mark.parametrize("path", light_models(), ids=lambda p: p.stem)
def test_light_model(path: Path):
    model = onnx.load(str(path))
    initializers = {t.name for t in model.graph.initializer}
    inputs = []
    for graph_input in [i for i in model.graph.input if i.name not in initializers]:
        shape = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
        inputs.append((np.arange(np.prod(shape)) / np.prod(shape)).reshape(shape).astype(np.float32))
    outputs = [numpy_helper.to_array(onnx.load_tensor(str(p)))
               for p in sorted(path.parent.glob(f"{path.stem}_output_*.pb"))]
    check_case(path.stem, str(path), inputs, outputs, OUT_OF_SCOPE.get(path.stem))


@pytest.mark.skipif(not ALL, reason="imports every node module (FRETSAW_ONNX_ALL=1)")
def test_listed_cases_exist():
    names = {p.name for p in model_cases()} | {c.name for m in CORE_OPS + MORE_OPS for c in node_cases(m)}
    names |= {p.stem for p in light_models()}
    stale = sorted((set(OUT_OF_SCOPE) | set(LOOSER) | set(SKIPPED)) - names)
    assert not stale, f"listed cases that no longer exist: {stale}"


# --- ONNX import errors ---------------------------------------------------------------------------

def relu_model(shape, opset: int = OPSET, op_type: str = "Relu", elem_type=TensorProto.FLOAT) -> onnx.ModelProto:
    node = helper.make_node(op_type, ["x"], ["y"], name="act")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", elem_type, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_old_opset_is_converted():
    x = np.random.randn(1, 3, 7, 7).astype(np.float32)
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], name="pool")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)])
    want = np.max(np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2], axis=(4, 5))
    np.testing.assert_allclose(fretsaw.compile(model, (x,))(x), want, rtol=RTOL, atol=ATOL)


def test_unconvertible_opset_names_the_node():
    model = relu_model([1, 4], opset=6, op_type="ATen")
    with pytest.raises(fretsaw.FretsawError, match=rf"opset 6 to opset {OPSET}.*ATen node 'act'.*"
                                                   rf"opset_version={OPSET}"):
        fretsaw.compile(model, (np.zeros((1, 4), np.float32),))


def test_static_shape_mismatch_names_input_and_shapes(tmp_path):
    onnx.save(relu_model([1, 3, 8, 8]), tmp_path / "net.onnx")
    with pytest.raises(fretsaw.FretsawError, match=r"ONNX input 'x' \(input 0\) is declared with static shape "
                                                   r"\(1, 3, 8, 8\), but example input 0 has shape \(2, 3, 8, 8\)"):
        fretsaw.compile(tmp_path / "net.onnx", (np.zeros((2, 3, 8, 8), np.float32),))


def test_dynamic_dimension_takes_the_example_size():
    model = relu_model(["n", 3, 8, 8])
    x = np.random.randn(2, 3, 8, 8).astype(np.float32)
    np.testing.assert_array_equal(fretsaw.compile(model, (x,))(x), np.maximum(x, 0))


def test_empty_onnx_file(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(fretsaw.FretsawError, match=r"empty\.onnx is empty \(0 bytes\), not an ONNX model"):
        fretsaw.compile(tmp_path / "empty.onnx", (np.zeros((1, 3, 8, 8), np.float32),))


def test_non_float_input_declared():
    model = relu_model([1, 4], elem_type=TensorProto.INT64)
    with pytest.raises(fretsaw.FretsawError, match=r"ONNX input 'x' \(input 0\) has element type INT64"):
        fretsaw.compile(model, (np.zeros((1, 4), np.float32),))


def test_empty_example_input():
    with pytest.raises(fretsaw.FretsawError, match=r"has shape \(0, 4\), with no elements"):
        fretsaw.compile(relu_model(["n", 4]), (np.zeros((0, 4), np.float32),))


def resize_model(scales: list[float], shape=(1, 1, 4, 4)) -> onnx.ModelProto:
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", mode="linear",
                            coordinate_transformation_mode="align_corners")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(np.array(scales, np.float32), "scales")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


def test_resize_align_corners_whole_sizes():
    import torch

    x = np.random.randn(1, 1, 4, 4).astype(np.float32)
    want = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=2, mode="bilinear", align_corners=True)
    np.testing.assert_allclose(fretsaw.compile(resize_model([1, 1, 2, 2]), (x,))(x), want.numpy(),
                               rtol=RTOL, atol=ATOL)


def test_resize_align_corners_fractional_sizes_are_refused():
    # ONNX maps output x to x * 3 / (4 * 0.6 - 1); Torch-MLIR would use x * 3 / (2 - 1)
    with pytest.raises(fretsaw.FretsawError, match=r"Resize node 'up' \(align_corners, with scales\): input "
                                                   r"sizes x scales .* are not whole"):
        fretsaw.compile(resize_model([1, 1, 0.6, 0.6]), (np.zeros((1, 1, 4, 4), np.float32),))


def test_gelu_tanh_uses_exact_constant():
    # Torch-MLIR's own tanh GELU uses 0.7977240 for sqrt(2/pi): 2.8e-4 off at x = -1
    node = helper.make_node("Gelu", ["x"], ["y"], approximate="tanh")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    x = np.linspace(-4, 4, 64, dtype=np.float32).reshape(1, 64)
    want = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x.astype(np.float64) ** 3)))
    np.testing.assert_allclose(fretsaw.compile(model, (x,))(x), want, rtol=RTOL, atol=ATOL)


def test_pad_wrap_is_refused():
    node = helper.make_node("Pad", ["x", "pads"], ["y"], name="circular", mode="wrap")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1]), "pads")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    with pytest.raises(fretsaw.FretsawError, match="Pad node 'circular' has mode=wrap"):
        fretsaw.compile(model, (np.zeros((1, 1, 4, 4), np.float32),))


@settings(max_examples=6, deadline=None, derandomize=True)
@given(pads=st.lists(st.integers(-2, 2), min_size=4, max_size=4), conv_pad=st.sampled_from([None, 0, 1]))
def test_negative_pads(pads, conv_pad):
    """A Pad with negative amounts (a crop) alone or before a padded Conv: Torch-MLIR's negative
    tensor.pad was merged with the conv's padding by adding the amounts (a wrong answer) or
    rejected by bufferization; the import now makes it a Slice and a non-negative Pad."""
    top, left, bottom, right = pads
    assume(min(pads) < 0 and 6 + top + bottom >= 3 and 6 + left + right >= 3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    onnx_pads = np.array([0, 0, top, left, 0, 0, bottom, right], np.int64)
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], mode="constant")]
    initializers = [numpy_helper.from_array(onnx_pads, "pads")]
    padded = torch.nn.functional.pad(torch.from_numpy(x), (left, right, top, bottom))
    want, output = padded.numpy(), "p"
    if conv_pad is not None:
        nodes.append(helper.make_node("Conv", ["p", "w"], ["y"], pads=[conv_pad] * 4))
        initializers.append(numpy_helper.from_array(w, "w"))
        want, output = torch.nn.functional.conv2d(padded, torch.from_numpy(w), padding=conv_pad).numpy(), "y"
    graph = helper.make_graph(nodes, "crop", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    np.testing.assert_allclose(fretsaw.compile(model, (x,))(x), want, rtol=RTOL, atol=ATOL)
