"""ONNX import: an .onnx file or onnx.ModelProto -> torch dialect, via torch-mlir's ONNX importer.

Before import, Conv -> BatchNormalization pairs with constant parameters are folded into the
conv (as for PyTorch models), and dynamic input dimensions are fixed to the example inputs'.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import numpy_helper
from torch_mlir import ir
from torch_mlir.extras import onnx_importer

from fretsaw.errors import FretsawError

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
    try:
        return onnx.load(path)
    except Exception as error:
        raise FretsawError(f"cannot read ONNX file {path}: {error}") from error


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
                             (weight * scale.reshape(-1, 1, 1, 1)).astype(np.float32))
        bias_name = conv.output[0] + "_fretsaw_folded_bias"
        graph.initializer.append(numpy_helper.from_array(((bias - mean) * scale + beta).astype(np.float32),
                                                         bias_name))
        del conv.input[2:]
        conv.input.append(bias_name)
        conv.output[0] = bn.output[0]
        graph.node.remove(bn)
    return model


def _replace_initializer(graph, inits, name: str, array: np.ndarray) -> None:
    graph.initializer.remove(inits[name])
    inits[name] = numpy_helper.from_array(array, name)
    graph.initializer.append(inits[name])


def fix_input_shapes(model: onnx.ModelProto, example_inputs) -> None:
    """Give every graph input the example input's static shape."""
    if example_inputs is None:
        return
    arrays = [np.asarray(getattr(x, "detach", lambda: x)()) for x in
              (example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,))]
    initializer_names = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializer_names]
    if len(arrays) != len(inputs):
        raise FretsawError(f"the ONNX model takes {len(inputs)} input(s), got {len(arrays)} example input(s)")
    for graph_input, array in zip(inputs, arrays):
        dims = graph_input.type.tensor_type.shape.dim
        if len(dims) != array.ndim:
            raise FretsawError(f"ONNX input '{graph_input.name}' has rank {len(dims)}, "
                               f"example input has shape {array.shape}")
        for dim, size in zip(dims, array.shape):
            dim.ClearField("dim_param")
            dim.dim_value = size


def import_onnx(model, ctx: ir.Context, example_inputs=None) -> ir.Module:
    """Import an ONNX model into torch-dialect IR (function @main) in context `ctx`."""
    proto = onnx.ModelProto()
    proto.CopyFrom(load_model(model))
    fix_input_shapes(proto, example_inputs)
    proto = fold_batchnorm(proto)
    try:
        proto = onnx.shape_inference.infer_shapes(proto, data_prop=True)
        info = onnx_importer.ModelInfo(proto)
        module = info.create_module(context=ctx)
        importer = onnx_importer.NodeImporter.define_function(info.main_graph, module.operation,
                                                             context_cache=DenseInitializers(ctx))
        importer.import_all()
    except onnx_importer.OnnxImportError as error:
        raise FretsawError(f"the ONNX importer rejected the model: {error}") from error
    func = next(op for op in module.body.operations if op.operation.name == "func.func")
    func.attributes["sym_name"] = ir.StringAttr.get("main", ctx)
    return module
