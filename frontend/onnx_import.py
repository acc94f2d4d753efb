"""ONNX import: an .onnx file or onnx.ModelProto -> torch dialect, via torch-mlir's ONNX importer.

Before import, a model older than OPSET is converted to it (ONNX's version converter), what
fretsaw does not compile is refused by name (non-float32 inputs or outputs, training-mode
BatchNormalization, inputs that contradict the declared static shapes, ...), dynamic input
dimensions are fixed to the example inputs', Conv -> BatchNormalization pairs with constant
parameters are folded into the conv (as for PyTorch models), and a 3-D depthwise Conv, which
Torch-MLIR does not lower, becomes a grouped Conv with zero kernels (frontend/depthwise.py).
"""

from __future__ import annotations

import os
import re

import numpy as np
import onnx
from onnx import numpy_helper
from torch_mlir import ir
from torch_mlir.extras import onnx_importer

from fretsaw.errors import FretsawError
from fretsaw.frontend import depthwise

OPSET = 22  # older models are converted to it before import (upgrade_opset)
# Ops imported as their ONNX function body rather than Torch-MLIR's pattern (the importer's
# default list holds MeanVarianceNormalization): Gelu, because Torch-MLIR's tanh GELU multiplies
# by 0.7977240352 instead of sqrt(2/pi) = 0.7978845608 (2e-4 off); Swish (opset 24) and
# SpaceToDepth (opset 28, its `mode` attribute), which Torch-MLIR does not know or ignores.
# Older versions of these ops have no function body and keep Torch-MLIR's pattern.
IMPORT_CONFIG = onnx_importer.Config(function_expansion_allowlists_by_domain={
    "": {"MeanVarianceNormalization", "Gelu", "Swish", "SpaceToDepth"}})
TO_LINALG = ("builtin.module(torch-onnx-to-torch-backend-pipeline, "
             "torch-backend-to-linalg-on-tensors-backend-pipeline)")


class DenseInitializers(onnx_importer.ContextCache):
    """Import float initializers as DenseElementsAttr (readable from Python), not resource blobs."""

    def tensor_proto_to_attr(self, tp: onnx.TensorProto) -> ir.Attribute:
        if tp.data_type != onnx.TensorProto.FLOAT:
            return super().tensor_proto_to_attr(tp)
        array = np.ascontiguousarray(numpy_helper.to_array(tp), dtype=np.float32)
        return ir.DenseElementsAttr.get(array, type=self.tensor_proto_to_builtin_type(tp))


def load_model(model) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    path = os.fspath(model)
    if not os.path.exists(path):
        raise FretsawError(f"ONNX file not found: {path}")
    if os.path.getsize(path) == 0:
        raise FretsawError(f"ONNX file {path} is empty (0 bytes), not an ONNX model: export the model "
                           f"again (torch.onnx.export(model, inputs, path)) and check the write finished")
    try:
        proto = onnx.load(path)
    except Exception as error:
        raise FretsawError(f"cannot read ONNX file {path}: {error}") from error
    if not proto.HasField("graph") or not proto.opset_import:
        raise FretsawError(f"{path} is not an ONNX model (it parses, but has no graph or no opset): "
                           f"pass an .onnx file written by onnx.save or torch.onnx.export")
    return proto


def default_opset(model: onnx.ModelProto) -> int:
    """The version of the default ONNX domain ("" or "ai.onnx") the model imports."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def upgrade_opset(model: onnx.ModelProto) -> onnx.ModelProto:
    """Convert a model older than OPSET to OPSET with ONNX's version converter.

    Torch-MLIR registers each ONNX op's pattern from a minimum opset (MaxPool 12, Softmax 13,
    BatchNormalization 15, LpPool 18, Softsign 22, ...); an older node stays a `torch.operator`
    that torch-onnx-to-torch rejects. 22 is the highest of those minimums: with 17, 18 or 21 as
    the target the PyTorch exports in the onnx wheel's test data (opset 6-12) pass alike, but
    Softsign and LpPool do not import. ONNX's converter takes every node test model of the onnx
    wheel below 22 to 22, and those of the CNN ops give the same results after it. Newer models
    are left alone: Torch-MLIR follows ONNX forward, and ONNX has few down-conversion adapters.
    """
    version = default_opset(model)
    if version >= OPSET:
        return model
    if version < 7:
        per_channel_prelu_slopes(model)
    try:
        return onnx.version_converter.convert_version(model, OPSET)
    except Exception as error:
        raise conversion_error(model, version, error) from error


def per_channel_prelu_slopes(model: onnx.ModelProto) -> None:
    """Reshape a 1-D PRelu slope of C values to (C, 1, ..., 1) in an opset-6 model.

    Up to opset 6 such a slope was per channel (axis 1); from opset 7 it broadcasts against the
    last axis, and ONNX's version converter carries the node over unchanged, so the converted
    model would be invalid (or, with C equal to the last size, silently wrong)."""
    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.input) + list(inferred.value_info) + list(inferred.output)}
    shapes.update({t.name: list(t.dims) for t in graph.initializer})
    for node in [n for n in graph.node if n.op_type == "PRelu"]:
        x_shape, slope_shape = shapes.get(node.input[0], []), shapes.get(node.input[1], [])
        if len(x_shape) < 3 or len(slope_shape) != 1 or slope_shape[0] == 1:
            continue
        target = f"{node.input[1]}_fretsaw_per_channel"
        shape = numpy_helper.from_array(np.array([slope_shape[0]] + [1] * (len(x_shape) - 2), np.int64))
        at = list(graph.node).index(node)
        graph.node.insert(at, onnx.helper.make_node("Reshape", [node.input[1], target + "_shape"], [target],
                                                    name=target))
        graph.node.insert(at, onnx.helper.make_node("Constant", [], [target + "_shape"], value=shape,
                                                    name=target + "_shape"))
        node.input[1] = target


def conversion_error(model: onnx.ModelProto, version: int, error: Exception) -> FretsawError:
    """Name the node ONNX's version converter failed on: its message names the node only from
    shape inference; otherwise the op type, sometimes inside an adapter name (adapt_scatter_10_11)."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[-1]
    detail = text.split("failed: ", 1)[-1]  # drop the converter's source location and assertion
    named = re.search(r"node name: ([^)]*)\)", text)
    node = next((n for n in model.graph.node if named and n.name == named.group(1)), None)
    longest_first = sorted(model.graph.node, key=lambda n: -len(n.op_type))
    node = node or next((n for n in longest_first
                         if re.search(rf"(?<![a-z]){re.escape(n.op_type.lower())}(?![a-z])", text.lower())), None)
    what = f"{node.op_type} node '{node.name}'" if node is not None else "a node"
    return FretsawError(f"cannot convert the ONNX model from opset {version} to opset {OPSET}, which "
                        f"Torch-MLIR imports: ONNX's version converter failed on {what} ({detail}); "
                        f"re-export the model at opset {OPSET} or newer "
                        f"(torch.onnx.export(..., opset_version={OPSET}))")


def check_supported(model: onnx.ModelProto) -> None:
    """FretsawError for what fretsaw does not compile and Torch-MLIR would reject late, or hang
    on: outputs that are not float32 tensors, BatchNormalization in training mode, Pad mode=wrap."""
    for output in model.graph.output:
        elem_type = output.type.tensor_type.elem_type
        if elem_type not in (onnx.TensorProto.UNDEFINED, onnx.TensorProto.FLOAT):
            raise FretsawError(f"ONNX output '{output.name}' has element type "
                               f"{onnx.TensorProto.DataType.Name(elem_type)}: fretsaw compiles models whose "
                               f"outputs are float32 tensors (cast it to float32 in the model, or drop that output)")
    for node in model.graph.node:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "BatchNormalization" and attributes.get("training_mode"):
            raise FretsawError(f"BatchNormalization node '{node.name}' has training_mode=1 (batch statistics): "
                               f"fretsaw compiles inference models; export the model in eval mode "
                               f"(model.eval() before torch.onnx.export)")
        if node.op_type == "Pad" and attributes.get("mode") == b"wrap":
            raise FretsawError(f"Pad node '{node.name}' has mode=wrap, whose import into Torch-MLIR does not "
                               f"terminate: pad with mode constant, reflect or edge, or write the circular "
                               f"padding as Slice and Concat nodes")


def check_resize(model: onnx.ModelProto) -> None:
    """FretsawError for a Resize with coordinate_transformation_mode=align_corners and `scales`
    whose input size times scale is fractional: ONNX maps output x to x * (in - 1) / (in * scale - 1),
    Torch-MLIR to x * (in - 1) / (out - 1) with the whole output size, so the values differ (ONNX's
    test_resize_downsample_scales_linear_align_corners: 1, 3.14 expected, 1, 4 computed)."""
    graph = model.graph
    constants = constant_values(graph)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(graph.input) + list(graph.value_info)}
    for node in graph.node:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        uses_scales = len(node.input) > 2 and node.input[2] and not (len(node.input) > 3 and node.input[3])
        if node.op_type != "Resize" or attributes.get("coordinate_transformation_mode") != b"align_corners" \
                or not uses_scales:
            continue
        where = f"Resize node '{node.name}' (align_corners, with scales)"
        scales = constants.get(node.input[2])
        if scales is None:
            raise FretsawError(f"{where} takes its scales at run time: fretsaw needs them constant to check that "
                               f"they give whole output sizes (else ONNX and Torch-MLIR compute different "
                               f"values); make them an initializer, or give the Resize constant sizes instead")
        in_shape = shapes.get(node.input[0], [])
        axes = attributes.get("axes", range(len(in_shape)))
        if not in_shape or len(axes) != len(scales):
            continue  # shape inference left the input's rank unknown; nothing to check against
        sizes = np.array([in_shape[a] for a in axes], np.float64) * scales
        if not np.allclose(sizes, np.round(sizes), rtol=0, atol=1e-5):
            raise FretsawError(f"{where}: input sizes x scales {scales.tolist()} = {sizes.tolist()} are not whole: "
                               f"ONNX then maps output coordinates with the fractional size, Torch-MLIR with the "
                               f"whole output size, and the values differ; give the Resize sizes instead of "
                               f"scales, or scales that give whole sizes")


def constant_values(graph) -> dict[str, np.ndarray]:
    """Initializers and Constant nodes' values, by name."""
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    values.update({n.output[0]: numpy_helper.to_array(a.t) for n in graph.node if n.op_type == "Constant"
                   for a in n.attribute if a.name == "value"})
    return values


def crop_negative_pads(model: onnx.ModelProto) -> None:
    """Each Pad with constant, partly negative pads becomes a Slice (the crop) then a Pad by the
    non-negative amounts. Torch-MLIR lowers a negative pad to a tensor.pad with negative amounts,
    which upstream MLIR does not support: canonicalization merges it with a following conv's pad
    by adding the amounts (a cropped row came back instead of a zero row: a wrong answer) and
    bufferization rejects it alone. Pads given at run time are left as they are."""
    graph = model.graph
    constants = constant_values(graph)
    for node in [n for n in graph.node if n.op_type == "Pad"]:
        pads = constants.get(node.input[1]) if len(node.input) > 1 else None
        if pads is None or pads.min() >= 0:
            continue
        half = len(pads) // 2
        axes_name = node.input[3] if len(node.input) > 3 and node.input[3] else None
        axes = constants.get(axes_name, np.arange(half)) if axes_name else np.arange(half)
        begin, end = pads[:half], pads[half:]
        stem = f"{node.name or node.output[0]}_fretsaw_crop"
        arrays = {"starts": np.maximum(-begin, 0), "ends": np.where(end < 0, end, np.iinfo(np.int64).max),
                  "axes": np.asarray(axes), "pads": np.maximum(pads, 0)}
        for key, array in arrays.items():
            graph.initializer.append(numpy_helper.from_array(array.astype(np.int64), f"{stem}_{key}"))
        at = list(graph.node).index(node)
        graph.node.insert(at, onnx.helper.make_node(
            "Slice", [node.input[0], f"{stem}_starts", f"{stem}_ends", f"{stem}_axes"], [stem], name=stem))
        node.input[0], node.input[1] = stem, f"{stem}_pads"


def fold_batchnorm(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fold BatchNormalization nodes that directly follow a Conv with constant weights."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    producers = {out: node for node in graph.node for out in node.output}
    for bn in [n for n in graph.node if n.op_type == "BatchNormalization"]:
        conv = producers.get(bn.input[0])
        if conv is None or conv.op_type != "Conv" or consumers.get(bn.input[0]) != 1:
            continue
        params = [inits.get(name) for name in list(bn.input[1:5]) + [conv.input[1]]]
        if any(p is None for p in params) or len(bn.output) != 1:
            continue
        gamma, beta, mean, var, weight = (numpy_helper.to_array(p).astype(np.float64) for p in params)
        eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        scale = gamma / np.sqrt(var + eps)
        bias = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64) if len(conv.input) > 2 else 0.0
        _replace_initializer(graph, inits, conv.input[1],
                             (weight * scale.reshape(-1, *[1] * (weight.ndim - 1))).astype(np.float32))
        bias_name = conv.output[0] + "_fretsaw_folded_bias"
        graph.initializer.append(numpy_helper.from_array(((bias - mean) * scale + beta).astype(np.float32),
                                                         bias_name))
        del conv.input[2:]
        conv.input.append(bias_name)
        conv.output[0] = bn.output[0]
        graph.node.remove(bn)
    return model


def spread_depthwise_3d(model: onnx.ModelProto) -> None:
    """Each 3-D depthwise Conv that Torch-MLIR would refuse (group = in = out channels) reads the
    spread weights, and has the fewer groups, of depthwise.spread (the same outputs); FretsawError
    naming the node when its weight is not a constant. Needs the shapes of shape inference."""
    graph = model.graph
    constants = constant_values(graph)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(graph.input) + list(graph.value_info)}
    shapes.update({name: list(value.shape) for name, value in constants.items()})
    for node in [n for n in graph.node if n.op_type == "Conv"]:
        group = next((a for a in node.attribute if a.name == "group"), None)
        if group is None or not depthwise.refused(shapes.get(node.input[1], []), group.i):
            continue
        weight = constants.get(node.input[1])
        if weight is None:
            raise FretsawError(f"Conv node '{node.name}' is a 3-D depthwise convolution (group = in = out channels "
                               f"= {group.i}) whose weight '{node.input[1]}' is computed at run time: Torch-MLIR "
                               f"lowers no 3-D depthwise conv, and fretsaw passes one through only with constant "
                               f"weights; make the weight an initializer")
        spread, group.i = depthwise.spread(weight.astype(np.float32), group.i)
        name = f"{node.input[1]}_fretsaw_spread_{node.name or node.output[0]}"
        graph.initializer.append(numpy_helper.from_array(spread, name))
        node.input[1] = name


def _replace_initializer(graph, inits, name: str, array: np.ndarray) -> None:
    graph.initializer.remove(inits[name])
    inits[name] = numpy_helper.from_array(array, name)
    graph.initializer.append(inits[name])


def fix_input_shapes(model: onnx.ModelProto, example_inputs) -> None:
    """Give every graph input the example input's static shape. A dimension the model declares
    static must match: changing it would contradict shapes recorded inside the graph (value_info,
    Reshape targets), which Torch-MLIR reports only as an incompatible tensor.cast deep inside."""
    if example_inputs is None:
        return
    arrays = [np.asarray(getattr(x, "detach", lambda: x)()) for x in
              (example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,))]
    initializer_names = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializer_names]
    if len(arrays) != len(inputs):
        raise FretsawError(f"the ONNX model takes {len(inputs)} input(s) "
                           f"({', '.join(repr(i.name) for i in inputs)}), got {len(arrays)} example input(s)")
    for index, (graph_input, array) in enumerate(zip(inputs, arrays)):
        check_input(graph_input, index, array)
        dims = graph_input.type.tensor_type.shape.dim
        if not dims:  # no shape recorded: the example's
            dims.extend(onnx.TensorShapeProto.Dimension() for _ in array.shape)
        for dim, size in zip(dims, array.shape):
            dim.ClearField("dim_param")
            dim.dim_value = size


def check_input(graph_input: onnx.ValueInfoProto, index: int, array: np.ndarray) -> None:
    """FretsawError unless `array` can feed `graph_input`: a float32 tensor of its rank and static sizes."""
    name = f"ONNX input '{graph_input.name}' (input {index})"
    kind = graph_input.type.WhichOneof("value")
    if kind != "tensor_type":
        raise FretsawError(f"{name} is of {(kind or 'no').replace('_type', '')} type, not a tensor: fretsaw "
                           f"compiles models whose inputs are float32 tensors")
    tensor_type = graph_input.type.tensor_type
    if tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise FretsawError(f"{name} has element type {onnx.TensorProto.DataType.Name(tensor_type.elem_type)}: "
                           f"fretsaw compiles models whose inputs are float32; export the model with a "
                           f"float32 input (or make this input a constant initializer)")
    if 0 in array.shape:
        raise FretsawError(f"example input {index} for {name} has shape {tuple(array.shape)}, with no elements: "
                           f"fretsaw compiles tensors of at least one element")
    if not tensor_type.HasField("shape"):
        return
    declared = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor_type.shape.dim]
    shown = "(" + ", ".join(map(str, declared)) + ")"
    if len(declared) != array.ndim:
        raise FretsawError(f"{name} is declared with shape {shown} (rank {len(declared)}), but example "
                           f"input {index} has shape {tuple(array.shape)}; pass an example input of rank "
                           f"{len(declared)}")
    fixed = [i for i, (d, size) in enumerate(zip(declared, array.shape)) if isinstance(d, int) and d != size]
    if fixed:
        raise FretsawError(f"{name} is declared with static shape {shown}, but example input {index} has shape "
                           f"{tuple(array.shape)} (dimension {', '.join(map(str, fixed))} differs); pass an "
                           f"example input of the declared shape, or re-export the model with that dimension "
                           f"dynamic (torch.onnx.export(..., dynamic_axes={{'{graph_input.name}': "
                           f"{{{fixed[0]}: 'n'}}}}))")


def import_onnx(model, ctx: ir.Context, example_inputs=None) -> ir.Module:
    """Import an ONNX model into torch-dialect IR (function @main) in context `ctx`."""
    proto = onnx.ModelProto()
    proto.CopyFrom(load_model(model))
    proto = upgrade_opset(proto)
    check_supported(proto)
    crop_negative_pads(proto)
    fix_input_shapes(proto, example_inputs)
    proto = fold_batchnorm(proto)
    try:
        proto = onnx.shape_inference.infer_shapes(proto, data_prop=True)
        check_resize(proto)
        spread_depthwise_3d(proto)
        info = onnx_importer.ModelInfo(proto, config=IMPORT_CONFIG)
        module = info.create_module(context=ctx)
        importer = onnx_importer.NodeImporter.define_function(info.main_graph, module.operation,
                                                             context_cache=DenseInitializers(ctx))
        importer.import_all()
    except onnx_importer.OnnxImportError as error:
        raise FretsawError(f"the ONNX importer rejected the model: {error}") from error
    func = next(op for op in module.body.operations if op.operation.name == "func.func")
    func.attributes["sym_name"] = ir.StringAttr.get("main", ctx)
    return module
