"""3-D depthwise convolutions through Torch-MLIR, which lowers none.

Torch-MLIR refuses a 3-D conv with groups = Cin = Cout > 1 ("only 1D and 2D depthwise
convolution supported"; with a channel multiplier, Cout = M x Cin, it makes a grouped generic).
Both frontends therefore pass such a conv, before Torch-MLIR's lowering, as the grouped conv of
Cin / d groups, d the smallest divisor of Cin above 1 (2 for an even Cin; a prime Cin gives one
group): in each group of d channels, filter o keeps its kernel at its own channel and zeros at
the d - 1 others. That adds exact zeros, so it computes the same outputs; pconv-raise then sees
that every filter reads only its own channel and raises the depthwise conv itself (groups = Cin,
no zero kernels). The frontends rewrite only constant weights (they must be known to be spread).
"""

from __future__ import annotations

import numpy as np


def refused(weight_shape, groups: int) -> bool:
    """Whether Torch-MLIR refuses this conv: 3-D (5-D weight, Cout x Cin/groups x K1 x K2 x K3),
    depthwise with multiplier 1 (groups = Cin = Cout > 1)."""
    return len(weight_shape) == 5 and groups > 1 and weight_shape[1] == 1 and weight_shape[0] == groups


def spread(weight: np.ndarray, groups: int) -> tuple[np.ndarray, int]:
    """(weight, groups) of the grouped conv that computes the depthwise conv of `weight`
    (C x 1 x K1 x K2 x K3, `groups` = C): C / d groups of d channels, filter o's kernel at its
    channel o, zeros elsewhere."""
    channels = weight.shape[0]
    d = next(k for k in range(2, channels + 1) if channels % k == 0)
    spread_weight = np.zeros((channels, d, *weight.shape[2:]), dtype=weight.dtype)
    filters = np.arange(channels)
    spread_weight[filters, filters % d] = weight[:, 0]
    return spread_weight, groups // d
