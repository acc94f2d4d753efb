"""Per-layer tuning: the search keeps the fastest schedule it timed (the heuristic's unless another
beats it again in a rematch), only candidates are timed, the chosen schedule lands on the op and
in the cache, a cached layer is not searched again, and the tuned model keeps the numerics. The
real timers run (spied on) except in test_search_keeps_the_fastest_schedule_it_timed, whose
made-up times make the answer known."""

import json

import numpy as np
import pytest
import torch
from torch import nn

import fretsaw
from conftest import ATOL, RTOL
from fretsaw import tune as tuning
from fretsaw.dialect import pconv
from fretsaw.passes.conv.schedule import SimdTarget
from fretsaw.prune import random_pattern_prune
from fretsaw.stats import layer_name
from fretsaw.target import host_target


def model_and_input():
    model = random_pattern_prune(nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                                               nn.Conv2d(16, 16, 3, stride=2, padding=1)).eval(), skip_first=False)
    return model, torch.randn(1, 8, 20, 20)


@pytest.fixture
def timings(monkeypatch):
    """What each layer's search offered and timed: {layer: (blocks, tiles, units, {schedule: ms},
    {schedule: ms of the rematch})}, blocks as (rows, vectors, filters), schedules as (rows,
    vectors, tile, units, filters). The real candidates and timers run; this only records them."""
    seen = {}
    candidates, time_schedule, rematch = tuning.block_candidates, tuning.time_schedule, tuning.rematch

    def offer(op, cpu):
        blocks, tiles = candidates(op, cpu)
        seen[layer_name(op.location)] = (blocks, tiles, tuning.unit_candidates(host_target()), {}, {})
        return blocks, tiles

    def time(op, schedule, backend, repeats):
        ms = time_schedule(op, schedule, backend, repeats)
        seen[layer_name(op.location)][3][tuple(schedule)] = ms
        return ms

    def again(op, schedules, backend, repeats):
        times = rematch(op, schedules, backend, repeats)
        seen[layer_name(op.location)][4].update(zip(map(tuple, schedules), times))
        return times

    monkeypatch.setattr(tuning, "block_candidates", offer)
    monkeypatch.setattr(tuning, "time_schedule", time)
    monkeypatch.setattr(tuning, "rematch", again)
    return seen


def schedule(record: dict) -> tuple[int, int, int, int, int]:
    return record["rows"], record["vectors"], record["tile"], record["units"], record.get("filters", 0)


def op_schedules(cm) -> dict[str, tuple[int, ...]]:
    """Layer -> the fretsaw.schedule on its pconv op (what pconv-vectorize follows), filters 0
    when the op leaves them out."""
    return {layer_name(op.location): (tuple(op.attributes["fretsaw.schedule"]) + (0,))[:5]
            for op in pconv.walk_convs(cm._stages["pconv"].operation)}


def block_of(schedule: tuple) -> tuple[int, int, int]:
    """(rows, vectors, filters) of a (rows, vectors, tile, units, filters) schedule."""
    return schedule[0], schedule[1], schedule[4]


def with_block(block: tuple, tile: int, units: int) -> tuple[int, int, int, int, int]:
    rows, vectors, filters = block
    return rows, vectors, tile, units, filters


def check_searched(record: dict, blocks, tiles, units, timed: dict, rematched: dict) -> None:
    """A searched layer's record: only candidates timed, the heuristic's schedule among them; the
    fastest of them, when it is the heuristic's, chosen with the times the timer measured; else
    rematched against the heuristic's and chosen only if it won by MARGIN, with the rematch's
    times."""
    assert timed and all(block_of(s) in blocks and s[2] in tiles and s[3] in units for s in timed), (timed, blocks)
    default, fastest = with_block(blocks[0], tiles[0], units[0]), min(timed, key=timed.get)
    if fastest == default:
        assert not rematched and schedule(record) == default
        assert record["ms"] == record["default_ms"] == timed[default]
    else:
        assert set(rematched) == {default, fastest} and record["default_ms"] == rematched[default]
        won = rematched[fastest] <= tuning.MARGIN * rematched[default]
        assert schedule(record) == (fastest if won else default) and record["ms"] == rematched[schedule(record)]
    assert record["tried"] == len(timed) >= 2


def test_tuned_compile_keeps_the_fastest_schedule_and_caches_it(tmp_path, timings, monkeypatch):
    model, x = model_and_input()
    cache = tmp_path / "tuning.json"
    cm = fretsaw.compile(model, (x,), tune=True, tuning_cache=str(cache))
    np.testing.assert_allclose(cm(x), model(x).detach().numpy(), rtol=RTOL, atol=ATOL)
    assert [r["layer"] for r in cm.tuning] == ["0", "2"] and not any(r["cached"] for r in cm.tuning)
    for record in cm.tuning:
        check_searched(record, *timings[record["layer"]])
    assert op_schedules(cm) == {r["layer"]: schedule(r) for r in cm.tuning}
    entries = json.loads(cache.read_text())
    assert all(json.loads(key)["threads"] == cm.backend.cpu.threads for key in entries)
    assert sorted(map(schedule, entries.values())) == sorted(map(schedule, cm.tuning))
    assert "tuned 2 conv(s) (2 searched, 0 from the cache)" in tuning.summary(cm.tuning)

    def no_search(*args, **kwargs):
        raise AssertionError("searched although the cache knows the layer")

    monkeypatch.setattr(tuning, "search", no_search)
    again = fretsaw.compile(model, (x,), tune=True, tuning_cache=str(cache))
    assert [{**r, "cached": False} for r in again.tuning] == cm.tuning and all(r["cached"] for r in again.tuning)
    assert op_schedules(again) == op_schedules(cm)
    np.testing.assert_allclose(again(x), model(x).detach().numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("block,tile,unit,rematch", [(-1, -1, -1, 1.0), (1, 0, 0, 1.0), (0, 0, 0, 1.0),
                                                     (0, 0, 1, 1.0), (1, 0, 2, 0.99)])
def test_search_keeps_the_fastest_schedule_it_timed(avx2_host, monkeypatch, block, tile, unit, rematch):
    # Made-up times (no compile, no timer; AVX2's candidates) in which one block, one tile and one
    # count of work units are each the fastest: the search must return that schedule, its time,
    # the heuristic's time (blocks[0], tiles[0], units[0]) and how many it timed: the heuristic's
    # tile and units with every block, then the best block with the other tiles, then the best
    # block and tile with the other units; a winner other than the heuristic's is rematched
    # against it, and when the rematch (times scaled by `rematch` for the heuristic's) finds it
    # less than 1 / MARGIN as fast, the heuristic's schedule stays.
    model, x = model_and_input()
    cm = fretsaw.compile(model, (x,))
    backend = cm.backend
    op = pconv.walk_ops(cm._stages["pconv"].operation, pconv.CONV2D)[1]
    blocks, tiles = tuning.block_candidates(op, backend.cpu)
    units = tuning.unit_candidates(backend.cpu)
    assert len(blocks) >= 3 and len(tiles) >= 2 and len(units) >= 2  # else the cases do not tell them apart
    best = with_block(blocks[block], tiles[tile], units[unit % len(units)])
    timed = []

    def made_up(op, schedule, backend, repeats):
        timed.append(tuple(schedule))
        b, t, u = blocks.index(block_of(schedule)), tiles.index(schedule[2]), units.index(schedule[3])
        return (1.0 + (0.0 if block_of(schedule) == block_of(best) else 1.0 + 0.1 * b)
                + (0.0 if schedule[2] == best[2] else 0.5 + 0.01 * t)
                + (0.0 if schedule[3] == best[3] else 0.25 + 0.001 * u))

    rematched = []

    def made_up_rematch(op, schedules, backend, repeats):
        rematched.append([tuple(s) for s in schedules])
        winner, default = (made_up(op, s, backend, repeats) for s in schedules)
        timed.pop(), timed.pop()  # not the search's timings
        return [winner, winner * rematch if rematch < 1 else default]

    monkeypatch.setattr(tuning, "time_schedule", made_up)
    monkeypatch.setattr(tuning, "rematch", made_up_rematch)
    found = tuning.search(op, backend, repeats=1)
    default = with_block(blocks[0], tiles[0], units[0])
    default_ms = made_up(op, default, backend, 1)
    if best == default:
        assert not rematched and schedule(found) == best and found["ms"] == 1.0
    elif rematch < 1:  # the heuristic's rematch time too close to the winner's: it stays
        default_ms = 1.0 * rematch
        assert rematched == [[best, default]] and schedule(found) == default and found["ms"] == default_ms
    else:
        assert rematched == [[best, default]] and schedule(found) == best and found["ms"] == 1.0
    assert found["default_ms"] == default_ms
    timed.pop()  # the call just above
    assert timed[:len(blocks)] == [with_block(b, tiles[0], units[0]) for b in blocks]
    assert timed[len(blocks):len(blocks) + len(tiles) - 1] == [with_block(block_of(best), t, units[0])
                                                               for t in tiles[1:]]
    assert timed[len(blocks) + len(tiles) - 1:] == [with_block(block_of(best), best[2], u) for u in units[1:]]
    assert found["tried"] == len(timed) == len(set(timed))


def test_tuned_pointwise_conv_keeps_its_flat_schedule(tmp_path, timings):
    # A 1x1 stride-1 conv is searched over its flattened plane (one row of H*W = 196 pixels) and its
    # schedule reaches the flattened conv: the register block is one row of vectors.
    model = nn.Sequential(nn.Conv2d(16, 24, 1), nn.ReLU()).eval()
    x = torch.randn(1, 16, 14, 14)
    cm = fretsaw.compile(model, (x,), tune=True, tuning_cache=str(tmp_path / "tuning.json"))
    np.testing.assert_allclose(cm(x), model(x).detach().numpy(), rtol=RTOL, atol=ATOL)
    (record,) = cm.tuning
    blocks, tiles, units, timed, rematched = timings[record["layer"]]
    assert all(rows == 1 and filters == 0 for rows, _, filters in blocks)
    check_searched(record, blocks, tiles, units, timed, rematched)
    assert op_schedules(cm) == {record["layer"]: schedule(record)}


def test_kernel_group_convs_are_searched_over_filter_blocks(tmp_path, timings):
    # A KGS-pruned Conv2d and Conv3d take the kernel-group lowering: their candidates are filter
    # blocks x register blocks (filters >= 1) planned as GroupEmitter plans them, the heuristic's
    # first; the chosen schedule, filters included, lands on the op and the model keeps its numerics.
    from fretsaw import prune
    from fretsaw.passes.conv.schedule import SCHEDULE, plan_groups
    from fretsaw.passes.pconv_vectorize import group_conv

    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1)).eval()
    x = torch.randn(1, 8, 12, 12)
    prune.project(model, "kgs", 2.0, inputs=x, inplace=True, group_shape=(4, 4))
    random_pattern_prune(model[:1], skip_first=False)
    video = nn.Sequential(nn.Conv3d(4, 8, 3, padding=1), nn.ReLU()).eval()
    clip = torch.randn(1, 4, 3, 6, 6)
    prune.project(video, "kgs", 2.0, inputs=clip, inplace=True, group_shape=(4, 4), skip_first=False)
    for net, inputs, grouped in ((model, x, "2"), (video, clip, "0")):
        cm = fretsaw.compile(net, (inputs,), tune=True, tuning_cache=str(tmp_path / "tuning.json"))
        np.testing.assert_allclose(cm(inputs), net(inputs).detach().numpy(), rtol=RTOL, atol=ATOL)
        for record in cm.tuning:
            check_searched(record, *timings[record["layer"]])
        assert op_schedules(cm) == {r["layer"]: schedule(r) for r in cm.tuning}
        blocks = timings[grouped][0]
        assert all(filters >= 1 for _, _, filters in blocks) and len(blocks) >= 2
        op = next(op for op in pconv.walk_convs(cm._stages["pconv"].operation) if layer_name(op.location) == grouped)
        copy = tuning.standalone(op)  # the heuristic's block is what pconv-vectorize plans untuned
        conv_op = next(iter(pconv.walk_convs(copy.operation)))
        with copy.context, conv_op.location:
            del conv_op.attributes[SCHEDULE]
            from fretsaw.passes.conv.groups import dense_weights
            grouped_op, weight = group_conv(conv_op, SimdTarget.of(cm.backend.cpu), dense_weights(pconv.Conv(conv_op)))
            planned, _ = plan_groups(pconv.Conv(grouped_op), SimdTarget.of(cm.backend.cpu), weight)
        assert blocks[0] == (planned.rows, planned.vectors, planned.fblock)
    assert set(timings) == {"0", "2"}


def test_cached_schedules_are_used_without_a_search(tmp_path, monkeypatch):
    # A cache whose entries name an unusual schedule (not the heuristic's), to see that it is the one used.
    model, x = model_and_input()
    untuned = fretsaw.compile(model, (x,))
    cpu = untuned.backend.cpu
    entry = {"rows": 1, "vectors": 1, "tile": 3, "units": 5, "ms": 1.0, "default_ms": 2.0, "tried": 2}
    convs = [pconv.Conv(op) for op in pconv.walk_ops(untuned._stages["pconv"].operation, pconv.CONV2D)]
    assert all(tuning.candidates(conv, SimdTarget.of(cpu))[0][0] != (1, 1) for conv in convs)  # not the heuristic's block
    cache = tmp_path / "tuning.json"
    cache.write_text(json.dumps({tuning.layer_key(conv, cpu): entry for conv in convs}))

    def no_search(*args, **kwargs):
        raise AssertionError("searched although the cache knows the layer")

    monkeypatch.setattr(tuning, "search", no_search)
    cm = fretsaw.compile(model, (x,), tune=True, tuning_cache=str(cache))
    assert all(r["cached"] for r in cm.tuning)
    assert op_schedules(cm) == {"0": (1, 1, 3, 5, 0), "2": (1, 1, 3, 5, 0)}
    np.testing.assert_allclose(cm(x), model(x).detach().numpy(), rtol=RTOL, atol=ATOL)


def test_untuned_compile_ignores_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FRETSAW_CACHE_DIR", str(tmp_path))
    model, x = model_and_input()
    cm = fretsaw.compile(model, (x,))
    assert cm.tuning == [] and "fretsaw.schedule" not in cm.ir("pconv") and not (tmp_path / "tuning.json").exists()
    assert tuning.default_cache() == tmp_path / "tuning.json"


def test_unreadable_cache_says_what_to_do(tmp_path):
    model, x = model_and_input()
    cache = tmp_path / "tuning.json"
    cache.write_text("{not json")
    with pytest.raises(fretsaw.FretsawError, match="tuning cache .* is unreadable .* delete it"):
        fretsaw.compile(model, (x,), tune=True, tuning_cache=str(cache))


def test_candidates_start_with_the_heuristics_and_fit_the_registers():
    # the tuner's first candidate is the schedule pconv-vectorize plans for the untuned op
    from fretsaw.passes.conv.schedule import BLOCKS, candidates, plan

    model, x = model_and_input()
    cm = fretsaw.compile(model, (x,))
    cpu = host_target()
    target = SimdTarget.of(cpu)
    for op in pconv.walk_ops(cm._stages["pconv"].operation, pconv.CONV2D):
        conv = pconv.Conv(op)
        blocks, tiles = candidates(conv, target)
        planned = plan(conv, target)
        assert (blocks[0], tiles[0]) == ((planned.rows, planned.vectors), planned.tile)
        units = tuning.unit_candidates(cpu)
        assert units[0] == planned.units and len(set(units)) == len(units) and cpu.threads in units
        assert len(set(blocks)) == len(blocks) <= BLOCKS
        assert all(r * v <= cpu.accumulators for r, v in blocks)
        assert len(set(tiles)) == len(tiles) and all(0 < t <= conv.input_shape[1] for t in tiles)


def test_cli_tune(tmp_path, capsys):
    from fretsaw.cli import main

    model, _ = model_and_input()
    torch.save(model, tmp_path / "m.pt")
    cache = tmp_path / "cache.json"
    args = ["compile", str(tmp_path / "m.pt"), "--input-shape", "1,8,20,20", "--tune", "--tuning-cache", str(cache)]
    assert main(args) == 0
    assert "tuned 2 conv(s) (2 searched, 0 from the cache)" in capsys.readouterr().out
    assert main(args) == 0
    assert "tuned 2 conv(s) (0 searched, 2 from the cache)" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["conv2d", "pointwise", "conv3d"])
def test_every_kernel_group_candidate_computes_the_conv(kind):
    # Whatever the search picks, the conv's result is PyTorch's: each candidate block (filters x
    # rows x vectors) with the heuristic's tile and units, and each tile and a units count with the
    # heuristic's block, compiled alone (build_schedule) on the same input.
    from fretsaw import prune

    torch.manual_seed(3)
    if kind == "conv3d":
        net, x = nn.Sequential(nn.Conv3d(8, 12, 3, padding=1), nn.ReLU()).eval(), torch.randn(1, 8, 3, 7, 9)
    elif kind == "pointwise":
        net, x = nn.Sequential(nn.Conv2d(16, 8, 1)).eval(), torch.randn(1, 16, 5, 7)
    else:
        net, x = nn.Sequential(nn.Conv2d(8, 12, 3, padding=1, bias=False)).eval(), torch.randn(1, 8, 9, 11)
    prune.project(net, "kgs", 2.0, inputs=x, inplace=True, group_shape=(4, 4), skip_first=False)
    cm = fretsaw.compile(net, (x,))
    (op,) = pconv.walk_convs(cm._stages["pconv"].operation)
    blocks, tiles = tuning.block_candidates(op, cm.backend.cpu)
    assert all(filters >= 1 for _, _, filters in blocks)
    units = tuning.unit_candidates(cm.backend.cpu)
    schedules = ([with_block(block, tiles[0], units[0]) for block in blocks]
                 + [with_block(blocks[0], tile, units[-1]) for tile in tiles[1:]])
    same = torch.from_numpy(np.random.default_rng(0).standard_normal(tuple(x.shape)).astype(np.float32))
    expected = net(same).detach().numpy()
    for candidate in schedules:
        (result,) = tuning.build_schedule(op, candidate, cm.backend)()  # the one output of @main
        np.testing.assert_allclose(result, expected, rtol=RTOL, atol=ATOL, err_msg=str(candidate))
