"""The 3x3 pattern library of PatDNN and random pattern + connectivity pruning."""

from __future__ import annotations

import itertools

import numpy as np
import torch


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
        raise ValueError(f"num_patterns must be between 1 and {len(ordered)}, got {num_patterns}")
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
        raise ValueError(f"connectivity must be in (0, 1], got {connectivity}")
    rng = np.random.default_rng(seed)
    library = torch.from_numpy(default_library(num_patterns)).float()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    for conv in convs[1:] if skip_first else convs:
        cout, cin_g = conv.weight.shape[:2]
        picks = torch.from_numpy(rng.integers(0, len(library), size=(cout, cin_g)))
        keep = torch.from_numpy(rng.random((cout, cin_g)) < connectivity).float()
        conv.weight.mul_(library[picks] * keep[:, :, None, None])
    return model
