"""pconv-vectorize: pconv.conv2d and pconv.conv3d become SIMD loops that skip removed kernels and zero taps.

For each pattern, a branch-free loop runs over the filter's kept kernels of that pattern with
the taps unrolled (the runs of passes/conv/runs.py); removed kernels and zero taps are never
visited. Where every filter has at most one kernel (depthwise), the loop per pattern runs over
the filters of that pattern instead (single_kernel_ranges). Outputs are computed in register
blocks of `rows` output rows x `vectors` vectors per filter (or per block of alike filters of a
dense layer, run tap by tap when its weights do not fit in registers), over channel tiles that
stay in cache, as the conv's schedule says (passes/conv/schedule.py: options, else the op's tuned
`fretsaw.schedule`, else the heuristics of passes/cpu/blocks.py). The input is staged in a flat,
zero-bordered layout where every tap reads at a fixed offset (passes/cpu/staging.py; unpadded
stride-1 inputs whose blocks tile the output are read in place; a pointwise conv's units may copy
their column chunk of every channel into a buffer of their own: chunk_input; a depthwise conv's
units stage each filter's rows of its channel into a slice of their own: stage_slice); inside a kernel each input
vector is loaded once and feeds every (tap, output row) that reads it, and on targets with cheap
lane shifts unaligned vectors are shifts of aligned ones or accumulators are kept per tap column
(passes/cpu/load_sharing.py). Partial sums are parked in the output between channel tiles; the
bias starts the accumulators and the activation (passes/conv/epilogue.py) ends them. Work units
(row groups, or a one-row output's column chunks, x ranges of filters: passes/conv/units.py) run
on threads through scf.parallel; filters with no kept kernel whose channel no user reads are not
computed. With `f16=true` (AArch64 +fullfp16) the staged input, the weights and the accumulators
are fp16 (`width` fp16 lanes); the parked partial sums and the output stay fp32.

A pconv.conv3d, and a pruned pconv.conv2d whose filter blocks keep the same columns (KGS or
Vanilla: schedule.kernel_groups; as the conv3d of depth 1, as_conv3d), (GroupEmitter) runs its
filters in blocks over their kept (input channel, kernel position) columns
(passes/conv/groups.py): inside an RT3D kernel group the kernels share their kept positions, so a
block of the group's filters is a small dense GEMM over those columns, each input vector loaded
once for every filter of the block; removed groups and positions give no column. Its input is staged per depth plane, every column one offset into it. A 1x1x1 unpadded
conv3d is the 2-D pointwise GEMM over D*H*W pixels (flatten_pointwise). A strided 1x1 (1x1x1)
unpadded conv first copies the input rows and columns it reads and is then the stride-1 conv over
that copy (decimate).

Before:
  %y = "pconv.conv2d"(%x, %w) {patterns = dense<...> : tensor<2x3x3xi1>, ...}
After:
  scf.parallel (%unit) ... { scf.for %chunk ... { scf.for %tile ... { scf.for %co ... {
    %acc0:8 = scf.for %k = %run_begin to %run_end iter_args(%a0 = %partial0, ...) -> (vector<8xf32>, ...) {
      %w0 = vector.broadcast ...                       // the pattern's weights
      %i = vector.load %xbuf[%n, %ci, %offset]          // each input vector once
      %a0' = vector.fma %w0, %i, %a0; %a1' = vector.fma %w1, %i, %a1 ...  // every tap that reads it
    }
    ... the other patterns' runs ...; vector.store %acc, %out[...]  (vector.maskedstore at the edge)
  } } } }
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager, nullcontext
from typing import ClassVar

import numpy as np
from torch_mlir import ir
from torch_mlir.dialects import arith, bufferization, memref, scf, tensor, vector

from fretsaw.dialect import fkw as fkw_tables
from fretsaw.dialect import pconv
from fretsaw.errors import op_error
from fretsaw.passes.base import ModulePass, verify_pconv
from fretsaw.passes.builders import (add, convert, guarded, index, lane_mask, load, load_index, loop, loops, masked_vload,
                                     mul, parallel, read_buffer, reassociation, splat, table, vector_type, vload,
                                     vstore, weight_constant)
from fretsaw.passes.conv.epilogue import activate
from fretsaw.passes.conv.geometry import ceil_div, decimates, pointwise, unit_1x1
from fretsaw.passes.conv.rewrite import read_by_users
from fretsaw.passes.pconv_lower import lower_conv
from fretsaw.passes.conv.runs import PatternRuns
from fretsaw.passes.conv.groups import FilterColumns, dense_weights
from fretsaw.passes.conv.schedule import (SimdTarget, check_tuned, flat_groups, kernel_groups, plan, plan_groups,
                                          schedule_problem)
from fretsaw.passes.conv.units import block_units, filter_units
from fretsaw.passes.cpu.blocks import CACHE, CACHE_L2
from fretsaw.passes.cpu.load_sharing import ColumnSets, block_reads, read_vectors
from fretsaw.passes.cpu.staging import Layout, copy_plane_row, flat_input, stage_slice


# Bytes of a pointwise conv's column chunk (all input channels) a work unit copies into a buffer of
# its own on its thread's stack (chunked): past this it reads the input in place (the AArch64
# runtime gives its workers 8 MiB stacks, libomp 4 MiB; an Android app's own threads have 1 MiB)
CHUNK_BYTES = 1 << 18
# Reads of each copied input vector, on average over a unit's filters, that a chunk copy takes to
# pay for itself: ResNet-50's 1x1 convs ran faster with it at 18-48 reads, slower at 6-12 (their
# units, 11 or 3 a chunk, each copy it for few filters; measured: bench/RESULTS.md, 2026-11-30)
CHUNK_READS = 16
# Bytes of a depthwise conv's row-group slice of one channel (sliced) a unit stages on its stack
SLICE_BYTES = 1 << 18
# Columns ahead whose weights and input offset the kernel-group loops prefetch, in a conv whose
# weights and offsets outgrow the target's L2: a deep layer's columns each feed few outputs (49 at
# 7x7) and its weights come from L3 or memory at every call, so without it the loop waits on them
# (KGS ResNet-18's 512 @7x7 convs 0.8 ms warm, 1.4-1.8 ms cold; the network 7-23% faster with it,
# ResNet-50 3-8%; 32 to 128 columns alike). Convs whose weights fit the L2 gain nothing and pay the
# prefetches' issue slots (MobileNet-V2 KGS 5% slower when every conv prefetched: bench/RESULTS.md,
# 2026-12-02)
PREFETCH_COLUMNS = 64


def spreads(layout: Layout) -> bool:
    """Whether the work units take the column chunks of one output row (a pointwise conv's H*W) as
    they take row groups: each unit then reads one chunk's input for its filters, not the whole
    row's once per range of filters."""
    return layout.groups == 1 and layout.chunks > 1


def single_kernel_ranges(conv: pconv.Conv, fkw) -> list[tuple[int, int]] | None:
    """When no filter has more than one kept kernel (a depthwise conv) and the filter order holds
    them pattern by pattern, then those with none: the [begin, end) filter positions of each
    pattern, and of the filters with none last; else None."""
    kept = conv.kernel_pattern[fkw.order] >= 0
    if kept.sum(axis=1).max(initial=0) > 1:
        return None
    patterns = len(conv.patterns)
    pattern_of = np.where(kept.any(axis=1), conv.kernel_pattern[fkw.order].max(axis=1), patterns)
    if (np.diff(pattern_of) < 0).any():
        return None
    ends = np.searchsorted(pattern_of, np.arange(patterns + 1), side="right")
    return list(zip(np.concatenate([[0], ends[:-1]]).tolist(), ends.tolist()))


def weight_step(conv: pconv.Conv, offsets: np.ndarray) -> int:
    """T when the k-th kernel the runs read has its weights at k * T (`offsets`: each read
    kernel's first weight): every pattern keeps T taps and the weights lie in the runs' order
    (PatternRuns.weight_offsets), as in PatDNN's patterns of 4 and a pruned 1x1 conv. The loops
    then compute a kernel's weights' place instead of loading it from a table: one load less
    per kernel, behind which the kernel's weight loads would wait. Else 0 (the table)."""
    taps = fkw_tables.taps_of(conv.patterns)
    step = int(taps[0])
    if (taps != step).any() or not np.array_equal(offsets, np.arange(len(offsets)) * step):
        return 0
    return step


def feed_filters(carried: list, weights: list, value: ir.Value, a: int, per_filter: int) -> None:
    """One input vector into accumulator `a` of each filter of a block (filter f's accumulators
    are carried[f * per_filter:]), times that filter's broadcast weight."""
    for f, weight in enumerate(weights):
        i = f * per_filter + a
        carried[i] = vector.FMAOp(weight, value, carried[i]).result


def feed_inputs(carried: list, weight: ir.Value, values: list, first: int) -> None:
    """One filter's broadcast weight times each of a block's input vectors, into its
    accumulators carried[first:]."""
    for a, value in enumerate(values):
        carried[first + a] = vector.FMAOp(weight, value, carried[first + a]).result


def block_weights(conv: pconv.Conv, fkw, fblock: int, element: ir.Type) -> ir.Value:
    """A dense layer's weights as its filter blocks read them: block, input channel, filter of the
    block, tap."""
    cout, cin_g = conv.kernel_pattern.shape
    mask = conv.patterns[0]
    dense = fkw_tables.unpack(conv.packed_values(), fkw, conv.patterns, (cout, cin_g))[:, :, mask]
    return weight_constant(dense.reshape(cout // fblock, fblock, cin_g, -1).transpose(0, 2, 1, 3), element)


def flatten_pointwise(op):
    """A pointwise conv over N x C x H x W (or D x H x W) becomes the same conv over
    N x C x 1 x H*W (D*H*W), a pconv.conv2d (reshapes of the input and the result, which
    bufferization turns into views): its output vectors run across the row ends, so no lanes are
    lost past each row's last column (28 columns fill 28 of 32 lanes, 784 pixels 784 of 784) and,
    the blocks tiling the row exactly, the input is read in place. A 3-D one (a video network's
    1x1x1 projection) is then the 2-D GEMM it is. A tuned schedule carries over: tuning searched
    the flattened plane too (`output_plane`)."""
    conv = pconv.Conv(op)
    if not pointwise(conv):
        return op
    n, c, *spatial = conv.input_shape
    _, cout, *out = conv.output_shape
    pixels = int(np.prod(spatial))
    with ir.InsertionPoint(op), op.location:
        element = conv.input.type.element_type

        def together(rank):
            """[[0], [1], [2, .., rank - 1]]: the spatial dims together."""
            return reassociation([0], [1], range(2, rank))

        def reshape(value, shape):
            """`value` (N x C x spatial) as N x C x `shape`[2:], through N x C x pixels."""
            rows = value.type.shape
            flat = tensor.CollapseShapeOp(ir.RankedTensorType.get(rows[:2] + [pixels], element), value,
                                          together(len(rows))).result
            return tensor.ExpandShapeOp(ir.RankedTensorType.get(shape, element), flat, together(len(shape)),
                                        [], shape).result

        attributes = {name: op.attributes[name] for name in op.attributes}
        if conv.rank != 2:  # the same kernels as a 2-D conv's
            attributes.update(
                patterns=ir.DenseElementsAttr.get(np.ones((len(conv.patterns), 1, 1), dtype=bool)),
                strides=ir.DenseI64ArrayAttr.get([1, 1]), padding=ir.DenseI64ArrayAttr.get([0] * 4),
                dilations=ir.DenseI64ArrayAttr.get([1, 1]))
        return replace_conv(op, pconv.CONV2D, reshape(conv.input, [n, c, 1, pixels]),
                            ir.RankedTensorType.get([n, cout, 1, pixels], element), attributes,
                            lambda y: reshape(y, [n, cout, *out]))


def decimate(op, width: int):
    """A 1x1 unpadded conv at a stride above 1 (`decimates`: a ResNet's downsampling shortcut, 2-D
    or 3-D) becomes the stride-1 conv over a copy of the input rows and columns it reads, laid
    densely (N x C x output's spatial shape; only the channels some kept kernel reads are copied:
    the others are never read), which flatten_pointwise then computes as one GEMM over the
    output's pixels. Computed over the strided input instead, its blocks lose the lanes past each
    short output row (7 columns in 8 lanes, 14 in 16) and its loops run per row, not per pixel:
    the shortcuts of a pruned ResNet-50 ran at 20-35% of the FMA peak where its stride-1 1x1
    convs run at 50-65% (bench/RESULTS.md, 2026-12-02). A tuned schedule carries over: the tuner
    plans on output_plane, the same flattened plane."""
    conv = pconv.Conv(op)
    if not decimates(conv):
        return op
    n, c, *spatial = conv.input_shape
    out, strides = conv.output_shape[2:], conv.strides
    element = conv.input.type.element_type
    with ir.InsertionPoint(op), op.location:
        source = read_buffer(conv.input)
        copy = memref.AllocOp(ir.MemRefType.get([n, c, *out], element), [], [], alignment=64).result
        read = conv.read_channels()
        channels = table(read) if len(read) < c else None
        with loop(0, n) as i_n, parallel(0, len(read)) as k:
            ch = load_index(channels, k) if channels is not None else k
            with loops(out[:-1]) as outer:  # the output's depth and rows
                row_at = [i_n, ch, *(mul(o, s) for o, s in zip(outer, strides))]
                copy_plane_row(width, source, copy, row_at, [i_n, ch, *outer], index(0), spatial[-1], 0, 0,
                               strides[-1])
        x = bufferization.ToTensorOp(ir.RankedTensorType.get([n, c, *out], element), copy, restrict=True,
                                     writable=True).result
        attributes = {name: op.attributes[name] for name in op.attributes}
        attributes["strides"] = ir.DenseI64ArrayAttr.get([1] * len(strides))
        return replace_conv(op, op.name, x, op.results[0].type, attributes, lambda y: y)


def as_conv3d(op):
    """A pconv.conv2d over N x C x H x W as the same conv over N x C x 1 x H x W, a pconv.conv3d
    of kernel 1 x KH x KW (reshapes of the input and the result, which bufferization turns into
    views), for the kernel-group lowering (GroupEmitter). Its weights keep their packing: a
    pattern's taps are the same in either shape; its tuned schedule (the kernel-group lowering's:
    schedule.plan_groups) carries over."""
    conv = pconv.Conv(op)
    n, c, h, w = conv.input_shape
    _, cout, oh, ow = conv.output_shape
    (top, left, bottom, right), element = conv.padding, conv.input.type.element_type
    depth = reassociation([0], [1], [2, 3], [4])  # the depth of 1 beside the rows
    with ir.InsertionPoint(op), op.location:
        attributes = {name: op.attributes[name] for name in op.attributes}
        attributes.update(
            patterns=ir.DenseElementsAttr.get(np.ascontiguousarray(conv.patterns[:, None])),
            strides=ir.DenseI64ArrayAttr.get([1, *conv.strides]),
            padding=ir.DenseI64ArrayAttr.get([0, top, left, 0, bottom, right]),
            dilations=ir.DenseI64ArrayAttr.get([1, *conv.dilations]))
        x = tensor.ExpandShapeOp(ir.RankedTensorType.get([n, c, 1, h, w], element), conv.input, depth, [],
                                 [n, c, 1, h, w]).result
        return replace_conv(op, pconv.CONV3D, x, ir.RankedTensorType.get([n, cout, 1, oh, ow], element),
                            attributes, lambda y: tensor.CollapseShapeOp(op.results[0].type, y, depth).result)


def group_conv(op, target: SimdTarget, weight: np.ndarray):
    """(op, weight) as the kernel-group lowering (GroupEmitter) takes a conv of it whose dense
    weights are `weight`: a 3-D conv as it is, a 2-D one as the conv3d of depth 1 (as_conv3d),
    a pointwise one first flattened when flat_groups says so. The tuner plans on the same op."""
    if pconv.Conv(op).rank == 3:
        return op, weight
    flat = flatten_pointwise(op) if flat_groups(pconv.Conv(op), target) else op
    return as_conv3d(flat), weight[:, :, None]


def replace_conv(op, name: str, x: ir.Value, result_type: ir.Type, attributes: dict, restore):
    """A `name` pconv op in place of pconv op `op`: over input `x` (a reshape of op's; the
    weights and bias the same) with `attributes`, its result reshaped back by `restore` for op's
    users. Called at op's insertion point and location; returns the new op."""
    new = ir.Operation.create(name, results=[result_type], operands=[x, *list(op.operands)[1:]],
                              attributes=attributes)
    op.results[0].replace_all_uses_with(restore(new.results[0]))
    op.erase()
    return new.opview if hasattr(new, "opview") else new


@dataclasses.dataclass
class Block:
    """One register block's place: `vectors` vectors of output columns from x0 (the last one's
    first `lanes` lanes stored, all when 0) of the unit's row group from y0, for batch item i_n."""

    layout: Layout
    i_n: ir.Value
    y0: ir.Value
    x0: ir.Value
    corner: ir.Value          # flat input offset of the block's tap (0, 0)
    at: list                  # (row, vector) of each accumulator of one filter
    ys: list                  # output row of each block row
    clamped: list             # the same, clamped to the output (rows past it read the last)
    xs: list                  # output column of each vector
    mask: ir.Value | None     # the last vector's store mask
    colsets: ColumnSets | None
    depth: list = dataclasses.field(default_factory=list)  # the output depth plane's index (3-D), before y


class ConvEmitter:
    """Builds one conv's SIMD loops in place of the op: its schedule planned (passes/conv), its
    work units and kernel runs tabled, its input staged (passes/cpu/staging.py)."""

    def __init__(self, op, target: SimdTarget, requested: tuple[int, int, int, int], f16: bool,
                 read: np.ndarray | None):
        self.op, self.conv = op, pconv.Conv(op)
        conv = self.conv
        self.schedule = plan(conv, target, requested)
        s = self.schedule
        self.width, self.shifts, self.columns, self.fblock = s.lanes, s.shifts, s.columns, s.fblock
        self.rows, self.tile = s.rows, s.tile
        n, cin, _, _ = conv.input_shape
        _, self.cout, self.oh, self.ow = conv.output_shape
        self.cin_g, self.cout_g = cin // conv.groups, self.cout // conv.groups
        self.layout = Layout.of(conv, self.width, s.rows, s.vectors)
        self.tiles = ceil_div(self.cin_g, s.tile)
        self.fkw = conv.fkw()
        self.spread = spreads(self.layout)
        self.row_units = self.layout.chunks if self.spread else self.layout.groups
        if self.fblock > 1:  # filter blocks in filter order (all filters are alike), cut into equal units
            self.bounds = block_units(self.cout // self.fblock, self.row_units, s.units)
        else:
            self.runs = PatternRuns.build(self.fkw, s.tile, self.tiles)
            self.bounds = filter_units(conv, self.fkw, self.row_units, read, s.units)
        self.single = single_kernel_ranges(conv, self.fkw) if self.fblock == 1 and self.tiles == 1 else None
        self.f16 = f16
        self.depth = []  # 2-D: no depth index

    def emit(self) -> None:
        op, conv, layout = self.op, self.conv, self.layout
        with ir.InsertionPoint(op), op.location:
            f32_type = ir.F32Type.get()
            values = conv.packed_values()
            self.element = ir.F16Type.get() if self.f16 and values is not None else f32_type
            self.vtype = vector_type(self.width, self.element)
            exact = (layout.out_rows, layout.out_cols(self.width)) == (self.oh, self.ow)
            # a pointwise conv's units each take a column chunk of its one output row: each copies the
            # chunk's input, every channel, into a buffer of its own (chunk_input)
            self.chunked = self.chunk_pays()
            # no padding, stride 1 and blocks that tile the output: every read stays inside its input
            # row, so the input is read in place instead of copied into the flat layout (fp32 only)
            self.direct = (exact and conv.strides == [1, 1] and not any(conv.padding) and self.element == f32_type
                           and not self.chunked)
            self.sliced = self.slice_fits()
            self.x = (read_buffer(conv.input) if self.direct or self.chunked or self.sliced
                      else flat_input(conv, layout, self.width, self.element))
            self.shifts = self.shifts and not (self.direct or self.chunked)  # the input's own rows need not start
            self.columns = () if self.direct or self.chunked else self.columns  # on vector boundaries
            if self.fblock == 1:  # the kernel runs' tables; filter blocks read a regular layout instead
                regathered, offsets = self.runs.weight_offsets(conv, self.fkw)
                if regathered is not None:
                    weights = weight_constant(regathered, self.element)
                elif values is None or self.element == f32_type:
                    weights = conv.packed_weights
                else:
                    weights = weight_constant(values, self.element)
                self.order, self.begin, self.channel = (
                    table(t) for t in (self.fkw.order, self.runs.begin, self.fkw.index[self.runs.kernels]))
                self.weight_step = weight_step(conv, offsets)
                self.offset = None if self.weight_step else table(offsets)
            else:
                weights = block_weights(conv, self.fkw, self.fblock, self.element)
            self.w = read_buffer(weights)
            self.b = read_buffer(conv.bias) if conv.bias is not None else None
            unit = table(self.bounds)
            # the blocks write the result itself: the columns of a partial last chunk take only the vectors
            # that reach into the output (the last one masked), the rows of the last row group past
            # the output's edge are computed but never stored (their partial sums read a clamped row)
            self.out = memref.AllocOp(ir.MemRefType.get([conv.output_shape[0], self.cout, self.oh, self.ow], f32_type),
                                      [], []).result
            self.first_spill = self.oh - (layout.groups - 1) * self.rows  # rows of the last group from here on
            split = len(self.bounds) - 1                                   # lie past the edge
            with loop(0, conv.output_shape[0]) as i_n, parallel(0, self.row_units * split) as unit_id:
                outer = arith.DivUIOp(unit_id, index(split)).result  # the unit's row group (or column chunk)
                y0 = index(0) if self.spread else mul(outer, self.rows)
                part = arith.RemUIOp(unit_id, index(split)).result
                self.first, self.last = load_index(unit, part), load_index(unit, add(part, 1))  # filter positions
                self.unit_columns(i_n, y0, outer)
            result = bufferization.ToTensorOp(op.results[0].type, self.out, restrict=True, writable=True).result
        op.results[0].replace_all_uses_with(result)
        op.erase()

    def chunk_pays(self) -> bool:
        """Whether a pointwise conv's units (one column chunk of its one output row each: spread)
        copy their chunk (chunk_input): when it fits CHUNK_BYTES and the unit's filters read each
        copied vector CHUNK_READS times on average (kept kernels per unit over input channels)."""
        conv, cin = self.conv, self.conv.input_shape[1]
        if not (self.spread and unit_1x1(conv) and not any(conv.padding) and self.oh == 1):
            return False
        reads = int((conv.kernel_pattern >= 0).sum()) / ((len(self.bounds) - 1) * cin)
        return cin * self.layout.vectors * self.width * 4 <= CHUNK_BYTES and reads >= CHUNK_READS

    def slice_rows(self) -> int:
        """Plane rows a row group's blocks read: its rows and the taps' reach below them."""
        taps = zip(*np.nonzero(self.conv.patterns.any(axis=0)))
        return self.rows + max(self.layout.tap(kh, kw)[1] for kh, kw in taps)

    def slice_length(self) -> int:
        """Floats of a unit's slice per phase plane: its rows, then what the last row's blocks
        read past its end (their last vectors and the taps' column reach), and a vector more for
        the aligned neighbours of lane shifts and the staging's whole-vector stores past the last
        row (stage_slice), in whole vectors."""
        layout, width = self.layout, self.width
        taps = zip(*np.nonzero(self.conv.patterns.any(axis=0)))
        reach = (self.slice_rows() - 1) * layout.row + layout.out_cols(width) + max(
            layout.tap(kh, kw)[2] for kh, kw in taps)
        return (ceil_div(max(reach, self.slice_rows() * layout.row), width) + 1) * width

    def slice_fits(self) -> bool:
        """Whether a single-kernel (depthwise) conv's units stage each filter's input rows
        themselves (stage_slice, in single_kernel_filters) instead of reading a flat copy of the
        whole input made first: that copy writes every channel's phase planes out to memory and
        the conv reads them back, where a unit's slice of one channel stays in L1 between its
        copy and its reads. Not for one-row outputs whose units take column chunks (spread)."""
        if self.single is None or self.spread or self.direct:
            return False
        return len(self.layout.planes) * self.slice_length() * 4 <= SLICE_BYTES

    def unit_columns(self, i_n, y0, outer) -> None:
        """The unit's column chunks: its one chunk (a full one or the partial last one) when the units
        spread over one row's chunks, else every chunk of its row group: chunk by chunk, every
        filter of the unit in each; for single-kernel filters (depthwise) filter by filter, every
        chunk in each, so that the filter's one input channel stays in cache across its chunks
        (no other filter reads it)."""
        def each_filter(blocks) -> None:
            """The unit's filters over the register blocks `blocks(body)` passes to body."""
            if self.single is not None:
                self.single_kernel_filters(blocks)
            else:
                blocks(self.block_filters)

        def at(x0, vectors: int, lanes: int):
            """`blocks` of the one block at output column x0."""
            blk = self.block_at(i_n, y0, x0, vectors, lanes)
            return lambda body: body(blk)

        if self.spread:
            if self.chunked:
                self.chunk_buffer()
            self.spread_chunks(i_n, outer, each_filter, at)
            return

        if self.sliced:  # the unit's slice (single_kernel_filters), an alloca like chunk_buffer's
            size = [len(self.layout.planes), self.slice_length()]
            self.slice = memref.AllocaOp(ir.MemRefType.get(size, self.element), [], [], alignment=64).result
            self.unit_rows = (i_n, y0)
        each_filter(lambda body: self.each_chunk(i_n, y0, body))

    def each_chunk(self, i_n, y0, body) -> None:
        """body(block) for the block of every chunk of the row group from y0: the partial last
        chunk first, so that the whole last vectors of its rows (whole_tail) spill into columns
        of the next rows that the full chunks write afterwards."""
        chunk = self.layout.vectors * self.width
        full_chunks, rest = divmod(self.ow, chunk)
        if rest:
            body(self.block_at(i_n, y0, index(full_chunks * chunk), ceil_div(rest, self.width), rest % self.width))
        if full_chunks:
            with loop(0, full_chunks) as j:
                body(self.block_at(i_n, y0, mul(j, chunk), self.layout.vectors, 0))

    def whole_tail(self, r: int) -> bool:
        """Whether row r of a block stores its partial last vector whole instead of masked (masked
        stores are slow on x86 and scalarised on NEON: passes/cpu/staging.py's docstring); a conv
        of 7, 14 or 28 output columns stored one per row, filter and pass. The lanes past the
        row's end land in the next output row's first columns, which must be written afterwards
        by the same thread with nothing reading them between: row r + 1 is in the block
        (r + 1 < rows) and stored (not past the output's edge: first_spill), and its columns
        there belong to this block (one chunk a row) or to the row group's full chunks, which
        each_chunk runs after the partial one, each starting with a store of its own
        (stores_first), and the lanes past the row's end are no more than a row (1 output column
        in 4 lanes would reach past row r + 1). Not for units that spread over one row's chunks
        (another unit writes the other chunks)."""
        return (not self.spread and r + 1 < min(self.rows, self.first_spill)
                and self.width - self.ow % self.width <= self.ow
                and (self.layout.chunks == 1 or self.stores_first))

    @property
    def stores_first(self) -> bool:
        """Whether a block's passes (tiled: bias, channel tiles, activation) all run before the
        next block's, so that a block's first access to its outputs is a store: the pattern
        loops' blocks run their passes block by block."""
        return True

    def spread_chunks(self, i_n, outer, each_filter, at) -> None:
        """A unit that takes one column chunk of the output row (spreads): its one chunk, a full one
        or the partial last one, for every filter of the unit."""
        chunk = self.layout.vectors * self.width
        full_chunks, rest = divmod(self.ow, chunk)
        if full_chunks:
            with guarded(arith.CmpIOp(arith.CmpIPredicate.ult, outer, index(full_chunks)).result), \
                    self.chunk_input(i_n, mul(outer, chunk), self.layout.vectors, 0):
                each_filter(at(mul(outer, chunk), self.layout.vectors, 0))
        if rest:
            vectors, lanes = ceil_div(rest, self.width), rest % self.width
            with guarded(arith.CmpIOp(arith.CmpIPredicate.eq, outer, index(full_chunks)).result), \
                    self.chunk_input(i_n, index(full_chunks * chunk), vectors, lanes):
                each_filter(at(index(full_chunks * chunk), vectors, lanes))

    def chunk_buffer(self) -> None:
        """A pointwise conv's (`chunked`) unit gets a buffer of its own for its column chunk of every
        input channel, laid channel after channel (chunk_input), on its thread's stack: an alloca
        in the unit's scf.parallel iteration, whose body is an allocation scope."""
        size = [self.conv.input_shape[1], self.layout.vectors * self.width]
        self.own = memref.AllocaOp(ir.MemRefType.get(size, self.element), [], [], alignment=64).result

    @contextmanager
    def chunk_input(self, i_n, x0, vectors: int, lanes: int):
        """`with chunk_input(...):` the blocks of a chunked unit read its column chunk from its own
        copy (chunk_buffer): the chunk's `vectors` vectors from output column x0 (the last one's
        first `lanes` lanes, zeros past them, when lanes > 0) of every input channel. In place, a
        chunk's channel rows lie a whole plane apart (H*W floats), and at planes of 16x16 or 32x32
        most of them fall in the same few L1 sets, so the filters' reads of the chunk come from
        L2; laid end to end they share the cache evenly. Not chunked: the reads are unchanged."""
        if not self.chunked:
            yield
            return
        width = self.width
        mask = lane_mask(width, lanes) if lanes else None
        with loop(0, self.conv.input_shape[1]) as c:
            for v in range(vectors):
                at = [i_n, c, index(0), add(x0, v * width)]
                partial = mask is not None and v == vectors - 1
                value = masked_vload(width, self.x, at, mask) if partial else vload(width, self.x, at)
                vstore(convert(value, self.element), self.own, [c, index(v * width)])
        source, self.x = self.x, self.own
        try:
            yield
        finally:
            self.x = source

    def block_at(self, i_n, y0, x0, vectors: int, lanes: int) -> Block:
        """The register block of `vectors` vectors from output column x0 of the row group from y0,
        the last vector's first `lanes` lanes stored (all when 0)."""
        layout, rows, width = self.layout, self.rows, self.width
        ys = [add(y0, r) for r in range(rows)]
        return Block(
            layout=dataclasses.replace(layout, vectors=vectors), i_n=i_n, y0=y0, x0=x0,
            corner=self.block_corner(y0, x0), at=[(r, v) for r in range(rows) for v in range(vectors)], ys=ys,
            clamped=[arith.MinUIOp(y, index(self.oh - 1)).result if r >= self.first_spill else y
                     for r, y in enumerate(ys)],
            xs=[add(x0, v * width) for v in range(vectors)],
            mask=lane_mask(width, lanes) if lanes else None,
            colsets=ColumnSets(self.columns, rows, vectors, width, width - (lanes or width)) if self.columns else None,
            depth=list(self.depth))

    def block_filters(self, blk: Block) -> None:
        """The block for every filter of the unit (tiled)."""
        self.tiled(lambda body: self.each_filter_of(blk, body))

    def each_filter_of(self, blk: Block, body) -> None:
        """body(blk, q, cos) for every filter position q of the unit (filters)."""
        with self.filters() as (q, cos):
            body(blk, q, cos)

    def tiled(self, each) -> None:
        """Bias in, kernels, activation out for every (block, filter position q, its filters cos)
        `each(body)` passes to body: channel tile by channel tile, each tile's pass over all of
        them, with the partial sums parked in the output between tiles."""
        kind = self.conv.activation

        def whole(blk: Block, q, cos: list) -> None:  # the whole filter in registers
            accs = self.kernels(blk, q, cos, index(0), self.start(blk, self.bias(blk, cos)))
            self.store_block(blk, cos, [activate(kind, v) for v in self.finish(blk, accs)])

        if self.tiles == 1:
            each(whole)
            return
        each(lambda blk, q, cos: self.store_block(blk, cos, self.bias(blk, cos)))
        with loop(0, self.tiles) as tl:
            def tile(blk: Block, q, cos: list) -> None:
                accs = self.kernels(blk, q, cos, tl, self.start(blk, self.load_block(blk, cos)))
                self.store_block(blk, cos, self.finish(blk, accs))

            each(tile)
        if kind != "none":
            each(lambda blk, q, cos: self.store_block(blk, cos, [activate(kind, v) for v in self.load_block(blk, cos)]))

    def block_corner(self, y0, x0):
        """The flat input offset of the tap (0, 0) of the block at output (y0, x0) (in a unit's
        slice, whose row 0 is the row group's first: x0)."""
        return x0 if self.sliced else add(mul(y0, self.layout.row), x0)

    def start(self, blk: Block, values: list) -> list:
        """The accumulators of a block starting from `values` (its output vectors)."""
        return blk.colsets.initial(values, self.vtype) if blk.colsets else values

    def finish(self, blk: Block, accs: list) -> list:
        """The block's output vectors from its accumulators."""
        return blk.colsets.combine(accs, self.vtype) if blk.colsets else accs

    @contextmanager
    def filters(self):
        """`with filters() as (q, cos):` the unit's filter positions in filter_order (one filter
        each), or its filter blocks (`fblock` consecutive filters each)."""
        with loop(self.first, self.last) as q:
            if self.fblock == 1:
                yield q, [load_index(self.order, q)]
            else:
                yield q, [add(mul(q, self.fblock), f) for f in range(self.fblock)]

    def read_at(self, blk: Block, ci, plane, row, col) -> list:
        """Indices of the input vector at (row, col) from the block's corner."""
        if self.chunked:  # the unit's own copy of its chunk (chunk_input): a 1x1 tap, row and plane 0
            return [ci, col]
        if self.sliced:  # the unit's slice of the filter's channel (single_kernel_filters)
            return [plane, add(blk.corner, row * self.layout.row + col)]
        if self.direct:
            return [blk.i_n, ci, add(blk.y0, row), add(blk.x0, col)]
        return [blk.i_n, ci, plane, add(blk.corner, row * self.layout.row + col)]

    def input_vectors(self, blk: Block, ci, reads):
        """(uses, vector) of each of `reads` (block_reads) of input channel ci."""
        return read_vectors(reads, self.width, lambda *at: vload(self.width, self.x, self.read_at(blk, ci, *at)),
                            self.shifts)

    def bias(self, blk: Block, cos: list) -> list:
        values = [convert(load(self.b, [co]), self.element) if self.b is not None else splat(self.vtype, 0.0)
                  for co in cos]
        return [value if value.type == self.vtype else vector.BroadcastOp(self.vtype, value).result
                for value in values for _ in blk.at]

    def kernels(self, blk: Block, q, cos: list, tl, accs: list) -> list:
        """The filter at position q (or filter block q) over channel tile tl."""
        group_base = mul(arith.DivUIOp(cos[0], index(self.cout_g)).result, self.cin_g)
        if self.fblock > 1:
            return self.block_channels(blk, q, tl, accs, group_base)
        patterns = len(self.conv.patterns)
        for p in range(patterns):
            accs = self.kernel_run(blk, p, add(mul(add(mul(tl, self.cout), q), patterns), p), accs, group_base)
        return accs

    def kernel_run(self, blk: Block, p: int, run, accs: list, group_base) -> list:
        """One branch-free loop over the run's kernels, the pattern's taps unrolled."""
        loop_op = scf.ForOp(load_index(self.begin, run), load_index(self.begin, add(run, 1)), index(1), accs)
        with ir.InsertionPoint(loop_op.body):
            scf.YieldOp(self.kernel_taps(blk, p, loop_op.induction_variable, list(loop_op.inner_iter_args),
                                         group_base))
        return list(loop_op.results)

    def kernel_taps(self, blk: Block, p: int, k, carried: list, group_base) -> list:
        """Kernel k (of the runs' tables), of pattern p, into the block's accumulators: its taps
        unrolled, each input vector of the block loaded once and fed to every (tap, output row)
        that reads it, input row by input row (kernel-level load sharing)."""
        ci = add(group_base, load_index(self.channel, k))
        base = mul(k, self.weight_step) if self.weight_step else load_index(self.offset, k)
        taps = list(zip(*np.nonzero(self.conv.patterns[p])))
        weights = [vector.BroadcastOp(self.vtype, load(self.w, [add(base, t)])).result for t in range(len(taps))]
        reads = block_reads(taps, blk.layout, self.width, blk.colsets.columns if blk.colsets else None)
        for uses, value in self.input_vectors(blk, ci, reads):
            for t, a in uses:
                carried[a] = vector.FMAOp(weights[t], value, carried[a]).result
        return carried

    def single_kernel_filters(self, blocks) -> None:
        """The unit's filters when each has at most one kernel (a depthwise conv): the reorder
        puts them in runs of one pattern, so one loop per pattern over its filters, the taps
        unrolled, replaces a loop per (filter, pattern) that would mostly run zero times; then
        the filters with no kernel (their activated bias). `blocks(body)` calls body(block) for
        each register block a filter computes (the unit's chunks)."""
        kind, patterns = self.conv.activation, len(self.conv.patterns)
        for p, (lo, hi) in enumerate(self.single):
            first = arith.MinUIOp(arith.MaxUIOp(self.first, index(lo)).result, self.last).result
            last = arith.MaxUIOp(arith.MinUIOp(self.last, index(hi)).result, first).result
            with loop(first, last) as q:
                cos = [load_index(self.order, q)]
                if p < patterns:
                    group_base = mul(arith.DivUIOp(cos[0], index(self.cout_g)).result, self.cin_g)
                    kernel = load_index(self.begin, add(mul(q, patterns), p))

                def body(blk: Block, p=p, cos=cos) -> None:
                    accs = self.start(blk, self.bias(blk, cos))
                    if p < patterns:
                        accs = self.kernel_taps(blk, p, kernel, accs, group_base)
                    self.store_block(blk, cos, [activate(kind, v) for v in self.finish(blk, accs)])

                if self.sliced and p < patterns:  # the filter's channel's rows, into the unit's slice
                    i_n, y0 = self.unit_rows
                    ci = add(group_base, load_index(self.channel, kernel))
                    conv = self.conv
                    stage_slice(self.width, self.x, self.slice, self.layout, [i_n, ci], y0, self.slice_rows(),
                                self.slice_length(), tuple(conv.input_shape[2:]), (conv.padding[0], conv.padding[1]))
                    source, self.x = self.x, self.slice
                    blocks(body)
                    self.x = source
                else:
                    blocks(body)

    def block_channels(self, blk: Block, q, tl, accs: list, group_base) -> list:
        """A block of `fblock` alike filters over channel tile tl: one loop over the channels. When
        the block's weights of a channel fit in registers beside its accumulators, each input
        vector is loaded once for every tap, row and filter; else (a dense 3x3 or 7x7 block: 36 or
        196 weights) tap by tap, the tap's `fblock` weights broadcast, then each of the block's
        input vectors for that tap loaded once for every filter (the schedule's taps_first)."""
        fblock, tile = self.fblock, self.tile
        taps = list(zip(*np.nonzero(self.conv.patterns[0])))
        end = arith.MinUIOp(add(mul(tl, tile), tile), index(self.cin_g)).result
        loop_op = scf.ForOp(mul(tl, tile), end, index(1), accs)
        with ir.InsertionPoint(loop_op.body):
            k = loop_op.induction_variable
            ci = add(group_base, k)
            base = mul(add(mul(q, self.cin_g), k), fblock * len(taps))  # block_weights' layout

            def tap_weights(t: int) -> list:
                """Tap t's weight of each filter of the block, broadcast."""
                return [vector.BroadcastOp(self.vtype, load(self.w, [add(base, f * len(taps) + t)])).result
                        for f in range(fblock)]

            carried = list(loop_op.inner_iter_args)
            if self.schedule.taps_first:
                for t, (kh, kw) in enumerate(taps):
                    weights = tap_weights(t)
                    plane, row, col = blk.layout.tap(kh, kw)
                    for a, (r, v) in enumerate(blk.at):
                        at = self.read_at(blk, ci, plane, row + r, col + v * self.width)
                        feed_filters(carried, weights, vload(self.width, self.x, at), a, len(blk.at))
            else:
                weights = [tap_weights(t) for t in range(len(taps))]
                for uses, value in self.input_vectors(blk, ci, block_reads(taps, blk.layout, self.width)):
                    for t, a in uses:
                        feed_filters(carried, weights[t], value, a, len(blk.at))
            scf.YieldOp(carried)
        return list(loop_op.results)

    def store_block(self, blk: Block, cos: list, accs: list) -> None:
        for i, acc in enumerate(accs):
            r, v = blk.at[i % len(blk.at)]
            indices = [blk.i_n, cos[i // len(blk.at)], *blk.depth, blk.ys[r], blk.xs[v]]
            spill = r >= self.first_spill  # only the last row group reaches past the edge
            with guarded(arith.CmpIOp(arith.CmpIPredicate.ult, blk.ys[r], index(self.oh)).result) if spill \
                    else nullcontext():
                value = convert(acc, ir.F32Type.get())
                masked = blk.mask is not None and v == len(blk.xs) - 1 and not self.whole_tail(r)
                vstore(value, self.out, indices, blk.mask if masked else None)

    def load_block(self, blk: Block, cos: list) -> list:
        values = []
        for co in cos:
            for r, v in blk.at:
                indices = [blk.i_n, co, *blk.depth, blk.clamped[r], blk.xs[v]]
                if blk.mask is not None and v == len(blk.xs) - 1:
                    values.append(masked_vload(self.width, self.out, indices, blk.mask))
                else:
                    values.append(vload(self.width, self.out, indices))
        return [convert(value, self.element) for value in values]


class GroupEmitter(ConvEmitter):
    """Builds a 3-D conv's SIMD loops: its filters in blocks over their kept (input channel,
    kernel position) columns (passes/conv/groups.py: a KGS group's filters share theirs), each
    column step loading the block's input vectors once for every filter of the block. The input
    is staged depth plane by depth plane (flat_input) and addressed as one flat buffer, so a
    column is one offset from the block's corner: channel, depth tap, phase plane, row and
    column together. Work units are (output depth plane, row group, range of filter blocks);
    parked partial sums, bias and activation as in the 2-D loops, but each channel tile runs over
    all the unit's blocks before the next (unit_columns)."""

    def __init__(self, op, weight: np.ndarray, target: SimdTarget, f16: bool):
        self.op, self.conv = op, pconv.Conv(op)
        conv = self.conv
        self.schedule, self.layout = plan_groups(conv, target, weight)
        s = self.schedule
        self.width, self.rows, self.tile, self.fblock = s.lanes, s.rows, s.tile, s.fblock
        self.shifts, self.columns = False, ()
        self.direct = self.spread = self.chunked = self.sliced = False
        self.single = None  # filter blocks over columns, never one loop per pattern
        _, self.cout, self.od, self.oh, self.ow = conv.output_shape
        self.cols = FilterColumns.build(conv, weight, s.fblock, s.tile)
        self.tiles = self.cols.tiles
        self.row_units = self.layout.groups
        self.bounds = block_units(self.cols.blocks, self.od * self.row_units, s.units)
        self.f16 = f16
        self.depth = []
        # weights and offsets that cannot stay in the L2 between calls are prefetched (PREFETCH_COLUMNS)
        self.prefetch = self.cols.weights.size * (2 if f16 else 4) + 4 * len(self.cols.channel) > target.l2

    def offsets(self) -> np.ndarray:
        """Each column's flat input offset from its block's corner."""
        conv, layout, cols = self.conv, self.layout, self.cols
        kd, kh, kw = np.unravel_index(cols.position, conv.kernel_shape)
        planes, depth_pitch = len(layout.planes), self.padded_depth * len(layout.planes) * layout.in_length
        taps = {(h, w): layout.tap(h, w) for h, w in set(zip(kh.tolist(), kw.tolist()))}
        plane, row, col = (np.array([taps[h, w][i] for h, w in zip(kh.tolist(), kw.tolist())], dtype=np.int64)
                           for i in range(3))
        offsets = (cols.channel * depth_pitch + (kd * conv.dilations[0] * planes + plane) * layout.in_length
                   + row * layout.row + col)
        size = conv.input_shape[0] * conv.input_shape[1] * depth_pitch
        if size >= 2 ** 31:
            raise op_error(self.op, f"the staged input holds {size} elements, more than the 2^31 this lowering "
                                    f"addresses: split the batch or the clip into smaller inputs")
        return offsets

    def emit(self) -> None:
        op, conv, layout = self.op, self.conv, self.layout
        n, c, d = conv.input_shape[:3]
        front, back = conv.padding[0], conv.padding[3]
        self.padded_depth = d + front + back
        with ir.InsertionPoint(op), op.location:
            f32_type = ir.F32Type.get()
            self.element = ir.F16Type.get() if self.f16 else f32_type
            self.vtype = vector_type(self.width, self.element)
            staged = flat_input(conv, layout, self.width, self.element)
            size = int(np.prod(staged.type.shape))
            self.x = memref.CollapseShapeOp(ir.MemRefType.get([size], self.element), staged,
                                            [list(range(len(staged.type.shape)))]).result
            self.w = read_buffer(weight_constant(self.cols.weights, self.element))
            self.b = read_buffer(conv.bias) if conv.bias is not None else None
            self.begin, self.offset = table(self.cols.begin), table(self.offsets())
            unit = table(self.bounds)
            self.out = memref.AllocOp(ir.MemRefType.get(conv.output_shape, f32_type), [], []).result
            self.first_spill = self.oh - (layout.groups - 1) * self.rows
            split = len(self.bounds) - 1
            plane_pitch = len(layout.planes) * layout.in_length
            with loop(0, n) as i_n, parallel(0, self.od * layout.groups * split) as unit_id:
                outer = arith.DivUIOp(unit_id, index(split)).result  # (output depth plane, row group)
                od = arith.DivUIOp(outer, index(layout.groups)).result
                y0 = mul(arith.RemUIOp(outer, index(layout.groups)).result, self.rows)
                part = arith.RemUIOp(unit_id, index(split)).result
                self.first, self.last = load_index(unit, part), load_index(unit, add(part, 1))
                self.depth = [od]
                # the batch item's first staged plane, then the output depth plane's first depth tap
                self.base = mul(add(mul(i_n, c * self.padded_depth), mul(od, conv.strides[0])), plane_pitch)
                self.unit_columns(i_n, y0, outer)
            result = bufferization.ToTensorOp(op.results[0].type, self.out, restrict=True, writable=True).result
        op.results[0].replace_all_uses_with(result)
        op.erase()

    def unit_columns(self, i_n, y0, outer) -> None:
        """The unit's blocks, channel tile by channel tile outside them (tiled): a tile's weights
        of the unit's filters, read once per block, stay in cache across the unit's blocks
        instead of the whole conv's weights streaming through it for every block. The last row
        group, when the rows do not tile the output's, takes blocks of only its own rows (emitted
        again under an scf.if): 3-row blocks over a 7-row output computed 9 rows, and the shorter
        block ran 5-8% faster on such layers (bench/RESULTS.md, 2026-12-01)."""
        def blocks() -> None:
            self.tiled(lambda body: self.each_chunk(i_n, y0, lambda blk: self.each_filter_of(blk, body)))

        full, last = self.rows, self.first_spill
        if last == full:
            blocks()
            return
        is_last = arith.CmpIOp(arith.CmpIPredicate.eq, y0, index(self.oh - last)).result
        branch = scf.IfOp(is_last, has_else=True)
        with ir.InsertionPoint(branch.then_block):
            self.rows = last
            blocks()
            self.rows = full
            scf.YieldOp([])
        with ir.InsertionPoint(branch.else_block):  # the other groups: no row past the edge to guard
            self.first_spill = full
            blocks()
            self.first_spill = last
            scf.YieldOp([])

    def block_corner(self, y0, x0):
        return add(self.base, add(mul(y0, self.layout.row), x0))

    @property
    def stores_first(self) -> bool:
        """A channel tile runs over all the unit's blocks before the next tile: with more than
        one tile a block's pass reads the sums the previous tile parked, which a spill of the
        partial chunk before it would have overwritten."""
        return self.tiles == 1

    @contextmanager
    def filters(self):
        with loop(self.first, self.last) as q:
            yield q, [add(mul(q, self.fblock), f) for f in range(self.fblock)]

    def kernels(self, blk: Block, q, cos: list, tl, accs: list) -> list:
        """Filter block q over channel tile tl: one loop over its kept columns, each loading the
        block's input vectors once for every filter of the block."""
        fblock, width, layout = self.fblock, self.width, self.layout
        run = add(mul(q, self.tiles), tl)
        loop_op = scf.ForOp(load_index(self.begin, run), load_index(self.begin, add(run, 1)), index(1), accs)
        with ir.InsertionPoint(loop_op.body):
            k = loop_op.induction_variable
            at = add(blk.corner, load_index(self.offset, k))
            base = mul(k, fblock)
            if self.prefetch:  # the column PREFETCH_COLUMNS ahead, clamped to the last column
                ahead = arith.MinUIOp(add(k, PREFETCH_COLUMNS), index(max(len(self.cols.channel) - 1, 0))).result
                memref.PrefetchOp(self.w, [mul(ahead, fblock)], False, 3, True)
                memref.PrefetchOp(self.offset, [ahead], False, 3, True)
            carried = list(loop_op.inner_iter_args)

            def weight(f: int):
                return vector.BroadcastOp(self.vtype, load(self.w, [add(base, f)])).result

            def vector_at(a: int):
                r, v = blk.at[a]
                return vload(width, self.x, [add(at, r * layout.row + v * width)])

            # the smaller side is held in registers while the other is read one at a time
            # (group_registers): the block's input vectors, or the filters' broadcast weights
            if len(blk.at) <= fblock:
                inputs = [vector_at(a) for a in range(len(blk.at))]
                for f in range(fblock):
                    feed_inputs(carried, weight(f), inputs, f * len(blk.at))
            else:
                weights = [weight(f) for f in range(fblock)]
                for a in range(len(blk.at)):
                    feed_filters(carried, weights, vector_at(a), a, len(blk.at))
            scf.YieldOp(carried)
        return list(loop_op.results)



@dataclasses.dataclass(frozen=True)
class Vectorize(ModulePass):
    """Lower pconv.conv2d to SIMD loops over kept kernels and kept taps, a register block of output
    rows x vectors per filter; pconv.conv3d and kernel-group conv2d to filter blocks over their
    kept columns."""

    name: ClassVar[str] = "pconv-vectorize"
    width: int = 8          # fp32 lanes of the target's vectors (the backend fills this from its target)
    accumulators: int = 10  # vector registers for accumulators (the backend: the target's registers - 6,
                            # leaving the pattern's weights and the shared input loads theirs)
    rows: int = 0           # register block shape; 0 = the op's tuned schedule, else the heuristic's (plan)
    vectors: int = 0
    tile: int = 0           # input channels per cache tile; 0 = as rows and vectors
    units: int = 0          # work units the threads share, about (passes/conv/units.py); 0 = as rows and
                            # vectors (the op's tuned schedule, else UNITS)
    cache: int = CACHE      # bytes of L1 data cache a channel tile's input rows may take (channel_tile;
                            # the backend: its target's l1)
    l2: int = CACHE_L2      # bytes of L2 a kernel-group conv's work unit may read again and again and
                            # still take all its channels in one tile (plan_groups; the backend: its target's l2)
    f16: bool = False       # compute in fp16 (AArch64 +fullfp16): `width` is then fp16 lanes
    shifts: bool = False    # read unaligned input vectors as lane shifts of aligned ones where that
                            # takes fewer loads (`read_vectors`; the backend sets it for AVX-512)

    def __post_init__(self):
        self.require_positive("width", "accumulators", "cache", "l2")
        problem = schedule_problem((self.rows, self.vectors, self.tile, self.units))
        if problem:
            raise self.option_error(f"option {problem}")

    @property
    def target(self) -> SimdTarget:
        return SimdTarget(self.width, self.accumulators, self.shifts, self.cache, self.l2)

    def run(self, module: ir.Operation) -> None:
        verify_pconv(module)
        requested = (self.rows, self.vectors, self.tile, self.units)
        for op in pconv.walk_convs(module):  # in order: a conv's users are still pconv ops
            op = decimate(op, self.width)
            read = read_by_users(op)
            conv = pconv.Conv(op)
            weight = dense_weights(conv)
            if not kernel_groups(conv, weight):
                ConvEmitter(flatten_pointwise(op), self.target, requested, self.f16, read).emit()
            elif weight is None:  # weights computed at run time: the reference loops read them as they are
                lower_conv(op)
            else:
                check_tuned(conv, self.target)
                GroupEmitter(*group_conv(op, self.target, weight), self.target, self.f16).emit()
        module.verify()
