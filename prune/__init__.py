"""fretsaw.prune: from a dense PyTorch model to a pattern / connectivity (2D) or KGS / Vanilla (3D)
pruned one that fretsaw compiles.

    from fretsaw import prune
    pruned = prune.project(model, scheme="pattern", flops=3.6, num_patterns=8, inputs=x)   # one shot
    pruned, report = prune.admm(model, train_loader, scheme="pattern", flops=3.6, epochs=10)
    pruned, report = prune.reweighted(model, train_loader, scheme="kgs", flops=3.6)       # RT3D
    pruned, report = prune.oneshot(model, train_loader, scheme="filter", flops=3.6)       # baselines
    prune.report(pruned, inputs=x)      # library, per-layer rates, FLOPs before and after
"""

from fretsaw.prune.errors import PruneError
from fretsaw.prune.patterns import (candidate_patterns, check_library, default_library, extract_library,
                                    pattern_key, random_pattern_prune)
from fretsaw.prune.project import SCHEMES, Plan, apply, make_plan, project
from fretsaw.prune.report import report
from fretsaw.prune.train import admm, finetune, oneshot, reweighted

__all__ = ["PruneError", "SCHEMES", "Plan", "admm", "apply", "candidate_patterns", "check_library", "default_library",
           "extract_library", "finetune", "make_plan", "oneshot", "pattern_key", "project", "random_pattern_prune",
           "report", "reweighted"]
