"""Per-layer tuning: searched schedules keep the numerics, land on the ops, are cached on disk
and read back without a new search."""

import json

import numpy as np
import pytest
import torch
from torch import nn

import fretsaw
from conftest import ATOL, RTOL
from fretsaw import tune as tuning
from fretsaw.dialect import pconv
from fretsaw.prune import random_pattern_prune
from fretsaw.target import host_target


def model_and_input():
    model = random_pattern_prune(nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                                               nn.Conv2d(16, 16, 3, stride=2, padding=1)).eval(), skip_first=False)
    return model, torch.randn(1, 8, 20, 20)


def test_tuned_compile_matches_pytorch_and_caches(tmp_path):
    model, x = model_and_input()
    cache = tmp_path / "tuning.json"
    cm = fretsaw.compile(model, (x,), tune=True, tuning_cache=str(cache))
    np.testing.assert_allclose(cm(x), model(x).detach().numpy(), rtol=RTOL, atol=ATOL)
    assert [r["layer"] for r in cm.tuning] == ["0", "2"] and not any(r["cached"] for r in cm.tuning)
    for record in cm.tuning:  # the heuristic's schedule is a candidate: the winner is never slower
        assert record["ms"] <= record["default_ms"] and record["tried"] >= 2
    entries = json.loads(cache.read_text())
    assert len(entries) == 2 and all(json.loads(key)["threads"] == cm.options.cpu_target().threads for key in entries)
    assert cm.ir("pconv").count("fretsaw.schedule = array<i64:") == 2
    assert "tuned 2 conv(s) (2 searched, 0 from the cache)" in tuning.summary(cm.tuning)


def test_tuned_pointwise_conv_keeps_its_flat_schedule(tmp_path):
    # A 1x1 stride-1 conv is searched over its flattened plane (one row of H*W = 196 pixels) and its
    # schedule reaches the flattened conv: the register block is one row of vectors.
    model = nn.Sequential(nn.Conv2d(16, 24, 1), nn.ReLU()).eval()
    x = torch.randn(1, 16, 14, 14)
    cm = fretsaw.compile(model, (x,), tune=True, tuning_cache=str(tmp_path / "tuning.json"))
    np.testing.assert_allclose(cm(x), model(x).detach().numpy(), rtol=RTOL, atol=ATOL)
    (record,) = cm.tuning
    assert record["rows"] == 1 and record["ms"] <= record["default_ms"]
    assert f"fretsaw.schedule = array<i64: 1, {record['vectors']}, {record['tile']}>" in cm.ir("pconv")


def test_cached_schedules_are_used_without_a_search(tmp_path, monkeypatch):
    model, x = model_and_input()
    cache = tmp_path / "tuning.json"
    fretsaw.compile(model, (x,), tune=True, tuning_cache=str(cache))
    entries = json.loads(cache.read_text())
    for entry in entries.values():  # an unusual schedule, to see that it is the one used
        entry.update(rows=1, vectors=1, tile=3)
    cache.write_text(json.dumps(entries))

    def no_search(*args, **kwargs):
        raise AssertionError("searched although the cache knows the layer")

    monkeypatch.setattr(tuning, "search", no_search)
    cm = fretsaw.compile(model, (x,), tune=True, tuning_cache=str(cache))
    assert all(r["cached"] for r in cm.tuning)
    assert cm.ir("pconv").count("fretsaw.schedule = array<i64: 1, 1, 3>") == 2
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
    from fretsaw.passes.conv.schedule import BLOCKS, SimdTarget, candidates, plan

    model, x = model_and_input()
    cm = fretsaw.compile(model, (x,))
    cpu = host_target()
    target = SimdTarget.of(cpu)
    for op in pconv.walk_ops(cm._stages["pconv"].operation, pconv.CONV2D):
        conv = pconv.Conv(op)
        blocks, tiles = candidates(conv, target)
        planned = plan(conv, target)
        assert (blocks[0], tiles[0]) == ((planned.rows, planned.vectors), planned.tile)
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
