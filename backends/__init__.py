"""fretsaw.backends: one class per target (backends/base.py's Backend protocol) and their registry.

A new target is a module here with its Backend class, and one entry below.
"""

from fretsaw.backends.aarch64 import AArch64Backend
from fretsaw.backends.base import Backend, Signature, Stage
from fretsaw.backends.host import HostBackend
from fretsaw.backends.spirv import SpirvBackend

# target name -> backend class; fretsaw.compile(target=...) looks targets up here
BACKENDS: dict[str, type] = {b.name: b for b in (HostBackend, AArch64Backend, SpirvBackend)}


def make_backend(target: str, options: dict) -> Backend:
    """The backend of `target` built from its `options` (keyword arguments of fretsaw.compile)."""
    from fretsaw.backends.base import options_of
    from fretsaw.errors import FretsawError

    name = str(target).lower()
    if name not in BACKENDS:
        raise FretsawError(f"unknown target '{target}'; available: {', '.join(BACKENDS)}")
    backend_class = BACKENDS[name]
    return backend_class(options_of(backend_class, options))


__all__ = ["BACKENDS", "AArch64Backend", "Backend", "HostBackend", "Signature", "SpirvBackend", "Stage", "make_backend"]
