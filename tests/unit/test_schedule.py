"""What a valid schedule is (passes/conv/schedule.py schedule_problem), and pconv-vectorize's and
dense-vectorize's options checked where they enter: negative or zero counts once computed NaNs,
relative errors of 2e22 or divisions by zero, and a 1000-row block compiled for minutes."""

import numpy as np
import pytest
from torch_mlir import ir
from torch_mlir.dialects import arith, func

from fretsaw import FretsawError
from fretsaw.context import make_context
from fretsaw.dialect import pconv
from fretsaw.pipeline import parse_pipeline
from fretsaw.passes.conv.schedule import SimdTarget, candidates, schedule_problem
from fretsaw.target import CpuTarget

AVX2 = CpuTarget("avx2", 8, 2, registers=16)
AVX512 = CpuTarget("avx512", 16, 2, registers=32, shifts=True)
NEON = CpuTarget("neon", 4, 4, registers=32)
MODULES = []  # the modules of the convs built here, kept alive with their ops


def target(cpu: CpuTarget) -> SimdTarget:
    """The schedule's view of `cpu`: what the backends give pconv-vectorize."""
    return SimdTarget.of(cpu)


@pytest.fixture(scope="module")
def context():
    ctx = make_context()
    with ctx, ir.Location.unknown():
        yield ctx


def conv(cin: int, cout: int, size: int, *, kernel: int = 3, padding: int = 1, patterns=None, pattern_of=None,
         groups: int = 1, stride: int = 1):
    """A pconv.conv2d over 1 x cin x size x size with constant weights (a dense layer: one
    all-ones pattern, every kernel kept, unless `patterns` and `pattern_of(co, ci)` say otherwise;
    ci counts the filter's group's channels)."""
    patterns = np.ones((1, kernel, kernel), bool) if patterns is None else np.asarray(patterns, bool)
    kernel_pattern = np.array([[pattern_of(co, ci) if pattern_of else 0 for ci in range(cin // groups)]
                               for co in range(cout)],
                              dtype=np.int8)
    f32 = ir.F32Type.get()
    out = (size + 2 * padding - patterns.shape[1]) // stride + 1
    in_type = ir.RankedTensorType.get([1, cin, size, size], f32)
    out_type = ir.RankedTensorType.get([1, cout, out, out], f32)
    module = ir.Module.create()
    with ir.InsertionPoint(module.body):
        main = func.FuncOp("main", ([in_type], [out_type]))
        block = main.add_entry_block()
        with ir.InsertionPoint(block):
            count = pconv.packed_length(patterns, kernel_pattern)
            wtype = ir.RankedTensorType.get([count], f32)
            weights = arith.ConstantOp(wtype, ir.DenseElementsAttr.get(np.ones(count, np.float32), type=wtype)).result
            op = pconv.build_conv(block.arguments[0], weights, None, result_type=out_type, patterns=patterns,
                                    kernel_pattern=kernel_pattern, strides=[stride, stride], padding=[padding] * 4,
                                    dilations=[1, 1], groups=groups)
            func.ReturnOp([op.results[0]])
    pconv.verify_conv(op)
    MODULES.append(module)
    return pconv.Conv(op)


CROSS = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0]], [[1, 1, 0], [1, 1, 0], [0, 0, 0]]], bool)


def pattern_conv(cin=8, cout=16, size=20):
    return conv(cin, cout, size, patterns=CROSS, pattern_of=lambda co, ci: -1 if (co + ci) % 3 == 0 else (co + ci) % 2)


@pytest.mark.parametrize("schedule,problem", [
    ((0, 0, 0), None),
    ((2, 3, 4), None),
    ((0, 0, 5), None),                     # the heuristic's block, a given tile
    ((-1, 1, 1), "rows=-1 is negative"),
    ((1, -2, 1), "vectors=-2 is negative"),
    ((1, 1, -1), "tile=-1 is negative"),
    ((2, 0, 0), "rows=2 and vectors=0 go together"),
    ((0, 3, 0), "rows=0 and vectors=3 go together"),
])
def test_schedule_form(schedule, problem):
    found = schedule_problem(schedule)
    assert found == problem if problem is None else problem in found


def test_schedule_fits_the_conv(context):
    c = pattern_conv()  # 8 -> 16, 20 x 20 outputs
    assert schedule_problem((20, 1, 8), c) is None
    assert "rows=21 exceeds the 20 output row(s)" in schedule_problem((21, 1, 8), c)
    assert "tile=9 exceeds the conv's 8 input channels per group" in schedule_problem((1, 1, 9), c)
    assert "vectors=21 exceeds the 20 output columns" in schedule_problem((1, 21, 1), c)
    assert schedule_problem((1000, 1, 1), c).startswith("rows=1000 exceeds")
    pointwise = conv(8, 16, 4, kernel=1, padding=0)  # computed as one row of 16 pixels
    assert schedule_problem((1, 2, 8), pointwise) is None
    assert "one row of H*W" in schedule_problem((2, 1, 8), pointwise)


def test_schedule_fits_the_target(context):
    c = pattern_conv()
    avx2 = target(AVX2)  # 8 lanes: 3 vectors a row of 20; 10 accumulators
    assert schedule_problem((5, 2, 8), c, avx2) is None
    assert "vectors=4 exceeds the 3 vector(s) of 8 lanes" in schedule_problem((1, 4, 8), c, avx2)
    assert "holds 12 accumulators, more than the 10 of accumulators=10" in schedule_problem((4, 3, 8), c, avx2)
    dense = conv(8, 16, 20)  # blocks of 4 filters sharing half the registers: 2 vectors each
    assert schedule_problem((2, 1, 8), dense, avx2) is None
    assert "holds 12 accumulators, more than the 8 a block of 4 filters" in schedule_problem((3, 1, 8), dense, avx2)
    wide = pattern_conv(cin=4, cout=8, size=56)  # AVX-512: column sets, 24 accumulators at most
    assert "column sets" in schedule_problem((7, 4, 4), wide, target(AVX512))


@pytest.mark.parametrize("cpu", [AVX2, AVX512, NEON], ids=lambda cpu: cpu.name)
def test_tuning_candidates_are_valid_schedules(context, cpu):
    # whatever the tuner may time and cache, pconv-vectorize accepts at that target
    for c in (pattern_conv(), pattern_conv(cin=4, cout=8, size=56), conv(8, 16, 20), conv(3, 8, 30),
              conv(16, 24, 14, kernel=1, padding=0), conv(16, 8, 7, kernel=1, padding=0)):
        blocks, tiles = candidates(c, target(cpu))
        for rows, vectors in blocks:
            for tile in tiles:
                assert schedule_problem((rows, vectors, tile), c, target(cpu)) is None, (c.output_shape, cpu)


@pytest.mark.parametrize("element,message", [
    ("pconv-vectorize{width=0}", "option width=0 must be >= 1"),
    ("pconv-vectorize{width=-8}", "option width=-8 must be >= 1"),
    ("pconv-vectorize{accumulators=0}", "option accumulators=0 must be >= 1"),
    ("pconv-vectorize{accumulators=-3}", "option accumulators=-3 must be >= 1"),
    ("pconv-vectorize{cache=0}", "option cache=0 must be >= 1"),
    ("pconv-vectorize{cache=-5}", "option cache=-5 must be >= 1"),
    ("pconv-vectorize{tile=-1}", "option tile=-1 is negative"),
    ("pconv-vectorize{rows=-1 vectors=1}", "option rows=-1 is negative"),
    ("pconv-vectorize{rows=1 vectors=-2}", "option vectors=-2 is negative"),
    ("pconv-vectorize{rows=2}", "option rows=2 and vectors=0 go together"),
    ("dense-vectorize{width=0}", "option width=0 must be >= 1"),
    ("dense-vectorize{width=-8}", "option width=-8 must be >= 1"),
    ("dense-vectorize{vectors=0}", "option vectors=0 must be >= 1"),
    ("dense-vectorize{vectors=-1}", "option vectors=-1 must be >= 1"),
    ("dense-vectorize{chunk=0}", "option chunk=0 must be >= 1"),
])
def test_bad_pass_options_name_the_pass_and_option(element, message):
    name = element.split("{")[0]
    with pytest.raises(FretsawError, match=f"pass '{name}': {message}") as raised:
        parse_pipeline(f"builtin.module({element}, canonicalize)")
    assert raised.value.pass_name == name


@pytest.mark.parametrize("element", ["pconv-vectorize{width=3 accumulators=1 cache=1}",
                                     "pconv-vectorize{rows=0 vectors=0 tile=0}", "pconv-vectorize{rows=2 vectors=1}",
                                     "dense-vectorize{width=3 vectors=1 chunk=1}"])
def test_odd_but_valid_options_parse(element):
    # a width that is not a power of two gives correct (if slow) code: it is not an error
    (step,) = parse_pipeline(f"builtin.module({element})")
    assert step.python_pass is not None


def test_filter_blocks_run_tap_by_tap_when_their_weights_do_not_fit(context):
    """A dense block of 4 filters holds 4 weights a tap: a 1x1's fit beside its accumulators
    (input vector by vector, rows sharing loads), a 3x3's 36 or a 7x7's 196 do not (tap by tap,
    where a tap's loads are one contiguous run: the most vectors along a row among blocks as
    useful). A pattern conv's single filters never run tap by tap."""
    from fretsaw.passes.conv.schedule import plan

    for cpu in (AVX2, NEON):
        pointwise_plan = plan(conv(16, 16, 32, kernel=1, padding=0), target(cpu))
        assert pointwise_plan.fblock == 4 and not pointwise_plan.taps_first
        dense = plan(conv(8, 16, 32, kernel=7, padding=3), target(cpu))
        assert dense.fblock == 4 and dense.taps_first
        assert dense.vectors >= dense.rows  # 32 columns: whole vectors either way, so along the row
        pruned = plan(conv(8, 8, 32, patterns=[[[0, 1, 0], [1, 1, 1], [0, 0, 0]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]],
                           pattern_of=lambda co, ci: (co + ci) % 3 - 1), target(cpu))
        assert pruned.fblock == 1 and not pruned.taps_first


def test_channel_tiles_fit_the_targets_l1(context, tmp_path):
    """A channel tile's input rows fit the target's L1 data cache (CpuTarget.l1: the host's from
    sysfs, an AArch64 core's from its manual), at least MIN_TILE channels or all of them; the
    backends hand the L1 to pconv-vectorize as its `cache` option."""
    import dataclasses

    from fretsaw.backends.aarch64 import neon_target
    from fretsaw.backends.cpu import conv_options
    from fretsaw.passes.conv.schedule import plan
    from fretsaw.passes.cpu.blocks import MIN_TILE
    from fretsaw.passes.cpu.staging import Layout
    from fretsaw.target import L1, L2, cache_bytes, host_l1, host_l2

    wide = conv(512, 4, 28)
    tiles = {}
    for l1 in (32 << 10, 64 << 10):
        s = plan(wide, target(dataclasses.replace(AVX2, l1=l1)))
        layout = Layout.of(wide, s.lanes, s.rows, s.vectors)
        lines = (layout.rows + 2) * (-(-(s.vectors * s.lanes + 2) * 4 // 64) + 1)  # channel_tile's count
        assert MIN_TILE < s.tile and s.tile * lines * 64 <= l1 < (s.tile + 1) * lines * 64
        tiles[l1] = s.tile
    assert tiles[64 << 10] >= 2 * tiles[32 << 10]
    assert plan(conv(512, 4, 28), target(dataclasses.replace(AVX2, l1=1024))).tile == MIN_TILE
    assert plan(conv(16, 4, 28), target(AVX2)).tile == 16  # fewer channels than MIN_TILE: all of them
    assert f"cache={64 << 10}" in conv_options(dataclasses.replace(AVX2, l1=64 << 10))
    assert f"l2={1 << 20}" in conv_options(dataclasses.replace(AVX2, l2=1 << 20))

    assert neon_target(4, mcpu="cortex-a76").l1 == 64 << 10 and neon_target(4, mcpu="cortex-a55").l1 == 32 << 10
    assert neon_target(4).l1 == L1
    caches = [("1", "Instruction", "64K"), ("1", "Data", "48K"), ("2", "Unified", "1M")]
    for index, (level, kind, size) in enumerate(caches):
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        for name, text in (("level", level), ("type", kind), ("size", size)):
            (folder / name).write_text(text + "\n")
    assert host_l1(tmp_path) == 48 << 10 and host_l2(tmp_path) == 1 << 20
    assert host_l1(tmp_path / "missing") == L1 and host_l2(tmp_path / "missing") == L2
    assert (cache_bytes("512"), cache_bytes("2M"), cache_bytes("big")) == (512, 2 << 20, None)


def conv3d(weight: np.ndarray, size: tuple[int, int, int]) -> pconv.Conv:
    """A stride-1, padding-1 pconv.conv3d of these dense (pruned) weights over 1 x Cin x `size`."""
    f32 = ir.F32Type.get()
    patterns, kernel_pattern = pconv.recover_patterns(weight)
    packed = pconv.pack_weights(weight, patterns, kernel_pattern)
    out = pconv.conv_output_size(size, weight.shape[2:], (1, 1, 1), (1,) * 6, (1, 1, 1))
    in_type = ir.RankedTensorType.get([1, weight.shape[1], *size], f32)
    out_type = ir.RankedTensorType.get([1, weight.shape[0], *out], f32)
    module = ir.Module.create()
    with ir.InsertionPoint(module.body):
        main = func.FuncOp("main", ([in_type], [out_type]))
        with ir.InsertionPoint(main.add_entry_block()):
            w = arith.ConstantOp(ir.RankedTensorType.get([packed.size], f32), ir.DenseElementsAttr.get(packed))
            op = pconv.build_conv(main.arguments[0], w.result, None, result_type=out_type, patterns=patterns,
                                  kernel_pattern=kernel_pattern, strides=[1, 1, 1], padding=[1] * 6,
                                  dilations=[1, 1, 1], groups=1)
            func.ReturnOp([op.results[0]])
    MODULES.append(module)
    return pconv.Conv(op)


def test_pattern_convs_of_small_planes_take_all_their_channels_in_one_tile_on_large_l1_cores(context):
    """On a core whose L1 data cache is larger than WHOLE_TILE_L1 (48 KiB: Zen 5, Golden Cove), a
    pattern conv whose output plane takes at most WHOLE_TILE_GROUPS row groups (7x7, and 14x14
    where its blocks are tall enough) takes all its input channels in one tile: its units split
    the filters into short ranges that do not pay for L1 tiles. Larger planes keep the L1 tiles,
    and so do a dense layer's filter blocks at any size, and every plane on a core of a 32 KiB
    L1 (Zen 4, where one tile ran slower)."""
    import dataclasses

    from fretsaw.passes.conv.schedule import plan
    from fretsaw.passes.cpu.blocks import WHOLE_TILE_GROUPS, WHOLE_TILE_L1
    from fretsaw.passes.cpu.staging import Layout

    for cpu in (AVX2, AVX512):
        large, small = (dataclasses.replace(cpu, l1=l1) for l1 in (48 << 10, WHOLE_TILE_L1))
        groups = {}
        for size in (7, 14, 28, 56):
            c = pattern_conv(cin=256, cout=16, size=size)
            s = plan(c, target(large))
            groups[size] = Layout.of(c, s.lanes, s.rows, s.vectors).groups
            assert (s.tile == 256) == (groups[size] <= WHOLE_TILE_GROUPS), (cpu.name, size, s)
            assert plan(c, target(small)).tile < 256, (cpu.name, size)
        assert groups[7] <= WHOLE_TILE_GROUPS < groups[56], (cpu.name, groups)
        assert plan(conv(256, 4, 7), target(large)).tile < 256  # a dense layer's filter blocks


def test_depthwise_convs_take_tall_one_vector_blocks_without_column_sets(context):
    """A pattern-pruned depthwise conv (one kernel a filter, its unit staging the filter's rows)
    takes a block of one vector a row and up to DEPTHWISE_ROWS rows, the best-filling, with no
    column sets, on every target: MobileNet-V2's 112x112 and 56x56 ones ran 10-35% faster so
    than in the wide blocks with column sets (1x7, 2x4) that suit a filter of many kernels, which
    a pattern conv of the same plane keeps."""
    from fretsaw.passes.conv.schedule import plan
    from fretsaw.passes.cpu.blocks import DEPTHWISE_ROWS

    def depthwise(channels, size, stride=1):
        return conv(channels, channels, size, patterns=CROSS, pattern_of=lambda co, ci: co % 2, groups=channels,
                    stride=stride)

    for cpu in (AVX2, AVX512, NEON):
        for channels, size, stride, rows in ((32, 112, 1, 8), (96, 112, 2, 8), (144, 56, 1, 8), (960, 7, 1, 7)):
            s = plan(depthwise(channels, size, stride), target(cpu))
            assert (s.rows, s.vectors, s.columns) == (rows, 1, ()), (cpu.name, channels, size, stride, s)
            assert s.rows <= DEPTHWISE_ROWS
    wide = plan(pattern_conv(cin=8, cout=16, size=112), target(AVX512))
    assert wide.vectors > 1 and wide.columns, wide


def test_pruned_pointwise_convs_shrink_their_block_to_take_their_channels_in_one_tile(context):
    """A connectivity-pruned 1x1 conv whose block's input chunk of every channel outgrows one L1
    tile takes fewer vectors (at least POINTWISE_VECTORS) and all its channels in one tile
    (pointwise_vectors): ResNet-50's 64 -> 256 @56x56 and 128 -> 512 @28x28 on AVX-512, where the
    block was 14 and 7 vectors over two tiles. A block that reads its input in place stays in
    place, and a conv with fewer filters than channels keeps it over several tiles rather than
    stage its input (144 -> 32 @28x28); one whose chunk fits keeps its block (every target)."""
    from fretsaw.passes.conv.schedule import plan
    from fretsaw.passes.cpu.blocks import POINTWISE_VECTORS

    def pruned(cin, cout, size):
        return conv(cin, cout, size, kernel=1, padding=0, patterns=np.ones((1, 1, 1), bool),
                    pattern_of=lambda co, ci: 0 if (co + 3 * ci) % 4 == 0 else -1)

    avx512 = target(CpuTarget("avx512", 16, 2, registers=32, shifts=True, l1=48 << 10))  # Zen 5, Sapphire Rapids
    for cin, cout, size in ((64, 256, 56), (128, 512, 28), (96, 576, 14)):
        s = plan(pruned(cin, cout, size), avx512)
        assert s.tile == cin and POINTWISE_VECTORS <= s.vectors < 13, (cin, cout, size, s)
    assert (56 * 56) % (plan(pruned(64, 256, 56), avx512).vectors * 16) == 0  # still read in place
    few = plan(pruned(144, 32, 28), avx512)
    assert few.vectors == 7 and few.tile < 144, few  # 49 vectors a row: 7 read in place
    for cpu in (AVX2, AVX512, NEON):
        s = plan(pruned(16, 96, 112), target(cpu))
        assert s.tile == 16 and s.vectors >= 8, (cpu.name, s)


@pytest.mark.parametrize("cpu", [AVX2, NEON], ids=["avx2", "neon"])
def test_kernel_group_blocks_fit_the_registers(cpu):
    """A kernel-group lowering's register block fits the target's registers with the side it
    holds (group_registers); its filter block divides the kernel groups' 4 filters (no zero
    multiplied) unless the output is too small for enough FMA chains, with the most
    accumulators those registers take: 4 filters x 3 vectors on AVX2's
    16, at least 4 x 4 on NEON's 32."""
    from fretsaw.passes.cpu.blocks import RESERVED, group_block, group_registers

    registers = target(cpu).accumulators + RESERVED
    kgs = {1: 1.0, 2: 1.0, 4: 1.0, 8: 1.6}  # block_waste of 4x4 kernel groups
    dense = {f: 1.0 for f in (1, 2, 3, 4, 6, 8)}
    for size in (112, 56, 28, 14, 7, 4, 1):
        for waste in (kgs, dense):
            fblock, rows, vectors = group_block(size, size, cpu.vector_width, registers, waste)
            assert group_registers(fblock, rows * vectors) <= registers
            assert rows <= size and (vectors - 1) * cpu.vector_width < size
            if waste is kgs and size >= 4:  # a 1x1 output's one vector: 8 filters' chains beat the zeros
                assert 4 % fblock == 0
            if waste is kgs and size >= 14:
                assert fblock == 4 and (rows * vectors == 3 if cpu is AVX2 else rows * vectors >= 4)


def test_kernel_group_tiles_fit_the_targets_l1(context):
    """A 3-D conv's channel tile keeps its blocks' input rows over every depth tap within half
    the target's L1 (a 3x3x3 conv's 32 channels took twice a 32 KiB L1: each filter block re-read
    them from L2), at least GROUP_TILE channels or all of them."""
    import dataclasses

    from fretsaw.passes.conv.schedule import plan_groups
    from fretsaw.passes.cpu.blocks import GROUP_TILE

    rng = np.random.default_rng(0)
    weight = rng.standard_normal((8, 64, 3, 3, 3)).astype(np.float32)
    op = conv3d(weight, (4, 28, 28))
    for l1 in (64 << 10, 128 << 10):
        s, layout = plan_groups(op, target(dataclasses.replace(AVX2, l1=l1)), weight)
        lines = 3 * (layout.rows + 2) * (-(-(s.vectors * s.lanes + 2) * 4 // 64) + 1)  # 3 depth taps
        assert GROUP_TILE <= s.tile < 64 and s.tile * lines * 64 <= l1 // 2 < (s.tile + 1) * lines * 64
    s, _ = plan_groups(op, target(dataclasses.replace(AVX2, l1=1024)), weight)
    assert s.tile == GROUP_TILE


def test_kernel_group_convs_of_one_depth_tap_take_one_tile_when_a_unit_fits_l2(context):
    """A kernel-group conv with one depth tap (a KGS conv2d as the conv3d of depth 1, a (1, 3, 3)
    conv) whose work unit's input rows and weights fit the target's L2 (group_unit_bytes) takes
    all its channels in one tile: no sums parked between tiles. When they do not, or with depth
    taps (3x3x3), the tiles keep the L1 rule."""
    import dataclasses

    from fretsaw.passes.conv.schedule import plan_groups
    from fretsaw.passes.conv.units import UNITS
    from fretsaw.passes.cpu.blocks import group_unit_bytes
    from fretsaw.passes.cpu.staging import Plane

    rng = np.random.default_rng(0)
    flat = rng.standard_normal((16, 256, 1, 3, 3)).astype(np.float32)
    flat[:, :, :, 0] = 0  # KGS-like: every filter keeps the same 6 positions
    op = conv3d(flat, (1, 7, 7))
    s, layout = plan_groups(op, target(AVX2), flat)
    assert s.tile == 256
    unit = group_unit_bytes(Plane.of(op, flat), layout, flat, s.fblock, 1, op.output_shape[2] * layout.groups, UNITS)
    assert 256 * layout.row * 4 < unit <= AVX2.l2  # the rows of every channel, and the weights
    s, _ = plan_groups(op, target(dataclasses.replace(AVX2, l2=unit - 1)), flat)
    assert s.tile < 256
    s, _ = plan_groups(op, target(dataclasses.replace(AVX2, l2=unit)), flat)
    assert s.tile == 256
    cube = rng.standard_normal((16, 256, 3, 3, 3)).astype(np.float32)
    s, _ = plan_groups(conv3d(cube, (3, 7, 7)), target(dataclasses.replace(AVX2, l2=1 << 30)), cube)
    assert s.tile < 256


def test_kernel_group_pointwise_convs_run_flat_when_rows_lose_lanes_and_the_input_fits_l2(context):
    """A pointwise conv in kernel groups runs on its H*W pixels as one row (flat_groups) when its
    rows end inside a vector and its input fits the target's L2 (every work unit then reads it
    all): not at 56 columns (7 whole vectors), not with a 3x3 kernel, not for an input past L2."""
    import dataclasses

    from fretsaw.passes.conv.schedule import flat_groups

    avx2 = target(AVX2)
    assert flat_groups(conv(64, 16, 28, kernel=1, padding=0), avx2)  # 200 KB, 28 = 3.5 vectors
    assert flat_groups(conv(64, 16, 7, kernel=1, padding=0), avx2)
    assert not flat_groups(conv(16, 16, 56, kernel=1, padding=0), avx2)  # whole vectors a row
    assert not flat_groups(conv(64, 16, 28), avx2)  # 3x3
    assert not flat_groups(conv(512, 16, 28, kernel=1, padding=0), avx2)  # 1.6 MB
    assert flat_groups(conv(512, 16, 28, kernel=1, padding=0), target(dataclasses.replace(AVX2, l2=2 << 20)))


def test_temporal_convs_take_all_their_channels_in_one_tile(context):
    """A (k, 1, 1) conv's columns share no input rows: its channels are one tile (no sums parked
    between tiles), whatever the L1; a 3x3x3 conv of as many channels is cut into tiles."""
    from fretsaw.passes.conv.schedule import plan_groups

    rng = np.random.default_rng(0)
    temporal = rng.standard_normal((8, 144, 3, 1, 1)).astype(np.float32)
    s, _ = plan_groups(conv3d(temporal, (4, 14, 14)), target(AVX2), temporal)
    assert s.tile == 144
    cube = rng.standard_normal((8, 144, 3, 3, 3)).astype(np.float32)
    s, _ = plan_groups(conv3d(cube, (4, 14, 14)), target(AVX2), cube)
    assert s.tile < 144


@pytest.mark.parametrize("cpu", [AVX2, NEON], ids=["avx2", "neon"])
def test_kernel_group_candidates_are_valid_and_followed(context, cpu):
    """The tuner's candidates for a kernel-group conv (group_candidates) start with the
    heuristic's plan, are distinct, fit the target (schedule_problem), and plan_groups follows
    each as the op's tuned schedule: its filter block, register block, tile and units."""
    from fretsaw.passes.conv.schedule import SCHEDULE, group_candidates, plan_groups
    from fretsaw.passes.conv.units import UNITS

    rng = np.random.default_rng(0)
    weight = rng.standard_normal((8, 16, 3, 3, 3)).astype(np.float32)
    weight[:, :, :, 0] = 0
    op = conv3d(weight, (4, 14, 14))
    tgt = target(cpu)
    first, _ = plan_groups(op, tgt, weight)
    blocks, tiles = group_candidates(op, tgt, weight)
    assert blocks[0] == (first.rows, first.vectors, first.fblock) and tiles[0] == first.tile
    assert len(set(blocks)) == len(blocks) >= 2 and len(set(tiles)) == len(tiles) >= 2
    for (rows, vectors, filters), tile in zip(blocks, tiles * len(blocks)):
        schedule = [rows, vectors, tile, 2 * UNITS, filters]
        assert schedule_problem(schedule, op, tgt) is None, schedule
        op.op.attributes[SCHEDULE] = ir.DenseI64ArrayAttr.get(schedule)
        s, _ = plan_groups(op, tgt, weight)
        assert (s.rows, s.vectors, s.tile, s.units, s.fblock) == tuple(schedule)
    del op.op.attributes[SCHEDULE]


def test_kernel_group_schedule_problems(context):
    """What makes a kernel-group schedule invalid, each named: rows, vectors and filters apart, a
    filter block that does not divide the filters, too many registers or rows for the target."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((12, 16, 3, 3, 3)).astype(np.float32)
    op = conv3d(weight, (4, 14, 14))
    avx2 = target(AVX2)
    assert schedule_problem([1, 1, 0, 0, 4], op, avx2) is None
    assert schedule_problem([0, 0, 8, 0, 0], op, avx2) is None  # the heuristic's block, a tuned tile
    assert "go together for a kernel-group conv" in schedule_problem([1, 1, 0, 0, 0], op, avx2)
    assert "go together for a kernel-group conv" in schedule_problem([0, 0, 0, 0, 4], op)
    assert "filters=8 is not a block size for 12 filters per group (one of 1, 2, 3, 4, 6)" in \
        schedule_problem([1, 1, 0, 0, 8], op)
    assert "tile=17 exceeds the conv's 16 input channels" in schedule_problem([1, 1, 17, 0, 4], op)
    assert "4 filters x 4 x 1 vectors takes 21 vector registers, more than the 16 of accumulators=10" in \
        schedule_problem([4, 1, 0, 0, 4], op, avx2)
    assert "rows=15 exceeds the 14 output row(s)" in schedule_problem([15, 1, 0, 0, 1], op, avx2)
    assert "vectors=3 exceeds the 2 vector(s) an output row of 14 takes" in \
        schedule_problem([1, 3, 0, 0, 1], op, avx2)
