"""fretsaw: a compiler that turns pattern- and connectivity-pruned CNNs into fast code.

    import fretsaw
    cm = fretsaw.compile(model, (x,), target="host")
    y = cm(x)            # numpy out
    cm.stats()           # dense vs sparse FLOPs, pattern histogram, connectivity
    cm.ir("pconv")       # MLIR of a named stage
"""

from fretsaw.backends.aarch64 import AArch64Options
from fretsaw.backends.host import HostOptions
from fretsaw.backends.spirv import SpirvOptions
from fretsaw.compiler import CompiledModel, compile
from fretsaw.errors import FretsawError

__all__ = ["compile", "CompiledModel", "HostOptions", "AArch64Options", "SpirvOptions", "FretsawError"]
__version__ = "0.1.0"
