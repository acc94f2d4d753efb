"""The tuning cache is input too: a file of the wrong kind is a FretsawError that says to delete it,
a malformed or invalid entry is searched again with a warning naming the file and the layer (it
once gave a TypeError, NaN outputs or an endless compile), and a cache that cannot be written
costs the saving, not the compiled model. The search itself (slow: it compiles and times every
candidate) is replaced by one that finds FOUND; test_tune.py runs the real one."""

import json
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch_mlir import ir

import fretsaw
from conftest import ATOL, RTOL
from fretsaw import tune as tuning
from fretsaw.backends.host import HostBackend
from fretsaw.context import make_context
from fretsaw.dialect import pconv
from fretsaw.prune import random_pattern_prune
from fretsaw.stats import layer_name
from fretsaw.target import CpuTarget

FOUND = {"rows": 1, "vectors": 1, "tile": 1, "units": 2, "ms": 1.0, "default_ms": 2.0, "tried": 2}
GOOD = {"rows": 1, "vectors": 1, "tile": 2, "units": 32, "ms": 0.5, "default_ms": 0.6, "tried": 3}  # valid


@pytest.fixture(scope="module")
def compiled():
    """A small pruned two-conv model (layers '0' and '2'), its input and its untuned compile."""
    torch.manual_seed(0)
    model = random_pattern_prune(nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
                                               nn.Conv2d(8, 8, 3, stride=2, padding=1)).eval(), skip_first=False)
    x = torch.randn(1, 4, 8, 8)
    return model, x, fretsaw.compile(model, (x,))


@pytest.fixture
def searched(monkeypatch):
    """The layers searched, in order; each search finds FOUND."""
    layers = []

    def search(op, backend, repeats):
        layers.append(layer_name(op.location))
        return dict(FOUND)

    monkeypatch.setattr(tuning, "search", search)
    return layers


def pconv_stage(cm) -> ir.Module:
    """A fresh copy of the compile's pconv stage (what tune() sees), locations kept."""
    return ir.Module.parse(cm._stages["pconv"].operation.get_asm(enable_debug_info=True), make_context())


def keys(cm) -> dict[str, str]:
    """Layer name -> its cache key on this machine."""
    module, cpu = pconv_stage(cm), cm.backend.cpu
    return {layer_name(op.location): tuning.layer_key(pconv.Conv(op), cpu)
            for op in pconv.walk_ops(module.operation, pconv.CONV2D)}


def schedules(module: ir.Module) -> list[list[int]]:
    return [list(op.attributes["fretsaw.schedule"]) for op in pconv.walk_ops(module.operation, pconv.CONV2D)]


@pytest.mark.parametrize("text,kind", [("[]", "array"), ("null", "null"), ("7", "number"), ('"ms"', "string")])
def test_a_file_of_the_wrong_kind_says_to_delete_it(compiled, searched, tmp_path, text, kind):
    _, _, cm = compiled
    cache = tmp_path / "tuning.json"
    cache.write_text(text)
    with pytest.raises(fretsaw.FretsawError, match=rf"tuning cache {re.escape(str(cache))} holds a JSON {kind}, "
                                                   rf"not fretsaw's object .* delete it"):
        tuning.tune(pconv_stage(cm), cm.backend, cache, progress=False)
    assert cache.read_text() == text and searched == []  # not overwritten: it may be someone else's file


def test_a_binary_file_is_unreadable(compiled, searched, tmp_path):
    _, _, cm = compiled
    cache = tmp_path / "tuning.json"
    cache.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(fretsaw.FretsawError, match="tuning cache .* is unreadable .* delete it"):
        tuning.tune(pconv_stage(cm), cm.backend, cache, progress=False)


@pytest.mark.parametrize("entry,problem", [
    (7, "is a JSON number, not an object"),
    ([1, 1, 1], "is a JSON array, not an object"),
    ({}, "lacks rows, vectors, tile, units, tried, ms, default_ms"),
    ({**FOUND, "ms": "ms"}, 'has ms = "ms", not a time in ms'),
    ({**FOUND, "default_ms": float("nan")}, "has default_ms = NaN, not a time in ms"),
    ({**FOUND, "rows": 1.5}, "has rows = 1.5, not an integer"),
    ({**FOUND, "tile": True}, "has tile = true, not an integer"),
    ({k: v for k, v in FOUND.items() if k != "units"}, "lacks units"),     # an entry of before the units
    ({**FOUND, "units": -3}, "units=-3 is negative"),
    ({**FOUND, "units": 10 ** 6}, "units=1000000 exceeds 4096"),
    ({**FOUND, "rows": -1}, "rows=-1 is negative"),                         # computed NaNs
    ({**FOUND, "vectors": -2}, "vectors=-2 is negative"),                   # a relative error of 2e22
    ({**FOUND, "rows": 1000}, "rows=1000 exceeds the 8 output row"),        # a compile of minutes
    ({**FOUND, "tile": 1000}, "tile=1000 exceeds the conv's 4 input channels"),
    ({**FOUND, "rows": 8, "vectors": 1000}, "vectors=1000 exceeds the 8 output columns"),
])
def test_a_bad_entry_is_searched_again_and_overwritten(compiled, searched, tmp_path, entry, problem):
    _, _, cm = compiled
    key = keys(cm)
    cache = tmp_path / "tuning.json"
    cache.write_text(json.dumps({key["0"]: entry, key["2"]: GOOD, "another layer": "left alone"}))
    module = pconv_stage(cm)
    with pytest.warns(UserWarning, match=rf"tuning cache {re.escape(str(cache))}: the entry for conv layer '0' "
                                         rf"{re.escape(problem)}.* searching the layer again .* delete") as caught:
        records = tuning.tune(module, cm.backend, cache, progress=False)
    assert len(caught) == 1 and searched == ["0"]
    assert [r["cached"] for r in records] == [False, True]
    assert schedules(module) == [[1, 1, 1, 2], [1, 1, 2, 32]]
    assert json.loads(cache.read_text()) == {key["0"]: FOUND, key["2"]: GOOD, "another layer": "left alone"}
    assert "tuned 2 conv(s) (1 searched, 1 from the cache)" in tuning.summary(records)


def test_an_entry_beyond_the_registers_is_searched_again(compiled, searched, tmp_path):
    # 3 rows x 1 vector fit the conv's 8 x 8 outputs, not a target of 8 registers (2 accumulators)
    _, _, cm = compiled
    backend = HostBackend(cpu=CpuTarget("small", 8, 2, registers=8))
    module = pconv_stage(cm)
    op = pconv.walk_ops(module.operation, pconv.CONV2D)[0]
    cache = tmp_path / "tuning.json"
    cache.write_text(json.dumps({tuning.layer_key(pconv.Conv(op), backend.cpu): {**FOUND, "rows": 3}}))
    with pytest.warns(UserWarning, match="'0' a block of 3 x 1 vectors holds 3 accumulators, more than the 2 of "
                                         "accumulators=2"):
        tuning.tune(module, backend, cache, progress=False)
    assert searched == ["0", "2"]


def test_an_invalid_entry_never_reaches_the_compiled_model(compiled, searched, tmp_path):
    # the NaN case end to end: the cached rows=-1 is replaced by a searched schedule
    model, x, cm = compiled
    cache = tmp_path / "tuning.json"
    cache.write_text(json.dumps({k: {**FOUND, "rows": -1} for k in keys(cm).values()}))
    with pytest.warns(UserWarning, match="rows=-1 is negative"):
        tuned = fretsaw.compile(model, (x,), tune=True, tuning_cache=str(cache))
    np.testing.assert_allclose(tuned(x), model(x).detach().numpy(), rtol=RTOL, atol=ATOL)
    assert searched == ["0", "2"] and tuned.ir("pconv").count("fretsaw.schedule = array<i64: 1, 1, 1, 2>") == 2


def test_an_unwritable_cache_warns_once_and_keeps_the_model(compiled, searched, tmp_path):
    model, x, _ = compiled
    (tmp_path / "file").write_text("a file where the cache's directory should be")
    cache = tmp_path / "file" / "tuning.json"
    with pytest.warns(UserWarning, match=rf"tuning cache {re.escape(str(cache))} cannot be written \(.*\): this "
                                         rf"compile uses the tuned schedules") as caught:
        tuned = fretsaw.compile(model, (x,), tune=True, tuning_cache=str(cache))
    assert len([w for w in caught if "cannot be written" in str(w.message)]) == 1
    assert searched == ["0", "2"] and [r["rows"] for r in tuned.tuning] == [1, 1]
    assert tuned.ir("pconv").count("fretsaw.schedule = array<i64: 1, 1, 1, 2>") == 2
    np.testing.assert_allclose(tuned(x), model(x).detach().numpy(), rtol=RTOL, atol=ATOL)


def test_cli_tune_with_a_bad_cache(compiled, searched, tmp_path, capsys):
    from fretsaw.cli import main

    model, _, cm = compiled
    torch.save(model, tmp_path / "m.pt")
    cache = tmp_path / "cache.json"
    args = ["compile", str(tmp_path / "m.pt"), "--input-shape", "1,4,8,8", "--tune", "--tuning-cache", str(cache)]
    key = keys(cm)
    cache.write_text(json.dumps({key["0"]: {**FOUND, "ms": "ms"}, key["2"]: GOOD}))  # once a TypeError in the summary
    with pytest.warns(UserWarning, match='has ms = "ms"'):
        assert main(args) == 0
    assert "tuned 2 conv(s) (1 searched, 1 from the cache)" in capsys.readouterr().out
    cache.write_text("[]")
    assert main(args) == 1
    assert f"fretsaw: error: tuning cache {cache} holds a JSON array" in capsys.readouterr().err
