"""PyTorch import: nn.Module + example inputs -> torch dialect (via torch.export and the FX importer).

BatchNorm in eval mode is folded into the preceding convolution first (a per-channel scale,
so exact zeros stay zeros). Parameters are imported as inline dense constants so that
pconv-raise can read the weights. A pad by negative amounts (a crop) becomes a slice and a
non-negative pad. An op whose result shape depends on the data (nonzero, masked_select, ...)
is refused here, named with its layer, before any lowering. A 3-D depthwise conv, which
Torch-MLIR does not lower, becomes a grouped conv with zero kernels (frontend/depthwise.py).
"""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import torch
import torch.fx
from torch_mlir import ir
from torch_mlir.extras.fx_decomp_util import get_decomposition_table
from torch_mlir.extras.fx_importer import ContextCache, FxImporter, FxImporterHooks

from fretsaw.dialect.pconv import elements_to_numpy, walk_ops
from fretsaw.errors import FretsawError
from fretsaw.frontend import depthwise
from fretsaw.passes.match import producer

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


PAD = torch.ops.aten.constant_pad_nd.default


def crop_then_pad(x: torch.Tensor, pad: list[int], value: float = 0.0):
    """aten.constant_pad_nd with negative amounts (`nn.ZeroPad2d((-1, 1, -2, 0))`) as slices of the
    kept part, then a pad by the non-negative amounts; NotImplemented (the op stays) when none is negative.

    Torch-MLIR lowers a negative pad to a tensor.pad with negative amounts, which upstream MLIR does
    not support: canonicalization merges it with a following pad (a conv's) by adding the amounts,
    so a cropped row comes back instead of a zero one, and bufferization rejects it."""
    if min(pad) >= 0:
        return NotImplemented
    pairs = [(x.dim() - 1 - i, pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)]
    if any(x.shape[dim] - max(-low, 0) - max(-high, 0) == 0 for dim, low, high in pairs):
        # nothing of the input is kept (`F.pad(x, (1, -1))` on one column): every output is `value`
        # (an empty slice made bufferization fail: "offset 4 is out-of-bounds: 1 >= 1: 'memref.subview'")
        shape = list(x.shape)
        for dim, low, high in pairs:
            shape[dim] += low + high
        return x.new_full(shape, value)
    for i in range(len(pad) // 2):  # pad lists (low, high) pairs from the last dimension backwards
        dim, low, high = x.dim() - 1 - i, pad[2 * i], pad[2 * i + 1]
        if min(low, high) < 0:
            x = torch.ops.aten.slice.Tensor(x, dim, max(-low, 0), x.shape[dim] - max(-high, 0))
    if max(pad) <= 0:
        return x
    return PAD(x, [max(amount, 0) for amount in pad], value)


# BatchNorm class -> the conv class of the same rank it folds into
PAIRS = {torch.nn.BatchNorm1d: torch.nn.Conv1d, torch.nn.BatchNorm2d: torch.nn.Conv2d,
         torch.nn.BatchNorm3d: torch.nn.Conv3d}


def fold_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` with every ConvNd -> BatchNormNd pair (1, 2 or 3 spatial dims, alike)
    folded into the conv.

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
        conv_class = next((c for b, c in PAIRS.items() if isinstance(bn, b)), None)
        if conv_class is None or not bn.track_running_stats:
            continue
        src = node.args[0]
        conv = modules.get(src.target) if isinstance(src, torch.fx.Node) and src.op == "call_module" else None
        if not isinstance(conv, conv_class) or len(src.users) != 1:
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
def _fold_into(conv: torch.nn.modules.conv._ConvNd, bn: torch.nn.modules.batchnorm._BatchNorm) -> None:
    scale = (bn.weight if bn.affine else torch.ones_like(bn.running_var)) / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.weight.copy_(conv.weight * scale.reshape(-1, *[1] * (conv.weight.dim() - 1)))
    conv.bias = torch.nn.Parameter((bias - bn.running_mean) * scale + shift)


GELU = torch.ops.aten.gelu.default


def tanh_gelu(x: torch.Tensor, approximate: str = "none"):
    """aten.gelu with approximate="tanh" as PyTorch computes it; NotImplemented (the op stays) for
    the erf form. Torch-MLIR lowers the tanh form with 0.797724 for sqrt(2 / pi) = 0.7978846, a
    relative error of 2e-4 inside the tanh (outputs off by up to 5e-5 near x = 1.3)."""
    if approximate != "tanh":
        return NotImplemented
    inner = (x + 0.044715 * x * x * x) * 0.7978845608028654
    return 0.5 * x * (1 + torch.tanh(inner))


ADAPTIVE_MAX = torch.ops.aten.adaptive_max_pool2d.default


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows [start, end) of `out` outputs over `size` inputs."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def even(windows: list[tuple[int, int]]) -> bool:
    """Whether adaptive pooling's windows are a plain pool's: one size, one step between them."""
    return len({e - s for s, e in windows}) == 1 and len({b[0] - a[0] for a, b in zip(windows, windows[1:])}) < 2


def uneven_adaptive_max_pool(x: torch.Tensor, output_size: list[int]):
    """aten.adaptive_max_pool2d whose windows do not step evenly (8 rows to 3: rows 0-2, 2-5, 5-7) as
    a max over a gather of every window's taps (a short window repeats its last tap), the indices
    picked alongside; NotImplemented (the op stays) when they do. Torch-MLIR lowers the op as max
    pooling with one kernel and stride: uneven windows failed to compile ('tensor.cast' op ... cast
    incompatible) or compiled with a run-time assertion that aborted the process on the first call."""
    (h, w), (oh, ow) = x.shape[-2:], output_size
    rows, cols = adaptive_windows(h, oh), adaptive_windows(w, ow)
    if even(rows) and even(cols):
        return NotImplemented
    kh, kw = max(e - s for s, e in rows), max(e - s for s, e in cols)

    def taps(size: int, out: int, k: int) -> torch.Tensor:  # out x k input positions, clamped to the window
        i = torch.arange(out)
        start, end = i * size // out, ((i + 1) * size + out - 1) // out
        return torch.minimum(start[:, None] + torch.arange(k), end[:, None] - 1)

    index = (taps(h, oh, kh)[:, None, :, None] * w + taps(w, ow, kw)[None, :, None, :]).reshape(oh, ow, kh * kw)
    values = x.flatten(-2).index_select(-1, index.flatten()).unflatten(-1, (oh, ow, kh * kw))
    top, pick = values.max(-1)
    return top, index.expand(values.shape).gather(-1, pick.unsqueeze(-1)).squeeze(-1)


ADAPTIVE_MAX_3D = torch.ops.aten.adaptive_max_pool3d.default
ADAPTIVE_AVG_3D = torch.ops.aten._adaptive_avg_pool3d.default


def adaptive_pool3d(x: torch.Tensor, output_size: list[int], kind: str):
    """aten.adaptive_max_pool3d / _adaptive_avg_pool3d (`kind` "max" / "avg") as the plain pool
    of the same windows where they step evenly (16 frames to 8: 2 frames a window, 2 apart), or as
    a max / mean over the flattened D x H x W volume to one output; NotImplemented (the op stays)
    otherwise. Torch-MLIR lowers the op to a generic that computes every window's bounds per
    output and reads its taps one by one (left to scalar loops); a plain pool or a reduction
    becomes dense-vectorize's SIMD loops. Indices (max) are those of the input volume flattened,
    as the op's are."""
    if list(output_size) == [1, 1, 1]:
        flat = x.flatten(-3)
        if kind == "avg":
            return flat.mean(-1)[..., None, None, None]
        values, indices = flat.max(-1)
        return values[..., None, None, None], indices[..., None, None, None]
    windows = [adaptive_windows(size, out) for size, out in zip(x.shape[-3:], output_size)]
    if not all(even(w) and (len(w) == 1 or w[1][0] > w[0][0]) for w in windows):
        return NotImplemented  # (one input to several outputs steps by 0: no plain pool)
    kernel = [e - s for s, e in (w[0] for w in windows)]
    stride = [w[1][0] - w[0][0] if len(w) > 1 else k for w, k in zip(windows, kernel)]
    if kind == "avg":
        return torch.ops.aten.avg_pool3d(x, kernel, stride)
    return torch.ops.aten.max_pool3d_with_indices(x, kernel, stride)


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
            program = program.run_decompositions(get_decomposition_table() | {
                PAD: crop_then_pad, GELU: tanh_gelu, ADAPTIVE_MAX: uneven_adaptive_max_pool,
                ADAPTIVE_MAX_3D: lambda x, size: adaptive_pool3d(x, size, "max"),
                ADAPTIVE_AVG_3D: lambda x, size: adaptive_pool3d(x, size, "avg")})
    except Exception as error:
        layer = failing_layer(model, example_inputs)
        raise FretsawError(f"torch.export could not capture the model{layer}: "
                           f"{type(error).__name__}: {error}") from error
    importer = FxImporter(context=ctx, hooks=DenseLiterals())
    importer._cc = ModulePathLocations(ctx, py_attr_tracker=importer._py_attr_tracker)
    importer.import_frozen_program(program, func_name="main")
    check_static_shapes(importer.module)
    spread_depthwise_3d(importer.module, importer._cc)
    return importer.module


def spread_depthwise_3d(module: ir.Module, types: ContextCache) -> None:
    """Each 3-D depthwise torch.aten.convolution that Torch-MLIR would refuse takes the spread weights
    and fewer groups of depthwise.spread (the same outputs); FretsawError, naming the layer, when
    its weights are not constants."""
    for conv in walk_ops(module.operation, "torch.aten.convolution"):
        weight_op, transposed, groups = (producer(conv.operands[i]) for i in (1, 6, 8))
        if groups is None or groups.name != "torch.constant.int" or transposed is None or \
                transposed.name != "torch.constant.bool" or transposed.attributes["value"].value:
            continue  # (a transposed conv's weight is Cin x Cout/groups: not the refused case)
        groups = groups.attributes["value"].value
        if not depthwise.refused(vtensor_shape(conv.operands[1]), groups):
            continue
        if weight_op is None or weight_op.name != "torch.vtensor.literal":
            layer = f" in layer '{conv.location.name_str}'" if isinstance(conv.location, ir.NameLoc) else ""
            raise FretsawError(f"the 3-D depthwise convolution{layer} (groups = in = out channels = {groups}) takes "
                               f"weights computed at run time: Torch-MLIR lowers no 3-D depthwise conv, and fretsaw "
                               f"passes one through only with constant weights; make the weights the layer's "
                               f"parameters (nn.Conv3d) or buffers", op=conv.name, location=str(conv.location))
        weight, groups = depthwise.spread(elements_to_numpy(weight_op.attributes["value"]).astype(np.float32), groups)
        with ir.InsertionPoint(conv), conv.location:
            literal = ir.Operation.create("torch.vtensor.literal",
                                          results=[types.create_vtensor_type(torch.float32, torch.Size(weight.shape))],
                                          attributes={"value": ir.DenseElementsAttr.get(weight)})
            count = ir.Operation.create("torch.constant.int", results=[conv.operands[8].type],
                                        attributes={"value": ir.IntegerAttr.get(ir.IntegerType.get_signless(64),
                                                                                groups)})
        conv.operands[1] = literal.result
        conv.operands[8] = count.result


def failing_layer(model: torch.nn.Module, example_inputs: tuple) -> str:
    """" in layer 'path' (Type)" when `model` also fails when run eagerly, naming the innermost
    submodule whose forward raised (PyTorch's own errors do not say which layer); else ""."""
    modules = {name: module for name, module in model.named_modules() if name}
    running, handles = [], []
    for name, module in modules.items():
        handles.append(module.register_forward_pre_hook(lambda _m, _a, name=name: running.append(name)))
        handles.append(module.register_forward_hook(lambda *_: running.pop()))
    try:
        with torch.no_grad():
            model(*example_inputs)
    except Exception:
        if running:
            return (f" in layer '{running[-1]}' ({type(modules[running[-1]]).__name__}), where PyTorch itself fails "
                    f"on these example inputs (fix the layer or the input shapes)")
    finally:
        for handle in handles:
            handle.remove()
    return ""


VTENSOR = re.compile(r"!torch\.vtensor<\[([^\]]*)\]")


def vtensor_shape(value: ir.Value) -> list[int | None]:
    """The sizes of a !torch.vtensor value (None for a dynamic one), [] for other types."""
    found = VTENSOR.match(str(value.type))
    if found is None or not found.group(1):
        return []
    return [None if size == "?" else int(size) for size in found.group(1).split(",")]


def check_static_shapes(module: ir.Module) -> None:
    """Refuse the first op whose result has a data-dependent size (`?`): fretsaw compiles static shapes."""
    dynamic = []

    def visit(op):
        shapes = [found.group(1) for r in op.results for found in [VTENSOR.match(str(r.type))] if found]
        if not dynamic and any("?" in shape for shape in shapes):
            dynamic.append((op, next(shape for shape in shapes if "?" in shape)))
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    if not dynamic:
        return
    op, shape = dynamic[0]
    layer = f" in layer '{op.location.name_str}'" if isinstance(op.location, ir.NameLoc) else ""
    raise FretsawError(f"'{op.name}'{layer} gives a tensor of shape [{shape}], whose size depends on the input "
                       f"values; fretsaw compiles models whose every tensor has a static shape (fixed by the "
                       f"example inputs): compute this op outside the compiled model", op=op.name,
                       location=str(op.location))


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
