"""fretsaw.prune: the pruning side. So far the PatDNN pattern library and random pattern /
connectivity pruning (used by the demo and the tests); projection, ADMM and KGS come next."""

from fretsaw.prune.patterns import candidate_patterns, default_library, random_pattern_prune

__all__ = ["candidate_patterns", "default_library", "random_pattern_prune"]
