"""Per-layer tuning of pconv-vectorize's schedule: register block (rows x vectors) and input
channel tile, searched by compiling and timing each conv alone, cached on disk.

The cache is a JSON file keyed by the conv's signature (shapes, stride, padding, dilation,
groups, activation, kept kernels and taps, number of patterns) and the machine (CPU name,
vector width, threads): a layer tuned once is not searched again on that machine. The chosen
schedule goes onto the op as `fretsaw.schedule = array<i64: rows, vectors, tile>`, which
pconv-vectorize follows. The untuned heuristics are always one of the candidates, so tuning
never picks a schedule it measured as slower.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from torch_mlir import ir
from torch_mlir.dialects import func
from tqdm.auto import tqdm

from fretsaw.dialect import pconv
from fretsaw.errors import FretsawError
from fretsaw.passes.vectorize import (SCHEDULE, Layout, Vectorize, block_accumulators, block_shapes, channel_tile,
                                      column_sets, filter_block, lane_shifts, lane_width, output_plane, register_block,
                                      tile_budget, wide_blocks)
from fretsaw.stats import layer_name
from fretsaw.target import CpuTarget

ENTRY = "main"
BLOCKS = 5        # register block shapes tried (the heuristic's, then the next best by its score)
MAX_ROWS = 6      # bounds of the shapes tried beside the heuristic's (not for wide blocks, which take
MAX_VECTORS = 4   # a whole row's vectors)
# What a cached schedule means to pconv-vectorize, part of every cache key: 2 since column sets
# (a wide block's rows x vectors then take up to 3x the accumulators of before)
SCHEDULE_VERSION = 2


def default_cache() -> Path:
    """$FRETSAW_CACHE_DIR/tuning.json, else ~/.cache/fretsaw/tuning.json."""
    root = os.environ.get("FRETSAW_CACHE_DIR") or Path.home() / ".cache" / "fretsaw"
    return Path(root) / "tuning.json"


def layer_key(conv: pconv.Conv2d, cpu: CpuTarget) -> str:
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


def candidates(conv: pconv.Conv2d, cpu: CpuTarget) -> tuple[list[tuple[int, int]], list[int]]:
    """Register blocks (the heuristic's first) and channel tiles (the heuristic's first) to try."""
    oh, ow = output_plane(conv)  # a pointwise conv's H x W is one row of H*W
    width = lane_width(ow, cpu.vector_width)  # what pconv-vectorize will use for this conv
    fblock = filter_block(conv)
    budget = max(1, block_accumulators(cpu.accumulators, fblock) // fblock)
    shifts = lane_shifts(ow, cpu.vector_width, cpu.shifts)
    wide, columns = wide_blocks(conv, shifts), column_sets(conv, width, shifts)
    first = register_block(oh, ow, width, budget, wide, columns)
    ranked = [(r, v) for r, v in block_shapes(oh, ow, width, budget, wide, columns)
              if (v - 1) * width < ow and (wide or (r <= MAX_ROWS and v <= MAX_VECTORS))]
    blocks = [first] + [shape for shape in ranked if shape != first][:BLOCKS - 1]
    cin_g = conv.input_shape[1] // conv.groups
    tile = channel_tile(conv, Layout.of(conv, width, *first), width, tile_budget(conv, Vectorize.cache, columns))
    tiles = [tile] + sorted({t for t in (tile // 2, tile * 2, cin_g) if 0 < t <= cin_g and t != tile})
    return blocks, tiles


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


def time_schedule(op: ir.Operation, schedule: tuple[int, int, int], backend, repeats: int) -> float:
    """Median ms of `op` compiled alone with `schedule` through the backend's stages after pconv."""
    import numpy as np

    from fretsaw.backends.host import Signature
    from fretsaw.benchmark import median_ms
    from fretsaw.compiler import run_stage

    module = standalone(op)
    signature = Signature.of(module, ENTRY)  # now: the stages below lower @main to the LLVM dialect
    conv = next(iter(pconv.walk_ops(module.operation, pconv.CONV2D)))
    with module.context:
        conv.attributes[SCHEDULE] = ir.DenseI64ArrayAttr.get(list(schedule))
    for name, pipeline in backend.stages()[1:]:  # every stage after "pconv", which made the op
        run_stage(module, f"tune-{name}", pipeline)
    executable = backend.emit(module, ENTRY, signature)
    x = np.random.default_rng(0).standard_normal(op.operands[0].type.shape).astype(np.float32)
    return median_ms(lambda: executable(x), repeats, settle=0.05)


def search(op: ir.Operation, backend, repeats: int) -> dict:
    """Time the heuristic's schedule, the other register blocks with its tile, then the other
    tiles with the best block; the fastest wins."""
    conv = pconv.Conv2d(op)
    blocks, tiles = candidates(conv, backend.cpu)
    timed = {}
    for rows, vectors in blocks:
        timed[(rows, vectors, tiles[0])] = time_schedule(op, (rows, vectors, tiles[0]), backend, repeats)
    best_block = min(timed, key=timed.get)[:2]
    for tile in tiles[1:]:
        timed[(*best_block, tile)] = time_schedule(op, (*best_block, tile), backend, repeats)
    best = min(timed, key=timed.get)
    default = (*blocks[0], tiles[0])
    return {"rows": best[0], "vectors": best[1], "tile": best[2], "ms": timed[best],
            "default_ms": timed[default], "tried": len(timed)}


def tune(module: ir.Module, backend, cache: Path | None = None, repeats: int = 5,
         progress: bool = True) -> list[dict]:
    """Give every pconv.conv2d of `module` its tuned schedule, searching (and caching) the layers
    the cache does not know yet. Returns one record per conv: its layer name, the schedule (rows,
    vectors, tile), its time and the heuristic's (ms, default_ms), candidates tried, cached."""
    path = Path(cache) if cache else default_cache()
    try:
        known = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, json.JSONDecodeError) as error:
        raise FretsawError(f"tuning cache {path} is unreadable ({error}); delete it to start a new one") from None
    ops = list(pconv.walk_ops(module.operation, pconv.CONV2D))
    records = []
    for op in tqdm(ops, desc="tuning convs", unit="conv", disable=not progress, leave=False):
        key = layer_key(pconv.Conv2d(op), backend.cpu)
        cached = key in known
        if not cached:
            known[key] = search(op, backend, repeats)
        entry = known[key]
        with module.context:
            op.attributes[SCHEDULE] = ir.DenseI64ArrayAttr.get([entry["rows"], entry["vectors"], entry["tile"]])
        records.append({"layer": layer_name(op.location), **entry, "cached": cached})
        if not cached:  # saved after every searched layer: an interrupted tuning keeps what it found
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(known, indent=1, sort_keys=True))
    return records


def summary(records: list[dict]) -> str:
    """One line on what tuning did: layers searched and cached, summed heuristic vs tuned time."""
    searched = sum(not r["cached"] for r in records)
    default, tuned = sum(r["default_ms"] for r in records), sum(r["ms"] for r in records)
    return (f"tuned {len(records)} conv(s) ({searched} searched, {len(records) - searched} from the cache): "
            f"alone they take {tuned:.2f} ms with the tuned schedules vs {default:.2f} ms with the heuristics")
