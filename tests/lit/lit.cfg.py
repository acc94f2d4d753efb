# lit configuration: every .mlir file under tests/lit is a test; RUN lines use fretsaw-opt and filecheck.
import os
import sys

import lit.formats

config.name = "fretsaw"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["lit.cfg.py", "Output", "Inputs"]  # Inputs/: files RUN lines read, not tests
# Tools come from the virtual environment lit runs in (fretsaw-opt, filecheck).
bindir = os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
config.environment["PYTHONWARNINGS"] = "ignore"

# %aarch64-stages, %aarch64-fp16-stages: the AArch64 backend's stages as one pipeline (what
# fretsaw.compile runs), fp32 and with fp16 convs.
from fretsaw.backends.aarch64 import AArch64Backend, AArch64Options  # noqa: E402
from fretsaw.pipeline import joined  # noqa: E402
from fretsaw.stages import PCONV  # noqa: E402

config.substitutions.append(("%aarch64-fp16-stages", joined((PCONV, *AArch64Backend(AArch64Options(fp16=True)).stages()))))
config.substitutions.append(("%aarch64-stages", joined((PCONV, *AArch64Backend().stages()))))
