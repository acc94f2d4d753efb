"""profile-ops: time every top-level step of the entry function where it runs, inside the network.

For `cm.profile(x)` on the host (`fretsaw.compile(..., profile=True)`, `fretsaw bench --profile`):
a conv timed alone (`fretsaw bench --layers`) finds its input in cache and its threads idle, and
says nothing of what runs between the convs. Here the entry function's (`entry`, default main) top-level ops that do
work (those with regions: the SIMD loops of pconv-vectorize, dense-vectorize and the elementwise
ops, linalg ops; and memref.copy, func.call) are followed by a call `@fretsaw_profile_stamp(k)`,
and its body starts with `@fretsaw_profile_stamp(0)`: the runtime (backends/host.py) reads a
clock at each call, so interval k runs from stamp k-1 to stamp k and the intervals add up to the
whole call. The module's `fretsaw.profile` attribute names each interval's layer (the source
location of the op that ends it: `4.body.0 (conv)`; a conv's input staging and its loops are two
intervals of one layer). The free ops between (views, constants, allocs of small buffers) fall
into the next interval. Stamps sit only between top-level ops, outside every parallel loop, so
they run on the calling thread and change no loop's code.

Before:
  func.func @main(...) { %v = memref.view ...  scf.parallel ... { ... }  scf.parallel ... { ... } return }
After:
  func.func private @fretsaw_profile_stamp(index)
  func.func @main(...) { call @fretsaw_profile_stamp(%c0)  %v = memref.view ...
                         scf.parallel ... { ... }  call @fretsaw_profile_stamp(%c1)
                         scf.parallel ... { ... }  call @fretsaw_profile_stamp(%c2)  return }
  module attributes {fretsaw.profile = ["0 (conv)", "0 (conv)"]}
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch_mlir import ir
from torch_mlir.dialects import arith, func

from fretsaw.errors import FretsawError, op_error
from fretsaw.passes.base import ModulePass
from fretsaw.stats import layer_label

STAMP = "fretsaw_profile_stamp"
LABELS = "fretsaw.profile"
WORK = ("memref.copy", "func.call")


def does_work(op: ir.Operation) -> bool:
    """A top-level op worth its own interval: loops and linalg ops (regions), copies, calls."""
    return len(op.regions) > 0 or op.name in WORK or op.name.startswith("linalg.")


@dataclasses.dataclass(frozen=True)
class ProfileOps(ModulePass):
    """Stamp a clock between the entry function's top-level ops (cm.profile on the host)."""

    name: ClassVar[str] = "profile-ops"

    entry: str = "main"  # the function to time (the backends' entry point)

    def run(self, module: ir.Operation) -> None:
        body = module.regions[0].blocks[0]
        entries = [op for op in functions(body, self.entry) if len(op.regions[0].blocks)]
        if not entries:
            raise FretsawError(f"profile-ops: the module has no function @{self.entry} with a body to time; "
                               f"name the entry point with profile-ops{{entry=...}}")
        if len(entries[0].regions[0].blocks) > 1:
            raise op_error(entries[0], "profile-ops times a function of one block (structured loops, before "
                                       "scf-to-cf); run it before the loops become branches", pass_name=self.name)
        if functions(body, STAMP):
            raise op_error(entries[0], f"the module already calls @{STAMP}: profile-ops runs once",
                           pass_name=self.name)
        block = entries[0].regions[0].blocks[0]
        ops = [op.operation for op in block.operations]
        labels = []
        with module.context, module.location:
            with ir.InsertionPoint.at_block_begin(body):
                func.FuncOp(STAMP, ir.FunctionType.get([ir.IndexType.get()], []), visibility="private")
            stamp(ir.InsertionPoint(ops[0]), 0, entries[0].location)
            for step, after in zip(ops, ops[1:]):
                if does_work(step):
                    labels.append(layer_label(step.location))
                    stamp(ir.InsertionPoint(after), len(labels), step.location)
            module.attributes[LABELS] = ir.ArrayAttr.get([ir.StringAttr.get(label) for label in labels])


def functions(body: ir.Block, name: str) -> list[ir.Operation]:
    """The func.func ops named `name` in the module's `body`."""
    return [op.operation for op in body.operations if op.operation.name == "func.func"
            and ir.StringAttr(op.operation.attributes["sym_name"]).value == name]


def stamp(point: ir.InsertionPoint, slot: int, location: ir.Location) -> None:
    """`func.call @fretsaw_profile_stamp(slot)` at `point`."""
    with point, location:
        func.CallOp([], ir.FlatSymbolRefAttr.get(STAMP), [arith.ConstantOp(ir.IndexType.get(), slot).result])
