"""pconv-vectorize: stride-1 pconv.conv2d becomes SIMD loops that skip removed kernels and zero taps.

The input is copied into a zero-bordered buffer whose rows are laid end to end, so that every
output position y*Wp + x (Wp the padded row length) reads tap (kh, kw) at the same flat offset
kh*dh*Wp + kw*dw: one vector load per tap and vector of outputs, whatever the image width. A
block of `block` vectors of outputs stays in registers while, for each pattern, a loop runs over
the filter's kept kernels of that pattern with its taps unrolled: no branch on the pattern, and
removed kernels and zero taps are never visited. The few columns
x >= OW that the flat layout computes are dropped when the block is copied out.
Convs with a stride other than 1 are left for pconv-lower.

Before:
  %y = "pconv.conv2d"(%x, %w) {patterns = dense<...> : tensor<2x3x3xi1>, strides = array<i64: 1, 1>, ...}
After:
  scf.parallel (%blk) ... { scf.for %co ... {
    %acc0:4 = scf.for %k = %run0_begin to %run0_end iter_args(%a0 = %bias, ...) -> (vector<8xf32>, ...) {
      %w = vector.broadcast ...; %i = vector.load %xbuf[%n, %ci, %tap]; vector.fma %w, %i, %a0 ...  // pattern 0's taps
    }
    %acc1:4 = scf.for ... iter_args(%acc0#0, ...) { ... pattern 1's taps ... }
    ... vector.store %acc, %tmp[...]
  } }
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, memref, scf, vector

from fretsaw.dialect import pconv
from fretsaw.passes.base import ModulePass, verify_pconv
from fretsaw.passes.lower import KernelTables, add, f32, index, load, load_index, loop, mul, read_buffer, table


@contextmanager
def parallel(lower, upper):
    """`with parallel(lb, ub) as i:` an scf.parallel (threads, once lowered to OpenMP)."""
    op = scf.ParallelOp([], [index(lower)], [index(upper)], [index(1)], [])
    body = op.regions[0].blocks.append(ir.IndexType.get())
    with ir.InsertionPoint(body):
        yield body.arguments[0]
        scf.ReduceOp([], 0)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Sizes of the flat layout of one conv (all static)."""

    row: int      # Wp: padded input row length, also the output row pitch in the flat buffer
    positions: int  # flat output positions computed: OH * Wp rounded up to whole blocks
    blocks: int
    in_length: int  # flat padded input length per channel, with room for the last block's taps

    @classmethod
    def of(cls, conv: pconv.Conv2d, width: int, block: int) -> "Layout":
        _, _, h, w = conv.input_shape
        top, left, bottom, right = conv.padding
        kh, kw = conv.patterns.shape[1:]
        dh, dw = conv.dilations
        _, _, oh, _ = conv.output_shape
        row = w + left + right
        blocks = ceil_div(oh * row, width * block)
        positions = blocks * width * block
        span = (kh - 1) * dh * row + (kw - 1) * dw
        return cls(row, positions, blocks, ceil_div(positions + span, width) * width)


@dataclasses.dataclass
class PatternRuns:
    """The kept kernels ordered filter by filter and, inside a filter, pattern by pattern (then by
    input channel), so that each (filter, pattern) run is one loop with that pattern's taps unrolled.
    begin[co * P + p] .. begin[co * P + p + 1] is the run of filter co with pattern p; per kept
    kernel: its input channel inside the group and the offset of its first packed weight."""

    begin: np.ndarray  # Cout * P + 1
    channel: np.ndarray
    offset: np.ndarray

    @classmethod
    def build(cls, patterns: np.ndarray, kernel_pattern: np.ndarray) -> "PatternRuns":
        canonical = KernelTables.build(patterns, kernel_pattern)  # packed order, filter by filter
        num = len(patterns)
        filters = np.repeat(np.arange(kernel_pattern.shape[0]), np.diff(canonical.begin))
        order = np.lexsort((canonical.channel, canonical.pattern, filters))
        counts = np.zeros(kernel_pattern.shape[0] * num + 1, dtype=np.int64)
        np.add.at(counts, filters * num + canonical.pattern + 1, 1)
        return cls(np.cumsum(counts), canonical.channel[order], canonical.offset[order])


def vector_type(width: int) -> ir.VectorType:
    return ir.VectorType.get([width], ir.F32Type.get())


def splat(vtype: ir.VectorType, value: float) -> ir.Value:
    return arith.ConstantOp(vtype, ir.DenseElementsAttr.get_splat(vtype, ir.FloatAttr.get_f32(value))).result


def vload(width: int, buffer, indices) -> ir.Value:
    return vector.LoadOp(vector_type(width), buffer, [index(i) for i in indices]).result


def vstore(value, buffer, indices) -> None:
    vector.StoreOp(value, buffer, [index(i) for i in indices])


def copy_rows(width: int, source, target, rows: int, length: int, source_at, target_at) -> None:
    """Copy `rows` rows of `length` floats with full vectors and one masked tail."""
    full, tail = divmod(length, width)
    with loop(0, rows) as r:
        with loop(0, full) as j:
            x = mul(j, width)
            vstore(vload(width, source, source_at(r, x)), target, target_at(r, x))
        if tail:
            mask = vector.ConstantMaskOp(ir.VectorType.get([width], ir.IntegerType.get_signless(1)), [tail]).result
            zero = splat(vector_type(width), 0.0)
            x = index(full * width)
            value = vector.MaskedLoadOp(vector_type(width), source, [index(i) for i in source_at(r, x)],
                                        mask, zero).result
            vector.MaskedStoreOp(target, [index(i) for i in target_at(r, x)], mask, value)


def flat_input(conv: pconv.Conv2d, layout: Layout, width: int) -> ir.Value:
    """memref<N x C x in_length>: the zero-padded input, rows laid end to end."""
    n, c, h, w = conv.input_shape
    top, left, _, _ = conv.padding
    source = read_buffer(conv.input)
    flat = memref.AllocOp(ir.MemRefType.get([n, c, layout.in_length], ir.F32Type.get()), [], []).result
    zeros = splat(vector_type(width), 0.0)
    with loop(0, n) as i, loop(0, c) as ch:
        with loop(0, layout.in_length // width) as j:
            vstore(zeros, flat, [i, ch, mul(j, width)])
        copy_rows(width, source, flat, h, w,
                  source_at=lambda r, x: [i, ch, r, x],
                  target_at=lambda r, x: [i, ch, add(mul(add(r, top), layout.row), add(x, left))])
    return flat


def vectorize_conv2d(op, width: int, block: int) -> None:
    conv = pconv.Conv2d(op)
    patterns = conv.patterns
    n, cin, _, _ = conv.input_shape
    _, cout, oh, ow = conv.output_shape
    cin_g, cout_g = cin // conv.groups, cout // conv.groups
    dh, dw = conv.dilations
    layout = Layout.of(conv, width, block)
    tables = PatternRuns.build(patterns, conv.kernel_pattern)
    with ir.InsertionPoint(op), op.location:
        vtype = vector_type(width)
        x = flat_input(conv, layout, width)
        w = read_buffer(conv.packed_weights)
        b = read_buffer(conv.bias) if conv.bias is not None else None
        begin, channel, offset = (table(t) for t in (tables.begin, tables.channel, tables.offset))
        flat_out = memref.AllocOp(ir.MemRefType.get([n, cout, layout.positions], ir.F32Type.get()), [], []).result
        with loop(0, n) as i_n, parallel(0, layout.blocks) as blk, loop(0, cout) as co:
            start = mul(blk, width * block)
            bias = load(b, [co]) if b is not None else f32(0.0)
            accs = [vector.BroadcastOp(vtype, bias).result] * block
            group_base = mul(arith.DivUIOp(co, index(cout_g)).result, cin_g)
            for p in range(len(patterns)):  # kernels sorted by pattern: one branch-free loop per pattern
                run = add(mul(co, len(patterns)), p)
                kernels = scf.ForOp(load_index(begin, run), load_index(begin, add(run, 1)), index(1), accs)
                with ir.InsertionPoint(kernels.body):
                    k = kernels.induction_variable
                    ci = add(group_base, load_index(channel, k))
                    base = load_index(offset, k)
                    carried = list(kernels.inner_iter_args)
                    for t, (kh, kw) in enumerate(zip(*np.nonzero(patterns[p]))):
                        weight = vector.BroadcastOp(vtype, load(w, [add(base, t)])).result
                        tap = add(start, int(kh) * dh * layout.row + int(kw) * dw)
                        for v in range(block):
                            value = vload(width, x, [i_n, ci, add(tap, v * width)])
                            carried[v] = vector.FMAOp(weight, value, carried[v]).result
                    scf.YieldOp(carried)
                accs = list(kernels.results)
            for v, acc in enumerate(activation(conv.activation, accs, vtype)):
                vstore(acc, flat_out, [i_n, co, add(start, v * width)])
        out = memref.AllocOp(ir.MemRefType.get([n, cout, oh, ow], ir.F32Type.get()), [], []).result
        with loop(0, n) as i_n, loop(0, cout) as co:
            copy_rows(width, flat_out, out, oh, ow,
                      source_at=lambda r, xo: [i_n, co, add(mul(r, layout.row), xo)],
                      target_at=lambda r, xo: [i_n, co, r, xo])
        result = bufferization.ToTensorOp(op.results[0].type, out, restrict=True, writable=True).result
    op.results[0].replace_all_uses_with(result)
    op.erase()


def activation(kind: str, values: list, vtype) -> list:
    if kind == "none":
        return values
    values = [arith.MaximumFOp(v, splat(vtype, 0.0)).result for v in values]
    if kind == "relu6":
        values = [arith.MinimumFOp(v, splat(vtype, 6.0)).result for v in values]
    return values


@dataclasses.dataclass(frozen=True)
class Vectorize(ModulePass):
    """Lower stride-1 pconv.conv2d to SIMD loops over kept kernels and kept taps (registers hold a block)."""

    name: ClassVar[str] = "pconv-vectorize"
    width: int = 8   # fp32 lanes of the target's vectors (the backend fills this from its target)
    block: int = 4   # vectors of outputs accumulated in registers per filter

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in pconv.walk_ops(module, pconv.CONV2D):
            if pconv.Conv2d(op).strides == [1, 1]:
                vectorize_conv2d(op, self.width, self.block)
        module.verify()
