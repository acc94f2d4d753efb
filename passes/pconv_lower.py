"""pconv-lower: pconv.conv2d becomes sparsity-aware loops over memrefs (the reference lowering).

Removed kernels are never visited and only the kept taps of each pattern are computed: for
every output channel (in filter_order when the op has one) the loop runs over that filter's
kept kernels (from constant tables of input channel, pattern id and packed-weight offset, in
FKW order after pconv-pack-fkw) and dispatches on the pattern id to a case whose taps are
unrolled.

Before:
  %y = "pconv.conv2d"(%x, %w) {patterns = dense<...> : tensor<2x3x3xi1>, ...} : (...) -> tensor<1x8x6x6xf32>
After:
  %out = memref.alloc() : memref<1x8x6x6xf32>
  scf.for %n ... { scf.for %q ... {                 // %co = filter_order[%q]
    scf.for %k = %kbegin to %kend {                 // kept kernels of filter %co only
      scf.index_switch %pattern case 0 { ... 4 fused multiply-adds per output ... } case 1 { ... }
  } } }
  %y = bufferization.to_tensor %out restrict writable : memref<1x8x6x6xf32> to tensor<1x8x6x6xf32>
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, math, memref, scf

from fretsaw.dialect import pconv
from fretsaw.passes.base import ModulePass, verify_pconv
from fretsaw.passes.builders import add, f32, index, load, load_index, loop, mul, read_buffer, store, table
from fretsaw.passes.conv.epilogue import activate


def lower_conv2d(op) -> None:
    conv = pconv.Conv2d(op)
    patterns = conv.patterns
    n, cin, _, _ = conv.input_shape
    out_shape = conv.output_shape
    _, cout, oh, ow = out_shape
    cin_g, cout_g = cin // conv.groups, cout // conv.groups
    fkw = conv.fkw()
    num = len(patterns)
    (sh, sw), (dh, dw) = conv.strides, conv.dilations
    with ir.InsertionPoint(op), op.location:
        x = padded_input(conv)
        w = read_buffer(conv.packed_weights)
        b = read_buffer(conv.bias) if conv.bias is not None else None
        order, begin, channel, pattern, offset = (table(t) for t in
                                                  (fkw.order, fkw.stride[::num], fkw.index, fkw.pattern, fkw.weight))
        out = memref.AllocOp(ir.MemRefType.get(out_shape, ir.F32Type.get()), [], []).result
        zero = f32(0.0)
        with loop(0, n) as i_n, loop(0, cout) as q:
            co = load_index(order, q)
            group_base = mul(arith.DivUIOp(co, index(cout_g)).result, cin_g)
            init = load(b, [co]) if b is not None else zero
            with loop(0, oh) as y, loop(0, ow) as xo:
                store(init, out, [i_n, co, y, xo])
            with loop(load_index(begin, q), load_index(begin, add(q, 1))) as k:
                ci = add(group_base, load_index(channel, k))
                base = load_index(offset, k)

                def case(pattern_id: int):
                    taps = list(zip(*np.nonzero(patterns[pattern_id])))
                    weights = [load(w, [add(base, t)]) for t in range(len(taps))]
                    with loop(0, oh) as y, loop(0, ow) as xo:
                        acc = load(out, [i_n, co, y, xo])
                        for wt, (kh, kw) in zip(weights, taps):
                            iy = add(mul(y, sh), int(kh) * dh)
                            ix = add(mul(xo, sw), int(kw) * dw)
                            acc = math.FmaOp(wt, load(x, [i_n, ci, iy, ix]), acc).result
                        store(acc, out, [i_n, co, y, xo])

                dispatch(len(patterns), load_index(pattern, k), case)
            if conv.activation != "none":
                with loop(0, oh) as y, loop(0, ow) as xo:
                    store(activate(conv.activation, load(out, [i_n, co, y, xo])), out, [i_n, co, y, xo])
        result = bufferization.ToTensorOp(op.results[0].type, out, restrict=True, writable=True).result
    op.results[0].replace_all_uses_with(result)
    op.erase()


def dispatch(num_patterns: int, pattern_id: ir.Value, case) -> None:
    """Emit `case(p)` for the kernel's pattern: inline for one pattern, else an index switch."""
    if num_patterns == 1:
        case(0)
        return
    switch = scf.IndexSwitchOp([], pattern_id, list(range(num_patterns)))
    with ir.InsertionPoint(switch.default_block):
        scf.YieldOp([])
    for p in range(num_patterns):
        with ir.InsertionPoint(switch.case_block(p)):
            case(p)
            scf.YieldOp([])


def padded_input(conv: pconv.Conv2d) -> ir.Value:
    """The input as a memref, copied into a zero-bordered buffer when the op pads."""
    source = read_buffer(conv.input)
    top, left, bottom, right = conv.padding
    if not any(conv.padding):
        return source
    n, c, h, w = conv.input_shape
    padded = memref.AllocOp(ir.MemRefType.get([n, c, h + top + bottom, w + left + right], ir.F32Type.get()),
                            [], []).result
    zero = f32(0.0)
    with loop(0, n) as i, loop(0, c) as j, loop(0, h + top + bottom) as y, loop(0, w + left + right) as x:
        store(zero, padded, [i, j, y, x])
    with loop(0, n) as i, loop(0, c) as j, loop(0, h) as y, loop(0, w) as x:
        store(load(source, [i, j, y, x]), padded, [i, j, add(y, top), add(x, left)])
    return padded


@dataclasses.dataclass(frozen=True)
class Lower(ModulePass):
    """Lower pconv.conv2d to sparsity-aware scf/memref/arith loops (kept taps only)."""

    name: ClassVar[str] = "pconv-lower"

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in pconv.walk_ops(module, pconv.CONV2D):
            lower_conv2d(op)
        module.verify()
