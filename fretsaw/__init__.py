"""fretsaw: a compiler that turns pattern- and connectivity-pruned CNNs into fast code.

    import fretsaw
    cm = fretsaw.compile(model, (x,), target="host")
    y = cm(x)            # numpy out
    cm.stats()           # dense vs sparse FLOPs, pattern histogram, connectivity
    cm.ir("pconv")       # MLIR of a named stage
"""

from fretsaw.compiler import CompiledModel, CompileOptions, compile
from fretsaw.errors import FretsawError

__all__ = ["compile", "CompiledModel", "CompileOptions", "FretsawError"]
__version__ = "0.1.0"
