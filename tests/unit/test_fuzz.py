"""Differential fuzzer (issue 16): random small graphs over the ops fretsaw accepts, compiled for
the host and compared with PyTorch on the same (masked) weights and inputs.

A graph is data (`Graph`: input shapes, a list of `Node`s, the outputs and a seed for weights and
inputs), so hypothesis prints a failing graph as a ready repro:

    from test_fuzz import Graph, Node, check_graph
    check_graph(Graph(inputs=..., nodes=(...), outputs=(...), seed=...))

Ops: conv (kernel 1/3/5/7, square or not, stride 1-3, padding, dilation 1-3, groups, depthwise,
bias or not; dense, pattern-pruned with fretsaw.prune's library, kernels removed, random zero
taps, whole filters or the whole layer emptied) with an optional BatchNorm (random running
statistics) and activation; BatchNorm alone; ReLU / ReLU6 / clamp / GELU (erf and tanh) / SiLU /
hardswish / sigmoid / tanh / leaky ReLU / a scalar affine; max, average (ceil mode, padding in or
out of the count), adaptive average and adaptive max pooling; zero or constant padding and crops;
linear layers channels-last over N-D tensors (with an MLP's GELU) and over flattened 2-D ones;
LayerNorm channels-last through permutes; permutes, reshapes and channel shuffles; add, sub, mul
and maximum with broadcasting (SE-style gates), a fused ReLU after them; concat along any dim;
mean / sum / amax reductions. Every node reads any earlier value (shared inputs and residual
branches), there are one or two inputs and one to three outputs. Shapes stay small (batch 1-2,
channels 1-24, spatial 1-20) so a graph compiles in one to three seconds.

Tolerances: conftest's rtol 1e-4 and atol 1e-5 relative to the output's scale (atol x max(1,
max |output|)); weights are drawn with variance 1 / fan-in so values stay of order one.

Profiles: `make test` runs FIXED_EXAMPLES graphs from a fixed seed (derandomized; few enough to
keep `make test` short); `make fuzz` runs FRETSAW_FUZZ_EXAMPLES graphs (default 500) from a
random seed it prints (FRETSAW_FUZZ_SEED=n replays a run), each in a forked process so that a
crash or a hang in the compiler fails that graph (and hypothesis shrinks and prints it) instead
of the run.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import multiprocessing
import os
import traceback

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

import fretsaw
from conftest import ATOL, RTOL
from fretsaw.prune import random_pattern_prune

FIXED_EXAMPLES = 85
MAX_CHANNELS, MAX_SPATIAL = 24, 20
ACTIVATIONS = ("relu", "relu6", "clamp", "gelu", "gelu_tanh", "silu", "hardswish", "sigmoid", "tanh", "leaky_relu",
               "affine")
CONV_ACTIVATIONS = ("none", "none", "relu", "relu6", "clamp") + ACTIVATIONS[3:-1]


@dataclasses.dataclass(frozen=True)
class Node:
    """One layer: `op`, the indices of the values it reads (graph inputs first, then the nodes'
    results in order), its parameters and the shape of its result."""

    op: str
    inputs: tuple[int, ...]
    params: dict
    shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Graph:
    inputs: tuple[tuple[int, ...], ...]
    nodes: tuple[Node, ...]
    outputs: tuple[int, ...]
    seed: int


# ---------------------------------------------------------------------------------------------
# The model: layers built from the nodes, weights and inputs drawn from the graph's seed.


def normal(gen: torch.Generator, shape, std: float = 1.0, mean: float = 0.0) -> torch.Tensor:
    return torch.randn(shape, generator=gen) * std + mean


def uniform(gen: torch.Generator, shape, low: float, high: float) -> torch.Tensor:
    return torch.rand(shape, generator=gen) * (high - low) + low


@torch.no_grad()
def make_conv(node: Node, cin: int, gen: torch.Generator) -> nn.Module:
    p = node.params
    conv = nn.Conv2d(cin, p["out"], p["kernel"], p["stride"], p["padding"], p["dilation"], p["groups"],
                     bias=p["bias"])
    cout, cin_g, kh, kw = conv.weight.shape
    conv.weight.copy_(normal(gen, conv.weight.shape, (1.0 / (cin_g * kh * kw)) ** 0.5))
    if conv.bias is not None:
        conv.bias.copy_(normal(gen, cout, 0.5))
    if p["pattern"] and (kh, kw) == (3, 3):
        random_pattern_prune(conv, num_patterns=p["pattern"], connectivity=p["connectivity"],
                             seed=int(torch.randint(0, 2**31, (1,), generator=gen)), skip_first=False)
    else:
        kernels = torch.rand((cout, cin_g, 1, 1), generator=gen) < p["connectivity"]
        taps = torch.rand((cout, cin_g, kh, kw), generator=gen) < p["taps"]
        conv.weight.mul_(kernels & taps)
    dead = torch.rand((cout, 1, 1, 1), generator=gen) < p["dead_filters"]
    conv.weight.mul_(~dead)
    layers = [conv]
    if p["bn"]:
        layers.append(make_batchnorm(cout, gen))
    if p["act"] != "none":
        layers.append(Activation(p["act"]))
    return nn.Sequential(*layers)


@torch.no_grad()
def make_batchnorm(channels: int, gen: torch.Generator) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels)
    bn.running_mean.copy_(normal(gen, channels, 0.5))
    bn.running_var.copy_(uniform(gen, channels, 0.2, 2.0))
    bn.weight.copy_(uniform(gen, channels, 0.5, 1.5))
    bn.bias.copy_(normal(gen, channels, 0.3))
    return bn.eval()


@torch.no_grad()
def make_linear(cin: int, cout: int, bias: bool, gen: torch.Generator) -> nn.Linear:
    linear = nn.Linear(cin, cout, bias=bias)
    linear.weight.copy_(normal(gen, linear.weight.shape, (1.0 / cin) ** 0.5))
    if bias:
        linear.bias.copy_(normal(gen, cout, 0.5))
    return linear


@torch.no_grad()
def make_layernorm(channels: int, affine: bool, gen: torch.Generator) -> nn.LayerNorm:
    norm = nn.LayerNorm(channels, eps=1e-5, elementwise_affine=affine)
    if affine:
        norm.weight.copy_(uniform(gen, channels, 0.5, 1.5))
        norm.bias.copy_(normal(gen, channels, 0.3))
    return norm


class Activation(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, x):
        return activation(self.kind, x)


def activation(kind: str, x: torch.Tensor) -> torch.Tensor:
    if kind == "relu":
        return torch.relu(x)
    if kind == "relu6":
        return F.relu6(x)
    if kind == "clamp":
        return torch.clamp(x, 0.0, 6.0)
    if kind == "gelu":
        return F.gelu(x)
    if kind == "gelu_tanh":
        return F.gelu(x, approximate="tanh")
    if kind == "silu":
        return F.silu(x)
    if kind == "hardswish":
        return F.hardswish(x)
    if kind == "sigmoid":
        return torch.sigmoid(x)
    if kind == "tanh":
        return torch.tanh(x)
    if kind == "leaky_relu":
        return F.leaky_relu(x, 0.1)
    if kind == "affine":
        return x * 0.75 - 0.25
    raise ValueError(kind)


def make_layer(node: Node, shapes: list[tuple[int, ...]], gen: torch.Generator) -> nn.Module:
    p, first = node.params, shapes[node.inputs[0]]
    if node.op == "conv":
        return make_conv(node, first[1], gen)
    if node.op == "bn":
        return make_batchnorm(first[1], gen)
    if node.op == "pool":
        return make_pool(p)
    if node.op == "linear_cl":
        layers = [make_linear(first[1], p["out"], p["bias"], gen)]
        if p["act"] != "none":
            layers += [Activation(p["act"]), make_linear(p["out"], first[1], p["bias"], gen)]
        return nn.Sequential(*layers)
    if node.op == "linear_2d":
        layers = [make_linear(math.prod(first[1:]), p["out"], p["bias"], gen)]
        if p["act"] != "none":
            layers.append(Activation(p["act"]))
        return nn.Sequential(*layers)
    if node.op == "layernorm_cl":
        return make_layernorm(first[1], p["affine"], gen)
    return nn.Identity()


def make_pool(p: dict) -> nn.Module:
    kind = p["kind"]
    if kind == "max":
        return nn.MaxPool2d(p["kernel"], p["stride"], p["padding"], p["dilation"], ceil_mode=p["ceil"])
    if kind == "avg":
        return nn.AvgPool2d(p["kernel"], p["stride"], p["padding"], ceil_mode=p["ceil"],
                            count_include_pad=p["count_pad"])
    if kind == "adaptive_avg":
        return nn.AdaptiveAvgPool2d(p["size"])
    return nn.AdaptiveMaxPool2d(p["size"])


class FuzzNet(nn.Module):
    """The graph as a module: `forward` runs the nodes in order over a list of values."""

    def __init__(self, graph: Graph):
        super().__init__()
        self.graph = graph
        gen = torch.Generator().manual_seed(graph.seed)
        shapes = list(graph.inputs) + [node.shape for node in graph.nodes]
        self.layers = nn.ModuleList(make_layer(node, shapes, gen) for node in graph.nodes)

    def forward(self, *inputs):
        values = list(inputs)
        for node, layer in zip(self.graph.nodes, self.layers):
            values.append(run_node(node, layer, [values[i] for i in node.inputs]))
        outputs = tuple(values[i] for i in self.graph.outputs)
        return outputs[0] if len(outputs) == 1 else outputs


def run_node(node: Node, layer: nn.Module, args: list):
    p, x = node.params, args[0]
    if node.op in ("conv", "bn", "pool"):
        return layer(x)
    if node.op == "act":
        return activation(p["kind"], x)
    if node.op in ("linear_cl", "layernorm_cl"):
        return layer(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    if node.op == "linear_2d":
        return layer(x.flatten(1)).reshape(node.shape)
    if node.op == "pad":
        return F.pad(x, p["pads"], value=p["value"])
    if node.op == "permute":
        return x.permute(0, *p["dims"])
    if node.op == "reshape":
        return x.reshape(node.shape)
    if node.op == "shuffle":
        n, c, h, w = x.shape
        g = p["groups"]
        return x.reshape(n, g, c // g, h, w).transpose(1, 2).reshape(n, c, h, w)
    if node.op == "binary":
        y = binary(p["kind"], x, args[1])
        return torch.relu(y) if p["relu"] else y
    if node.op == "cat":
        return torch.cat(args, dim=p["dim"])
    if node.op == "reduce":
        return reduce(p["kind"], x, p["dims"])
    raise ValueError(node.op)


def binary(kind: str, x, y):
    if kind == "add":
        return x + y
    if kind == "sub":
        return x - y
    if kind == "mul":
        return x * y
    return torch.maximum(x, y)


def reduce(kind: str, x, dims):
    if kind == "mean":
        return x.mean(dim=dims, keepdim=True)
    if kind == "sum":
        return x.sum(dim=dims, keepdim=True)
    return x.amax(dim=dims, keepdim=True)


def graph_inputs(graph: Graph) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(graph.seed + 1)
    return tuple(torch.randn(shape, generator=gen) for shape in graph.inputs)


def check_graph(graph: Graph) -> None:
    """Compile `graph` for the host and compare every output with PyTorch's (rtol 1e-4, atol
    1e-5 x the output's scale)."""
    model = FuzzNet(graph).eval()
    inputs = graph_inputs(graph)
    with torch.no_grad():
        want = model(*inputs)
    want = (want,) if isinstance(want, torch.Tensor) else want
    cm = fretsaw.compile(model, inputs, target="host")
    got = cm(*inputs)
    got = (got,) if isinstance(got, np.ndarray) else got
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        w = w.numpy()
        assert g.shape == w.shape, f"output {i}: shape {g.shape}, PyTorch {w.shape}"
        scale = max(1.0, float(np.abs(w).max(initial=0.0)))
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL * scale, err_msg=f"output {i}")


def _child(graph: Graph, connection) -> None:
    try:
        check_graph(graph)
        connection.send(None)
    except BaseException as error:  # noqa: BLE001 (reported to the parent)
        connection.send(f"{type(error).__name__}: {error}\n{traceback.format_exc()}")


def check_graph_isolated(graph: Graph, timeout: float = 600.0) -> None:
    """check_graph in a forked process, so that a crash (a signal in MLIR or LLVM) or a hang fails
    this graph, printed by hypothesis, instead of killing the fuzzer."""
    parent, child = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(target=_child, args=(graph, child))
    process.start()
    child.close()
    if not parent.poll(timeout):
        process.kill()
        process.join()
        raise AssertionError(f"no answer within {timeout:.0f} s (a hang)")
    try:
        message = parent.recv()
    except EOFError:  # the child died without a word
        process.join()
        message = f"the compiler crashed (exit code {process.exitcode}, a negative code is the signal)"
    process.join()
    if message is None:
        return
    raise AssertionError(message)


# ---------------------------------------------------------------------------------------------
# The strategy: nodes drawn one at a time over the shapes drawn so far.


def pick(draw, shapes, ok=lambda s: True) -> int | None:
    """The index of a value whose shape satisfies `ok`, the most recent ones first (so that
    shrinking gives chains)."""
    candidates = [i for i in reversed(range(len(shapes))) if ok(shapes[i])]
    if not candidates:
        return None
    return candidates[draw(st.integers(0, len(candidates) - 1))]


def is_4d(shape) -> bool:
    return len(shape) == 4


def conv_node(draw, shapes):
    i = pick(draw, shapes, is_4d)
    n, c, h, w = shapes[i]
    kernel = (draw(st.sampled_from([3, 1, 5, 7])),)
    kernel = kernel * 2 if draw(st.booleans()) else kernel + (draw(st.sampled_from([1, 3, 5, 7])),)
    stride = tuple(draw(st.integers(1, 3)) for _ in range(2)) if draw(st.booleans()) else (1, 1)
    padding, dilation = [], []
    for size, k in zip((h, w), kernel):
        pad = draw(st.integers(max(0, -(-(k - size) // 2)), k // 2 + 1))
        most = (size + 2 * pad - 1) // (k - 1) if k > 1 else 1
        padding.append(pad)
        dilation.append(draw(st.integers(1, min(most, 3))) if k > 1 else 1)
    divisors = [g for g in range(1, c + 1) if c % g == 0]
    group_kind = draw(st.sampled_from(["dense", "dense", "depthwise", "grouped"]))
    if group_kind == "dense" or c == 1:
        groups = 1
    elif group_kind == "depthwise":
        groups = c
    else:
        groups = draw(st.sampled_from(divisors))
    if group_kind == "depthwise":
        out = c * draw(st.integers(1, 2))
    else:
        out = groups * draw(st.integers(1, max(1, MAX_CHANNELS // groups)))
    oh = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    params = dict(out=out, kernel=kernel, stride=stride, padding=tuple(padding), dilation=tuple(dilation),
                  groups=groups, bias=draw(st.booleans()),
                  pattern=draw(st.sampled_from([0, 8, 4, 1])),
                  connectivity=draw(st.sampled_from([1.0, 0.75, 0.5, 0.25])),
                  taps=draw(st.sampled_from([1.0, 1.0, 0.5])),
                  dead_filters=draw(st.sampled_from([0.0, 0.0, 0.25, 0.5, 1.0])),
                  bn=draw(st.booleans()), act=draw(st.sampled_from(CONV_ACTIVATIONS)))
    return Node("conv", (i,), params, (n, out, oh, ow))


def bn_node(draw, shapes):
    i = pick(draw, shapes, is_4d)
    return Node("bn", (i,), {}, shapes[i])


def act_node(draw, shapes):
    i = pick(draw, shapes)
    return Node("act", (i,), dict(kind=draw(st.sampled_from(ACTIVATIONS))), shapes[i])


def pool_node(draw, shapes):
    i = pick(draw, shapes, is_4d)
    n, c, h, w = shapes[i]
    kind = draw(st.sampled_from(["max", "avg", "adaptive_avg", "adaptive_max"]))
    if kind.startswith("adaptive"):
        size = (draw(st.integers(1, h)), draw(st.integers(1, w)))
        return Node("pool", (i,), dict(kind=kind, size=size), (n, c) + size)
    kernel = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, kernel // 2))
    dilation = draw(st.integers(1, 2)) if kind == "max" else 1
    ceil = draw(st.booleans())
    span = dilation * (kernel - 1) + 1
    assume(min(h, w) + 2 * padding >= span)
    out = []
    for size in (h, w):
        length = size + 2 * padding - span
        o = (-(-length // stride) if ceil else length // stride) + 1
        if ceil and (o - 1) * stride >= size + padding:  # PyTorch: the last window starts inside
            o -= 1
        out.append(o)
    params = dict(kind=kind, kernel=kernel, stride=stride, padding=padding, dilation=dilation, ceil=ceil,
                  count_pad=draw(st.booleans()))
    return Node("pool", (i,), params, (n, c, *out))


def linear_cl_node(draw, shapes):
    i = pick(draw, shapes, is_4d)
    n, c, h, w = shapes[i]
    out = draw(st.integers(1, 32))
    act = draw(st.sampled_from(["none", "gelu", "relu"]))
    params = dict(out=out, bias=draw(st.booleans()), act=act)
    return Node("linear_cl", (i,), params, (n, out if act == "none" else c, h, w))


def linear_2d_node(draw, shapes):
    i = pick(draw, shapes, lambda s: math.prod(s[1:]) <= 4096)
    if i is None:
        return None
    n = shapes[i][0]
    out = draw(st.integers(1, 40))
    shape = draw(st.sampled_from([(n, out), (n, out, 1, 1), *factorizations(n, out)]))
    params = dict(out=out, bias=draw(st.booleans()), act=draw(st.sampled_from(["none", "relu", "gelu"])))
    return Node("linear_2d", (i,), params, shape)


def factorizations(n: int, total: int) -> list[tuple[int, int, int, int]]:
    """Shapes (n, c, h, w) with c * h * w == total."""
    shapes = []
    for c in range(1, total + 1):
        if total % c:
            continue
        rest = total // c
        shapes += [(n, c, h, rest // h) for h in range(1, rest + 1) if rest % h == 0]
    return shapes


def layernorm_node(draw, shapes):
    i = pick(draw, shapes, is_4d)
    return Node("layernorm_cl", (i,), dict(affine=draw(st.booleans())), shapes[i])


def pad_node(draw, shapes):
    i = pick(draw, shapes, is_4d)
    n, c, h, w = shapes[i]
    left, right, top, bottom = (draw(st.integers(-1, 2)) for _ in range(4))
    assume(w + left + right >= 1 and h + top + bottom >= 1)
    value = draw(st.sampled_from([0.0, 0.0, 0.5]))
    return Node("pad", (i,), dict(pads=(left, right, top, bottom), value=value),
                (n, c, h + top + bottom, w + left + right))


def permute_node(draw, shapes):
    i = pick(draw, shapes, is_4d)
    dims = draw(st.permutations([1, 2, 3]))
    shape = shapes[i]
    return Node("permute", (i,), dict(dims=tuple(dims)), (shape[0], *(shape[d] for d in dims)))


def reshape_node(draw, shapes):
    i = pick(draw, shapes)
    n, total = shapes[i][0], math.prod(shapes[i][1:])
    options = [s for s in factorizations(n, total) if max(s[1:]) <= 4 * MAX_SPATIAL or s[1] == total]
    shape = draw(st.sampled_from([(n, total), *options]))
    return Node("reshape", (i,), {}, shape)


def shuffle_node(draw, shapes):
    i = pick(draw, shapes, lambda s: is_4d(s) and s[1] > 1)
    if i is None:
        return None
    c = shapes[i][1]
    groups = draw(st.sampled_from([g for g in range(2, c + 1) if c % g == 0]))
    return Node("shuffle", (i,), dict(groups=groups), shapes[i])


def broadcasts_to(small, big) -> bool:
    return len(small) == len(big) and all(a in (1, b) for a, b in zip(small, big))


def binary_node(draw, shapes):
    i = pick(draw, shapes)
    j = pick(draw, shapes, lambda s: broadcasts_to(s, shapes[i]))
    params = dict(kind=draw(st.sampled_from(["add", "add", "mul", "sub", "maximum"])), relu=draw(st.booleans()))
    return Node("binary", (i, j), params, shapes[i])


def cat_node(draw, shapes):
    i = pick(draw, shapes)
    dim = draw(st.integers(1, len(shapes[i]) - 1))

    def same_but_dim(s):
        return len(s) == len(shapes[i]) and all(a == b for d, (a, b) in enumerate(zip(s, shapes[i])) if d != dim)

    others = [pick(draw, shapes, same_but_dim) for _ in range(draw(st.integers(1, 2)))]
    inputs = (i, *others)
    shape = list(shapes[i])
    shape[dim] = sum(shapes[k][dim] for k in inputs)
    assume(shape[dim] <= 4 * MAX_CHANNELS)
    return Node("cat", inputs, dict(dim=dim), tuple(shape))


def reduce_node(draw, shapes):
    i = pick(draw, shapes, is_4d)
    dims = draw(st.sampled_from([(2, 3), (1,), (3,), (1, 2, 3)]))
    shape = tuple(1 if d in dims else s for d, s in enumerate(shapes[i]))
    return Node("reduce", (i,), dict(kind=draw(st.sampled_from(["mean", "sum", "amax"])), dims=dims), shape)


NODES = {"conv": conv_node, "bn": bn_node, "act": act_node, "pool": pool_node, "linear_cl": linear_cl_node,
         "linear_2d": linear_2d_node, "layernorm_cl": layernorm_node, "pad": pad_node, "permute": permute_node,
         "reshape": reshape_node, "shuffle": shuffle_node, "binary": binary_node, "cat": cat_node,
         "reduce": reduce_node}
# conv more often than the rest: it is what fretsaw is for
OPS = ["conv"] * 6 + [op for op in NODES if op != "conv"]


@st.composite
def graphs(draw, max_nodes: int = 6) -> Graph:
    batch = draw(st.integers(1, 2))
    first = (batch, draw(st.integers(1, MAX_CHANNELS)), draw(st.integers(1, MAX_SPATIAL)),
             draw(st.integers(1, MAX_SPATIAL)))
    inputs = [first]
    if draw(st.integers(0, 4)) == 0:  # a second input, of the same or another shape
        inputs.append(draw(st.sampled_from([first, (batch, draw(st.integers(1, MAX_CHANNELS)), first[2], first[3])])))
    shapes, nodes = list(inputs), []
    for _ in range(draw(st.integers(1, max_nodes))):
        node = NODES[draw(st.sampled_from(OPS))](draw, shapes)
        if node is None:
            continue
        nodes.append(node)
        shapes.append(node.shape)
    assume(nodes)
    last = len(shapes) - 1
    extra = draw(st.lists(st.integers(0, last), max_size=2))  # any value, the last one again too
    return Graph(tuple(inputs), tuple(nodes), (last, *extra), draw(st.integers(0, 2**31 - 1)))


# ---------------------------------------------------------------------------------------------
# The two profiles.

LONG = os.environ.get("FRETSAW_FUZZ_EXAMPLES")
PROFILE = (settings(max_examples=int(LONG), deadline=None, print_blob=True, suppress_health_check=list(HealthCheck))
           if LONG else settings(max_examples=FIXED_EXAMPLES, derandomize=True, deadline=None,
                                 suppress_health_check=list(HealthCheck)))


@functools.cache
def warm_up() -> None:
    """Compile a tiny model once in this process, so that the forked checks start with torch.export
    and the importer initialised (the first compile of a process pays for their start-up, which
    each forked check would otherwise pay again)."""
    fretsaw.compile(nn.Sequential(nn.Conv2d(1, 1, 3)).eval(), (torch.randn(1, 1, 4, 4),))


@PROFILE
@given(graph=graphs())
def test_random_graph_matches_torch(graph):
    if not LONG:
        check_graph(graph)
        return
    warm_up()
    check_graph_isolated(graph)
