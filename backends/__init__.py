"""fretsaw.backends: one class per target, each declaring its stages as pipeline text."""

from fretsaw.backends.host import HostBackend

BACKENDS = {b.name: b for b in (HostBackend,)}

__all__ = ["BACKENDS", "HostBackend"]
