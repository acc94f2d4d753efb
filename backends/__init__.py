"""fretsaw.backends: one class per target, each declaring its stages as pipeline text."""

from fretsaw.backends.aarch64 import AArch64Backend
from fretsaw.backends.host import HostBackend

BACKENDS = {b.name: b for b in (HostBackend, AArch64Backend)}

__all__ = ["BACKENDS", "AArch64Backend", "HostBackend"]
