"""The error of a pruning request that cannot be met."""

from fretsaw.errors import FretsawError


class PruneError(FretsawError, ValueError):
    """A bad pruning argument or an impossible request; the message names the argument or layer
    and what to do. A ValueError too, since it is always about the arguments given."""
