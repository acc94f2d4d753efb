"""pconv-lower: pconv convolutions (2-D and 3-D) become sparsity-aware loops over memrefs (the reference
lowering).

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
from contextlib import ExitStack, contextmanager
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, math, memref, scf

from fretsaw.dialect import pconv
from fretsaw.passes.base import ModulePass, verify_pconv
from fretsaw.passes.builders import add, f32, index, load, load_index, loop, mul, read_buffer, store, table
from fretsaw.passes.conv.epilogue import activate


@contextmanager
def loops(sizes):
    """`with loops([s1, .., sr]) as (i1, .., ir):` nested scf.for over every index of those sizes."""
    with ExitStack() as stack:
        yield [stack.enter_context(loop(0, size)) for size in sizes]


def lower_conv(op) -> None:
    conv = pconv.Conv(op)
    patterns = conv.patterns
    n, cin, *_ = conv.input_shape
    out_shape = conv.output_shape
    _, cout, *out_spatial = out_shape
    cin_g, cout_g = cin // conv.groups, cout // conv.groups
    fkw = conv.fkw()
    num = len(patterns)
    strides, dilations = conv.strides, conv.dilations
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
            with loops(out_spatial) as at:
                store(init, out, [i_n, co, *at])
            with loop(load_index(begin, q), load_index(begin, add(q, 1))) as k:
                ci = add(group_base, load_index(channel, k))
                base = load_index(offset, k)

                def case(pattern_id: int):
                    taps = list(zip(*np.nonzero(patterns[pattern_id])))
                    weights = [load(w, [add(base, t)]) for t in range(len(taps))]
                    with loops(out_spatial) as at:
                        acc = load(out, [i_n, co, *at])
                        for wt, tap in zip(weights, taps):
                            reads = [add(mul(o, s), int(kk) * d) for o, s, kk, d in zip(at, strides, tap, dilations)]
                            acc = math.FmaOp(wt, load(x, [i_n, ci, *reads]), acc).result
                        store(acc, out, [i_n, co, *at])

                dispatch(len(patterns), load_index(pattern, k), case)
            if conv.activation != "none":
                with loops(out_spatial) as at:
                    store(activate(conv.activation, load(out, [i_n, co, *at])), out, [i_n, co, *at])
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


def padded_input(conv: pconv.Conv) -> ir.Value:
    """The input as a memref, copied into a zero-bordered buffer when the op pads."""
    source = read_buffer(conv.input)
    if not any(conv.padding):
        return source
    n, c, *spatial = conv.input_shape
    low, high = conv.padding[:conv.rank], conv.padding[conv.rank:]
    padded_shape = [size + lo + hi for size, lo, hi in zip(spatial, low, high)]
    padded = memref.AllocOp(ir.MemRefType.get([n, c, *padded_shape], ir.F32Type.get()), [], []).result
    zero = f32(0.0)
    with loops([n, c, *padded_shape]) as at:
        store(zero, padded, at)
    with loops([n, c, *spatial]) as (i, j, *at):
        store(load(source, [i, j, *at]), padded, [i, j, *(add(a, lo) for a, lo in zip(at, low))])
    return padded


@dataclasses.dataclass(frozen=True)
class Lower(ModulePass):
    """Lower pconv convolutions (2-D and 3-D) to sparsity-aware scf/memref/arith loops (kept taps only)."""

    name: ClassVar[str] = "pconv-lower"

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        for op in pconv.walk_convs(module):
            lower_conv(op)
        module.verify()
