# lit configuration: every .mlir file under tests/lit is a test; RUN lines use fretsaw-opt and filecheck.
import os
import sys

import lit.formats

config.name = "fretsaw"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["lit.cfg.py", "Output"]
# Tools come from the virtual environment lit runs in (fretsaw-opt, filecheck).
bindir = os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
config.environment["PYTHONWARNINGS"] = "ignore"
