"""PyTorch import: nn.Module + example inputs -> torch dialect (via torch.export and the FX importer).

BatchNorm in eval mode is folded into the preceding convolution first (a per-channel scale,
so exact zeros stay zeros). Parameters are imported as inline dense constants so that
pconv-raise can read the weights.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
import torch.fx
from torch_mlir import ir
from torch_mlir.extras.fx_decomp_util import get_decomposition_table
from torch_mlir.extras.fx_importer import ContextCache, FxImporter, FxImporterHooks

from fretsaw.errors import FretsawError

# torch backend IR -> linalg on tensors, with torch-mlir's own pipelines.
TO_LINALG = ("builtin.module(func.func(torch-match-quantized-custom-ops), "
             "torchdynamo-export-to-torch-backend-pipeline{extra-library=}, "
             "torch-backend-to-linalg-on-tensors-backend-pipeline)")


class DenseLiterals(FxImporterHooks):
    """Import float tensors as DenseElementsAttr (readable from Python), not resource blobs."""

    def resolve_literal(self, gni, literal, info):
        if not isinstance(literal, torch.Tensor) or literal.dtype != torch.float32 or literal.numel() <= 1:
            return None
        array = literal.detach().cpu().contiguous().numpy()
        attr = ir.DenseElementsAttr.get(array)
        vtensor_type = gni._cc.tensor_to_vtensor_type(literal)
        return ir.Operation.create("torch.vtensor.literal", results=[vtensor_type],
                                   attributes={"value": attr}).result


def fold_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` with every Conv2d -> BatchNorm2d pair folded into the conv.

    Uses torch.fx symbolic tracing; a model that does not trace is returned unchanged (its
    BatchNorms then run as separate elementwise ops).
    """
    try:
        traced = torch.fx.symbolic_trace(copy.deepcopy(model))
    except Exception:
        return model
    modules = dict(traced.named_modules())
    changed = False
    for node in list(traced.graph.nodes):
        bn = modules.get(node.target) if node.op == "call_module" else None
        if not isinstance(bn, torch.nn.BatchNorm2d) or not bn.track_running_stats:
            continue
        src = node.args[0]
        conv = modules.get(src.target) if isinstance(src, torch.fx.Node) and src.op == "call_module" else None
        if not isinstance(conv, torch.nn.Conv2d) or len(src.users) != 1:
            continue
        _fold_into(conv, bn)
        node.replace_all_uses_with(src)
        traced.graph.erase_node(node)
        changed = True
    if not changed:
        return model
    traced.graph.lint()
    traced.recompile()
    return traced


@torch.no_grad()
def _fold_into(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d) -> None:
    scale = (bn.weight if bn.affine else torch.ones_like(bn.running_var)) / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    conv.bias = torch.nn.Parameter((bias - bn.running_mean) * scale + shift)


def import_torch(model: torch.nn.Module, example_inputs: tuple, ctx: ir.Context) -> ir.Module:
    """Import `model` into torch-dialect IR (function @main) in context `ctx`."""
    if model.training:
        raise FretsawError("fretsaw compiles inference: call model.eval() before fretsaw.compile() "
                           "(the model is in training mode, so BatchNorm and Dropout would not be "
                           "those of inference)")
    model = fold_batchnorm(model)
    try:
        with warnings.catch_warnings():  # torch.export's own deprecation chatter, not the user's
            warnings.simplefilter("ignore", FutureWarning)
            program = torch.export.export(model, tuple(example_inputs), strict=False)
            program = program.run_decompositions(get_decomposition_table())
    except Exception as error:
        raise FretsawError(f"torch.export could not capture the model: {type(error).__name__}: {error}") from error
    importer = FxImporter(context=ctx, hooks=DenseLiterals())
    importer._cc = ModulePathLocations(ctx, py_attr_tracker=importer._py_attr_tracker)
    importer.import_frozen_program(program, func_name="main")
    return importer.module


class ModulePathLocations(ContextCache):
    """Prefix each op's source location with its submodule path (`features.3`), so errors
    and cm.stats() name layers as the user's model does."""

    __slots__ = ()

    def get_node_location(self, node):
        loc = super().get_node_location(node) or ir.Location.unknown(self._c)
        stack = node.meta.get("nn_module_stack")
        if not stack:
            return loc
        path = list(stack.values())[-1][0]
        if not path:
            return loc
        return ir.Location.name(path, childLoc=loc, context=self._c)


def torch_inputs(example_inputs) -> tuple:
    """Example inputs as a tuple of float32 torch tensors."""
    if isinstance(example_inputs, (torch.Tensor, np.ndarray)):
        example_inputs = (example_inputs,)
    return tuple(torch.as_tensor(x) for x in example_inputs)
