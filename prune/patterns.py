"""The 3x3 pattern library of PatDNN: candidates, the default and extracted libraries, user
libraries, the best pattern of a kernel, and random pattern + connectivity pruning."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from fretsaw.prune.errors import PruneError


def candidate_patterns() -> np.ndarray:
    """The 56 four-tap 3x3 masks that keep the centre (PatDNN's candidate set), 56 x 3 x 3."""
    others = [i for i in range(9) if i != 4]
    masks = []
    for picks in itertools.combinations(others, 3):
        mask = np.zeros(9, dtype=bool)
        mask[[4, *picks]] = True
        masks.append(mask.reshape(3, 3))
    return np.stack(masks)


def default_library(num_patterns: int = 8) -> np.ndarray:
    """A PatDNN-style library: the four T shapes (centre + three edge neighbours), then the
    four 2x2 squares holding the centre, then the remaining candidates in order."""
    candidates = list(candidate_patterns())
    tees = [m for m in candidates if _edges(m) == 3]
    squares = [m for m in candidates if _is_square(m)]
    rest = [m for m in candidates if _edges(m) != 3 and not _is_square(m)]
    ordered = tees + squares + rest
    if not 1 <= num_patterns <= len(ordered):
        raise PruneError(f"num_patterns must be between 1 and {len(ordered)}, got {num_patterns}")
    return np.stack(ordered[:num_patterns])


def _edges(mask: np.ndarray) -> int:
    return int(mask[0, 1]) + int(mask[1, 0]) + int(mask[1, 2]) + int(mask[2, 1])


def _is_square(mask: np.ndarray) -> bool:
    rows, cols = np.nonzero(mask)
    return rows.max() - rows.min() == 1 and cols.max() - cols.min() == 1


@torch.no_grad()
def random_pattern_prune(model: torch.nn.Module, *, num_patterns: int = 8, connectivity: float = 0.5,
                         seed: int = 0, skip_first: bool = True) -> torch.nn.Module:
    """Prune every 3x3 Conv2d of `model` in place: each kernel keeps a random library pattern,
    and a random `1 - connectivity` fraction of kernels is removed. Returns the model.

    This is structure without training (for tests, demos and benchmarks); the first conv is
    left dense when `skip_first`, as PatDNN does.
    """
    if not 0.0 < connectivity <= 1.0:
        raise PruneError(f"connectivity must be in (0, 1], got {connectivity}")
    rng = np.random.default_rng(seed)
    library = torch.from_numpy(default_library(num_patterns)).float()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    for conv in convs[1:] if skip_first else convs:
        cout, cin_g = conv.weight.shape[:2]
        picks = torch.from_numpy(rng.integers(0, len(library), size=(cout, cin_g)))
        keep = torch.from_numpy(rng.random((cout, cin_g)) < connectivity).float()
        conv.weight.mul_(library[picks] * keep[:, :, None, None])
    return model


def pattern_key(mask) -> str:
    """A 3x3 mask as rows of 0/1 separated by '/', e.g. '010/111/010' (the key cm.stats() uses); a
    3-D mask as its depth slices' keys separated by '|' (1x3x3: '010/111/010')."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 3:
        return "|".join(pattern_key(plane) for plane in mask)
    return "/".join("".join("1" if v else "0" for v in row) for row in mask)


def parse_pattern(key: str) -> np.ndarray:
    rows = key.split("/")
    if len(rows) != 3 or any(len(row) != 3 or set(row) - {"0", "1"} for row in rows):
        raise PruneError(f"library: '{key}' is not a 3x3 pattern; write rows of 0/1 separated by '/', "
                         f"e.g. '010/111/010'")
    return np.array([[c == "1" for c in row] for row in rows])


def check_library(library) -> np.ndarray:
    """A user-given pattern library as a K x 3 x 3 bool array: masks (any array-like of 0/1) or
    pattern keys like '010/111/010'. Rejects empty masks, duplicates and other shapes."""
    if isinstance(library, str):
        library = [library]
    items = [parse_pattern(p) if isinstance(p, str) else np.asarray(p) for p in library]
    masks = np.asarray(items)
    if masks.ndim != 3 or masks.shape[1:] != (3, 3) or len(masks) == 0:
        raise PruneError(f"library: expected a list of 3x3 masks, got shape {masks.shape}")
    if not np.isin(masks, (0, 1)).all():
        raise PruneError("library: pattern masks must hold only 0 and 1 (or True and False)")
    masks = masks.astype(bool)
    keys = [pattern_key(m) for m in masks]
    empty = [k for k, m in zip(keys, masks) if not m.any()]
    if empty:
        raise PruneError("library: a pattern must keep at least one weight (got 000/000/000)")
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise PruneError(f"library: pattern {repeated[0]} appears more than once")
    return masks


def best_patterns(kernels: torch.Tensor, library: np.ndarray) -> torch.Tensor:
    """For kernels (..., 3, 3), the index of the library pattern keeping the most energy (sum of
    squared weights); ties go to the earlier pattern."""
    lib = torch.from_numpy(library.reshape(len(library), 9)).to(kernels.dtype)
    energy = kernels.detach().reshape(*kernels.shape[:-2], 9).square() @ lib.T
    return energy.argmax(dim=-1)


def extract_library(kernels: list[torch.Tensor], num_patterns: int = 8) -> np.ndarray:
    """PatDNN's library extraction: put every 3x3 kernel on the candidate (4 taps with the centre,
    `candidate_patterns()`) that keeps the most of its energy and keep the `num_patterns` most
    frequent candidates. `kernels` are weight tensors (Cout x Cin x 3 x 3) of a trained model;
    ties in frequency go to the candidate listed first."""
    candidates = candidate_patterns()
    if not 1 <= num_patterns <= len(candidates):
        raise PruneError(f"num_patterns must be between 1 and {len(candidates)}, got {num_patterns}")
    counts = np.zeros(len(candidates), dtype=np.int64)
    for weight in kernels:
        picks = best_patterns(weight, candidates).flatten().numpy()
        counts += np.bincount(picks, minlength=len(candidates))
    order = np.argsort(-counts, kind="stable")
    return candidates[order[:num_patterns]]
