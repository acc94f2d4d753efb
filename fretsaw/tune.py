"""Per-layer tuning of pconv-vectorize's schedule: register block (rows x vectors, and for the
kernel-group lowering the filters per block), input channel tile and work units (how the threads
split the conv), searched by compiling and timing each conv alone, cached on disk.

The cache is a JSON file keyed by the conv's signature (shapes, stride, padding, dilation,
groups, activation, kept kernels and taps, number of patterns) and the machine (CPU name,
vector width, threads): a layer tuned once is not searched again on that machine. The chosen
schedule goes onto the op as `fretsaw.schedule = array<i64: rows, vectors, tile, units, filters>`,
which pconv-vectorize follows: 2-D convs of the pattern loops (filters 0) and convs of the
kernel-group lowering (schedule.kernel_groups: 3-D convs, KGS / Vanilla Conv2d), whose candidates
(schedule.group_candidates) are planned on the op as GroupEmitter takes it (group_conv); a
pointwise conv3d (the 2-D GEMM over its pixels) is not searched. The untuned heuristics are always
one of the candidates, and another schedule replaces theirs only when it wins a rematch against
them, the two called in turn, so tuning never picks a schedule it measured as slower. The cache
is input like any other: an entry that is malformed or whose schedule pconv-vectorize would
reject (schedule_problem) is searched again and overwritten, with a warning; a file that is not
a JSON object is a FretsawError (it is not overwritten); a cache that cannot be written is a
warning, and the compile goes on.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

from torch_mlir import ir
from torch_mlir.dialects import func
from tqdm.auto import tqdm

from fretsaw.dialect import pconv
from fretsaw.errors import FretsawError
from fretsaw.passes.conv.groups import dense_weights
from fretsaw.passes.conv.geometry import pointwise
from fretsaw.passes.conv.schedule import (SCHEDULE, SimdTarget, candidates, group_candidates, kernel_groups,
                                          schedule_problem)
from fretsaw.passes.conv.units import UNITS
from fretsaw.stats import layer_name
from fretsaw.target import CpuTarget

ENTRY = "main"
# What a cached schedule means to pconv-vectorize, part of every cache key: 2 since column sets
# (a wide block's rows x vectors then take up to 3x the accumulators of before), 3 since work units,
# 4 since filter blocks (kernel-group convs searched), 5 since a strided unpadded 1x1 conv runs
# flat over its decimated input (one row of its output pixels)
SCHEDULE_VERSION = 5
# A cache entry: what search() returns (the schedule, its time and the heuristic's, candidates tried);
# `filters` (the kernel-group lowering's filters per block) may be left out for 0
COUNTS = ("rows", "vectors", "tile", "units", "tried")
FILTERS = "filters"
SCHEDULE_COUNTS = ("rows", "vectors", "tile", "units", FILTERS)
TIMES = ("ms", "default_ms")
# A searched schedule replaces the heuristic's only when it is at least 1 / MARGIN times as fast in
# a rematch of the two, called in turn REMATCH times as often as the search timed each candidate
MARGIN = 0.97
REMATCH = 4


def default_cache() -> Path:
    """$FRETSAW_CACHE_DIR/tuning.json, else ~/.cache/fretsaw/tuning.json."""
    root = os.environ.get("FRETSAW_CACHE_DIR") or Path.home() / ".cache" / "fretsaw"
    return Path(root) / "tuning.json"


def layer_key(conv: pconv.Conv, cpu: CpuTarget) -> str:
    kernel_pattern = conv.kernel_pattern
    taps = conv.patterns.reshape(len(conv.patterns), -1).sum(axis=1)
    kept = kernel_pattern[kernel_pattern >= 0]
    return json.dumps({
        "input": list(conv.input_shape), "output": list(conv.output_shape),
        "kernel": list(conv.patterns.shape[1:]), "strides": list(conv.strides), "padding": list(conv.padding),
        "dilations": list(conv.dilations), "groups": conv.groups, "activation": conv.activation,
        "kept_kernels": int(kept.size), "kept_taps": int(taps[kept].sum()), "patterns": int(len(conv.patterns)),
        "cpu": cpu.name, "width": cpu.vector_width, "threads": cpu.threads, "schedule": SCHEDULE_VERSION,
    }, sort_keys=True)


def standalone(op: ir.Operation) -> ir.Module:
    """A module whose @main runs `op` alone on its input (weights and bias cloned along)."""
    with op.context, op.location:
        module = ir.Module.create()
        with ir.InsertionPoint(module.body):
            main = func.FuncOp(ENTRY, ([op.operands[0].type], [op.results[0].type]))
            block = main.add_entry_block()
            with ir.InsertionPoint(block):
                operands = [block.arguments[0]] + [v.owner.clone().results[0] for v in list(op.operands)[1:]]
                conv = op.clone()
                for i, value in enumerate(operands):
                    conv.operands[i] = value
                func.ReturnOp([conv.results[0]])
    return module


def unit_candidates(cpu: CpuTarget) -> list[int]:
    """Work units the tuner times: the heuristic's UNITS first, then one and four per thread (fewer
    units read each input row for fewer filter ranges; with more, uneven units balance better)
    and four times UNITS."""
    return list(dict.fromkeys([UNITS, cpu.threads, 4 * cpu.threads, 4 * UNITS]))


def build_schedule(op: ir.Operation, schedule: tuple[int, int, int, int], backend):
    """`op` compiled alone with `schedule` through the backend's stages after pconv: a call of it
    on a fixed random input, with no arguments."""
    import numpy as np

    from fretsaw.backends.base import Signature
    from fretsaw.pipeline import run_stage

    module = standalone(op)
    signature = Signature.of(module, ENTRY)  # now: the stages below lower @main to the LLVM dialect
    conv = next(iter(pconv.walk_convs(module.operation)))
    with module.context:
        conv.attributes[SCHEDULE] = ir.DenseI64ArrayAttr.get(list(schedule))
    for stage in backend.stages():  # the backend's stages, after "pconv", which made the op
        run_stage(module, f"tune-{stage.name}", stage.pipeline)
    executable = backend.emit(module, ENTRY, signature)
    x = np.random.default_rng(0).standard_normal(op.operands[0].type.shape).astype(np.float32)
    return lambda: executable(x)


def time_schedule(op: ir.Operation, schedule: tuple[int, int, int, int], backend, repeats: int) -> float:
    """Median ms of `op` compiled alone with `schedule` (build_schedule)."""
    from fretsaw.benchmark import median_ms

    return median_ms(build_schedule(op, schedule, backend), repeats, settle=0.05)


def rematch(op: ir.Operation, schedules: list, backend, repeats: int) -> list[float]:
    """Median ms of `op` compiled alone with each of `schedules`, the builds called in turn."""
    from fretsaw.benchmark import interleaved_ms

    return interleaved_ms([build_schedule(op, schedule, backend) for schedule in schedules], repeats)


def block_candidates(op: ir.Operation, cpu: CpuTarget) -> tuple[list[tuple[int, int, int]], list[int]]:
    """The register blocks (rows, vectors, filters; filters 0 on the pattern loops) and channel
    tiles the tuner times for `op`, the heuristic's first: a conv of the kernel-group lowering
    planned on a copy of it as GroupEmitter takes it (group_conv)."""
    from fretsaw.passes.pconv_vectorize import group_conv

    conv, target = pconv.Conv(op), SimdTarget.of(cpu)
    weight = dense_weights(conv)
    if not kernel_groups(conv, weight):
        blocks, tiles = candidates(conv, target)
        return [(rows, vectors, 0) for rows, vectors in blocks], tiles
    module = standalone(op)  # group_conv rewrites the op it is given
    copy = next(iter(pconv.walk_convs(module.operation)))
    with module.context, copy.location:
        grouped, grouped_weight = group_conv(copy, target, weight)
        return group_candidates(pconv.Conv(grouped), target, grouped_weight)


def search(op: ir.Operation, backend, repeats: int) -> dict:
    """Time the heuristic's schedule, the other register blocks with its tile, then the other
    tiles with the best block, then the other work units with the best block and tile
    (unit_candidates); the fastest, if it then also beats the heuristic's in a rematch
    (the two called in turn, REMATCH x `repeats` times each) by MARGIN, wins: timed one after the
    other, a machine's swings pick schedules at random (a tuned ResNet-18 ran 3% slower than
    untuned on a shared VM). Its time and the heuristic's are then the rematch's. A schedule is
    (rows, vectors, tile, units, filters)."""
    blocks, tiles = block_candidates(op, backend.cpu)
    units = unit_candidates(backend.cpu)

    def schedule(block, tile, count):
        rows, vectors, filters = block
        return rows, vectors, tile, count, filters

    timed = {}
    for block in blocks:
        timed[schedule(block, tiles[0], units[0])] = time_schedule(op, schedule(block, tiles[0], units[0]), backend,
                                                                   repeats)
    best = min(timed, key=timed.get)
    best_block = (best[0], best[1], best[4])
    for tile in tiles[1:]:
        timed[schedule(best_block, tile, units[0])] = time_schedule(op, schedule(best_block, tile, units[0]), backend,
                                                                    repeats)
    best_tile = min(timed, key=timed.get)[2]
    for count in units[1:]:
        timed[schedule(best_block, best_tile, count)] = time_schedule(op, schedule(best_block, best_tile, count),
                                                                      backend, repeats)
    best = min(timed, key=timed.get)
    default = schedule(blocks[0], tiles[0], units[0])
    ms, default_ms = timed[best], timed[default]
    if best != default:
        ms, default_ms = rematch(op, [best, default], backend, REMATCH * repeats)
        if ms > MARGIN * default_ms:
            best, ms = default, default_ms
    return {**dict(zip(SCHEDULE_COUNTS, best)), "ms": ms, "default_ms": default_ms, "tried": len(timed)}


def json_kind(value) -> str:
    """The JSON name of a parsed value's kind: object, array, string, number, boolean or null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string"}.get(type(value), "number")


def read_cache(path: Path) -> dict:
    """The cache file's layer -> entry object ({} when there is no file). A file that is not JSON, or
    not a JSON object, is not overwritten (it may be someone else's): FretsawError, delete it."""
    try:
        known = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as error:  # ValueError: not JSON, or not text
        raise FretsawError(f"tuning cache {path} is unreadable ({error}); delete it to start a new one") from None
    if not isinstance(known, dict):
        raise FretsawError(f"tuning cache {path} holds a JSON {json_kind(known)}, not fretsaw's object of "
                           f"per-layer schedules; delete it (or give another tuning_cache) to start a new one")
    return known


def entry_problem(entry, conv: pconv.Conv, cpu: CpuTarget) -> str | None:
    """What is wrong with a cache entry for `conv` on `cpu`, or None: an object with search()'s
    counts and times whose schedule pconv-vectorize accepts for this conv (schedule_problem)."""
    if not isinstance(entry, dict):
        return f"is a JSON {json_kind(entry)}, not an object"
    missing = [key for key in COUNTS + TIMES if key not in entry]
    if missing:
        return f"lacks {', '.join(missing)}"
    for key in COUNTS + ((FILTERS,) if FILTERS in entry else ()):
        if type(entry[key]) is not int:
            return f"has {key} = {json.dumps(entry[key])}, not an integer"
    for key in TIMES:
        value = entry[key]
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
            return f"has {key} = {json.dumps(value)}, not a time in ms"
    return schedule_problem(schedule_counts(entry), conv, SimdTarget.of(cpu))


def schedule_counts(entry: dict) -> list[int]:
    """The `fretsaw.schedule` of a cache entry: rows, vectors, tile, units, and filters when not 0
    (a 2-D conv of the pattern loops keeps the four-count form)."""
    counts = [entry[key] for key in SCHEDULE_COUNTS[:4]]
    return counts + [entry[FILTERS]] if entry.get(FILTERS, 0) else counts


def write_cache(path: Path, known: dict) -> str | None:
    """Save the cache; the OS error's text when that fails (the caller warns and keeps going)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1, sort_keys=True))
    except OSError as error:
        return str(error)
    return None


def tune(module: ir.Module, backend, cache: Path | None = None, repeats: int = 5,
         progress: bool = True) -> list[dict]:
    """Give every pconv conv of `module` but pointwise conv3d ops its tuned schedule, searching
    (and caching) the layers the cache does not know yet. Returns one record per such conv: its
    layer name, the schedule (rows, vectors, tile, units, filters), its time and
    the heuristic's (ms, default_ms), candidates tried, cached. A malformed or invalid cache entry
    is searched again and overwritten, with a warning; a cache that cannot be written is warned
    about once, and the tuned schedules are still used."""
    path = Path(cache) if cache else default_cache()
    known = read_cache(path)
    ops = [op for op in pconv.walk_convs(module.operation)
           if not (pconv.Conv(op).rank == 3 and pointwise(pconv.Conv(op)))]
    records, saving = [], True
    for op in tqdm(ops, desc="tuning convs", unit="conv", disable=not progress, leave=False):
        conv, layer = pconv.Conv(op), layer_name(op.location)
        key = layer_key(conv, backend.cpu)
        problem = entry_problem(known[key], conv, backend.cpu) if key in known else None
        if problem:
            warnings.warn(f"tuning cache {path}: the entry for conv layer '{layer}' {problem}; ignoring it and "
                          f"searching the layer again (the entry is overwritten; if this persists, delete {path})",
                          stacklevel=2)
        cached = key in known and not problem
        if not cached:
            known[key] = search(op, backend, repeats)
        entry = {name: known[key][name] for name in COUNTS + TIMES}
        entry[FILTERS] = known[key].get(FILTERS, 0)
        with module.context:
            op.attributes[SCHEDULE] = ir.DenseI64ArrayAttr.get(schedule_counts(entry))
        records.append({"layer": layer, **entry, "cached": cached})
        if cached or not saving:
            continue
        error = write_cache(path, known)  # after every searched layer: an interrupted tuning keeps what it found
        if error:
            saving = False
            warnings.warn(f"tuning cache {path} cannot be written ({error}): this compile uses the tuned schedules, "
                          f"but the next one searches again; give a writable tuning_cache (--tuning-cache) or "
                          f"set FRETSAW_CACHE_DIR", stacklevel=2)
    return records


def summary(records: list[dict]) -> str:
    """One line on what tuning did: layers searched and cached, summed heuristic vs tuned time."""
    searched = sum(not r["cached"] for r in records)
    default, tuned = sum(r["default_ms"] for r in records), sum(r["ms"] for r in records)
    return (f"tuned {len(records)} conv(s) ({searched} searched, {len(records) - searched} from the cache): "
            f"alone they take {tuned:.2f} ms with the tuned schedules vs {default:.2f} ms with the heuristics")
