"""Errors say what went wrong, name the op / pass / argument, and leave a reproducer."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import fretsaw
from fretsaw import FretsawError


@pytest.fixture(scope="module")
def compiled():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    return fretsaw.compile(model, (torch.randn(1, 3, 6, 6),))


def test_wrong_number_of_inputs(compiled):
    with pytest.raises(FretsawError, match=r"takes 1 input\(s\) of shape\(s\) \(1, 3, 6, 6\), got 2"):
        compiled(np.zeros((1, 3, 6, 6), np.float32), np.zeros((1, 3, 6, 6), np.float32))


def test_wrong_shape(compiled):
    with pytest.raises(FretsawError, match=r"input 0: expected shape \(1, 3, 6, 6\), got \(1, 3, 7, 7\)"):
        compiled(np.zeros((1, 3, 7, 7), np.float32))


def test_wrong_dtype(compiled):
    with pytest.raises(FretsawError, match="input 0: expected dtype float32, got float64"):
        compiled(np.zeros((1, 3, 6, 6)))


def test_torch_input_accepted(compiled):
    assert compiled(torch.zeros(1, 3, 6, 6)).shape == (1, 4, 4, 4)


def test_unknown_stage(compiled):
    with pytest.raises(FretsawError, match="unknown stage 'nope'; stages: torch, linalg, pconv"):
        compiled.ir("nope")


def test_unknown_target_and_option():
    model = nn.Conv2d(1, 1, 1).eval()
    with pytest.raises(FretsawError, match="unknown target 'tpu'; available: host"):
        fretsaw.compile(model, (torch.randn(1, 1, 2, 2),), target="tpu")
    with pytest.raises(FretsawError, match="unknown compile option.*bogus"):
        fretsaw.compile(model, (torch.randn(1, 1, 2, 2),), bogus=1)
    with pytest.raises(FretsawError, match="threads must be at least 1, got 0"):
        fretsaw.compile(model, (torch.randn(1, 1, 2, 2),), threads=0)
    with pytest.raises(FretsawError, match="vector_width must be 1, 2, 4, 8 or 16 fp32 lanes, got 3"):
        fretsaw.compile(model, (torch.randn(1, 1, 2, 2),), vector_width=3)


def test_training_mode_is_refused():
    with pytest.raises(FretsawError, match=r"call model.eval\(\)"):
        fretsaw.compile(nn.Conv2d(1, 1, 1), (torch.randn(1, 1, 2, 2),))


class Unsupported(nn.Module):
    def forward(self, x):
        return torch.special.bessel_j0(x)


def test_unsupported_op_names_op_and_writes_reproducer(tmp_path, monkeypatch):
    monkeypatch.setenv("FRETSAW_SAVE_TEMPS", str(tmp_path))
    with pytest.raises(FretsawError) as info:
        fretsaw.compile(Unsupported().eval(), (torch.randn(1, 4),))
    error = info.value
    assert error.op == "torch.aten.special_bessel_j0"
    assert "test_errors.py" in error.location
    assert error.pass_name.startswith("torchdynamo-export-to-torch-backend-pipeline")
    assert os.path.dirname(error.reproducer) == str(tmp_path)
    # the printed command really reproduces the failure
    command = error.command.replace("fretsaw-opt", f"{sys.executable} -m fretsaw.opt", 1)
    result = subprocess.run(command, shell=True, capture_output=True, text=True)
    assert result.returncode == 1
    assert "torch.aten.special_bessel_j0" in result.stderr


def test_bad_pipeline_text():
    from fretsaw.pipeline import parse_pipeline
    with pytest.raises(FretsawError, match="pass 'pconv-raise' has no option 'width'"):
        parse_pipeline("builtin.module(pconv-raise{width=4})")
    with pytest.raises(FretsawError, match="unbalanced"):
        parse_pipeline("builtin.module(pconv-raise, func.func(cse)")
    with pytest.raises(FretsawError, match="'pconv-lower' is a module pass"):
        parse_pipeline("builtin.module(func.func(pconv-lower))")


def test_failing_upstream_pass_is_named(tmp_path, monkeypatch):
    from torch_mlir import ir

    from fretsaw.context import make_context
    from fretsaw.pipeline import run_pipeline
    monkeypatch.setenv("FRETSAW_SAVE_TEMPS", str(tmp_path))
    module = ir.Module.parse("func.func @f(%a: tensor<2xf32>) -> tensor<2xf32> { return %a : tensor<2xf32> }",
                             make_context())
    with pytest.raises(FretsawError) as info:
        run_pipeline(module, "builtin.module(canonicalize, no-such-pass)")
    assert "invalid pass pipeline" in str(info.value) and "no-such-pass" in str(info.value)


def test_pass_building_invalid_ir_is_an_internal_error(monkeypatch):
    """A fretsaw pass whose output does not verify is reported as that pass's internal error with a
    reproducer (it used to be replayed as an upstream pass, raising a raw ValueError)."""
    import dataclasses
    from typing import ClassVar

    from torch_mlir import ir

    from fretsaw import passes
    from fretsaw.context import make_context
    from fretsaw.passes.base import ModulePass
    from fretsaw.pipeline import run_pipeline

    @dataclasses.dataclass(frozen=True)
    class Broken(ModulePass):
        name: ClassVar[str] = "broken"

        def run(self, module):
            fn = module.regions[0].blocks[0].operations[0]
            with ir.InsertionPoint.at_block_begin(fn.regions[0].blocks[0]), ir.Location.unknown():
                ir.Operation.create("func.return", operands=[])
            module.verify()

    monkeypatch.setitem(passes.REGISTRY, "broken", Broken)
    with make_context():
        module = ir.Module.parse("func.func @f(%a: f32) -> f32 { return %a : f32 }")
    with pytest.raises(FretsawError, match="internal error in pass 'broken': its output does not verify") as caught:
        run_pipeline(module, "builtin.module(broken)")
    assert caught.value.pass_name == "broken" and os.path.exists(caught.value.reproducer)
