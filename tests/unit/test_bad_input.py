"""Bad input never crashes or lies (issue 16): every refusal is a FretsawError (the command line
prints it and exits with status 1; a malformed argument is argparse's usage error, status 2) naming
the argument, op or layer and saying what to do; valid models that were refused now compile."""

import io
import sys
import types

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import fretsaw
from fretsaw import FretsawError, cli, opt
from conftest import check_against_torch


def run_cli(capsys, *argv) -> tuple[int, str]:
    """fretsaw's command line in this process: (exit status, stderr). An exception escaping it
    (what a user would see as a traceback) fails the test."""
    try:
        status = cli.main(list(argv))
    except SystemExit as exit_:  # argparse's usage errors
        status = exit_.code
    return status, capsys.readouterr().err


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3)).eval(), path)
    return path


# 1. raw tracebacks instead of FretsawError

def test_cli_compile_random_bytes(capsys, tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    status, err = run_cli(capsys, "compile", str(path), "--input-shape", "1,1,8,8")
    assert status == 1
    assert f"fretsaw: error: {path} is not a model file torch.load can read" in err
    assert "save one with torch.save(model, path), or pass an .onnx file" in err


def test_cli_compile_missing_file(capsys, tmp_path):
    status, err = run_cli(capsys, "compile", str(tmp_path / "missing.pt"), "--input-shape", "1,1,8,8")
    assert status == 1 and f"model file {tmp_path / 'missing.pt'} not found" in err


def test_cli_compile_class_not_importable(capsys, tmp_path, monkeypatch):
    # torch.save pickles the class by module path; that module is gone when the file is loaded
    module = types.ModuleType("fretsaw_test_gone_module")
    exec("import torch\nclass Net(torch.nn.Module):\n    def forward(self, x):\n        return x + 1\n",
         module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    torch.save(module.Net().eval(), tmp_path / "net.pt")
    monkeypatch.delitem(sys.modules, module.__name__)
    status, err = run_cli(capsys, "compile", str(tmp_path / "net.pt"), "--input-shape", "1,1,8,8")
    assert status == 1
    assert "the model's class cannot be imported here" in err and "fretsaw_test_gone_module" in err
    assert "make the module that defines it importable" in err


@pytest.mark.parametrize("shape", ["1,1,-8,8", "1,1,0,8", "1,1,8.5,8"])
def test_cli_input_shape_needs_positive_integers(capsys, model_file, shape):
    status, err = run_cli(capsys, "compile", str(model_file), "--input-shape", shape)
    assert status == 2 and "argument --input-shape: " in err and f"got '{shape}'" in err
    assert ("every size must be a positive integer" in err) != ("." in shape)


def test_cli_prune_checks_output_directory_before_pruning(capsys, model_file, tmp_path, monkeypatch):
    monkeypatch.setattr("fretsaw.prune.make_plan", lambda *a, **k: pytest.fail("pruned before checking -o"))
    target = tmp_path / "missing" / "pruned.pt"
    status, err = run_cli(capsys, "prune", str(model_file), "-o", str(target))
    assert status == 1
    assert f"-o {target}: directory {tmp_path / 'missing'} does not exist; create it first" in err


def test_cli_compile_checks_output_directory_before_compiling(capsys, model_file, tmp_path, monkeypatch):
    monkeypatch.setattr("fretsaw.compile", lambda *a, **k: pytest.fail("compiled before checking -o"))
    status, err = run_cli(capsys, "compile", str(model_file), "--input-shape", "1,1,8,8", "--emit", "pconv",
                          "-o", str(tmp_path / "missing" / "out.mlir"))
    assert status == 1 and "does not exist; create it first" in err


def test_cli_prune_binary_library(capsys, model_file, tmp_path):
    library = tmp_path / "lib.json"
    library.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    status, err = run_cli(capsys, "prune", str(model_file), "-o", str(tmp_path / "out.pt"), "--library", str(library))
    assert status == 1
    assert f"--library {library} is not text (byte 0x89 at offset 0 is not UTF-8)" in err
    assert "expected a JSON list of patterns" in err


def test_fretsaw_opt_non_utf8_file_and_stdin(capsys, tmp_path, monkeypatch):
    path = tmp_path / "bad.mlir"
    path.write_bytes(b"func.func @f() {\n  return\n}\n\xff\xfe")
    assert opt.main([str(path)]) == 1
    err = capsys.readouterr().err
    assert f"fretsaw-opt: error: {path} is not MLIR text: byte 0xff at offset 28 is not UTF-8" in err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff")))
    assert opt.main([]) == 1
    assert "<stdin> is not MLIR text: byte 0xff at offset 0" in capsys.readouterr().err


@pytest.mark.parametrize("example, message", [
    (None, "example_inputs must be a torch tensor or numpy array, or a tuple of them, got NoneType"),
    (3, "example_inputs must be a torch tensor or numpy array, or a tuple of them, got int"),
    ("x.png", "got str"),
    ([[1.0, 2.0]], "example input 0 is a list, not a torch tensor or numpy array"),
    ((torch.zeros(1, 1, 8, 8), None), "example input 1 is a NoneType"),
    (torch.zeros(1, 1, 8, 8, dtype=torch.float64), "example input 0 has dtype torch.float64: fretsaw compiles "
                                                   "float32 models"),
    ((np.zeros((1, 1, 8, 8), np.int64),), r"example input 0 has dtype int64: .*\.astype\(np\.float32\)"),
    (torch.zeros(0, 1, 8, 8), r"example input 0 has shape \(0, 1, 8, 8\), with no elements"),
])
def test_compile_refuses_bad_example_inputs(example, message):
    with pytest.raises(FretsawError, match=message):
        fretsaw.compile(nn.Conv2d(1, 2, 3).eval(), example)


# 2. valid models refused: negative padding is a crop

def test_negative_pad_before_conv():
    check_against_torch(nn.Sequential(nn.ZeroPad2d((-1, 1, -2, 0)), nn.Conv2d(2, 3, 3)), torch.randn(1, 2, 8, 8))


def test_crop_is_not_merged_into_the_conv_padding():
    # upstream canonicalization adds a negative tensor.pad to the conv's pad: a cropped row came back
    check_against_torch(nn.Sequential(nn.ZeroPad2d((0, 0, 0, -1)), nn.Conv2d(2, 3, 3, padding=1)),
                        torch.randn(1, 2, 10, 11))


def test_negative_pad_alone():
    cm = check_against_torch(nn.Sequential(nn.ZeroPad2d((-1, 1, -2, 0))), torch.randn(1, 2, 8, 8))
    # End to end: the crop becomes a slice in the FX graph before import (frontend/torch_import.py),
    # not in an MLIR pass a lit test could run.
    assert "tensor.extract_slice" in cm.ir("pconv")


pads = st.tuples(*[st.integers(-3, 3)] * 4)


@settings(max_examples=6, deadline=None)
@given(pad=pads, value=st.sampled_from([0.0, 0.5]), conv_padding=st.integers(0, 1))
@example(pad=(-2, 1, 1, -1), value=0.0, conv_padding=1)
def test_random_pads_before_a_conv(pad, value, conv_padding):
    model = nn.Sequential(nn.ConstantPad2d(pad, value), nn.Conv2d(2, 3, 3, padding=conv_padding), nn.ReLU())
    check_against_torch(model, torch.randn(1, 2, 10, 11))


@settings(max_examples=6, deadline=None)
@given(pad=pads, value=st.sampled_from([0.0, -1.5]))
def test_random_pads_alone(pad, value):
    check_against_torch(nn.Sequential(nn.ConstantPad2d(pad, value)), torch.randn(1, 2, 7, 9))


# 3. cryptic errors: name the op Torch-MLIR cannot lower, its layer and the pass

class Spectrum(nn.Module):
    def forward(self, x):
        return torch.fft.fft(x).real


class NonZero(nn.Module):
    def forward(self, x):
        return torch.nonzero(x).float()


class CumSum(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, 1)


def with_head(head: nn.Module) -> nn.Module:
    model = nn.Sequential()
    model.add_module("conv", nn.Conv2d(1, 2, 3))
    model.add_module("head", head)
    return model.eval()


def test_fft_names_the_op_and_layer():
    with pytest.raises(FretsawError) as info:
        fretsaw.compile(with_head(Spectrum()), (torch.randn(1, 1, 8, 8),))
    error = info.value
    assert error.op == "torch.aten.fft_fft" and '"head"' in error.location
    assert "Torch-MLIR cannot lower 'torch.aten.fft_fft' (layer 'head') to linalg" in error.message
    assert "compute it outside the compiled model" in error.message
    assert error.pass_name == "torch-backend-to-linalg-on-tensors-backend-pipeline" and error.reproducer


def test_nonzero_names_the_op_and_layer():
    with pytest.raises(FretsawError) as info:
        fretsaw.compile(with_head(NonZero()), (torch.randn(1, 1, 8, 8),))
    error = info.value
    assert error.op == "torch.aten.nonzero" and '"head"' in error.location
    assert "'torch.aten.nonzero' in layer 'head' gives a tensor of shape [?,4], whose size depends on the input " \
           "values" in error.message


def test_unbufferizable_op_is_named():
    # cumsum becomes a tm_tensor.scan, which upstream bufferization does not handle
    with pytest.raises(FretsawError) as info:
        fretsaw.compile(with_head(CumSum()), (torch.randn(1, 1, 8, 8),))
    error = info.value
    assert error.op == "tm_tensor.scan" and '"head"' in error.location
    assert "op was not bufferized: 'tm_tensor.scan'" in error.message and "like cumsum" in error.message
    assert error.pass_name.startswith("one-shot-bufferize")


def test_kernel_larger_than_input_torch_names_the_layer():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3, dilation=3))).eval()
    with pytest.raises(FretsawError, match=r"in layer '0\.0' \(Conv2d\), where PyTorch itself fails on these "
                                           r"example inputs .*Kernel size: \(7 x 7\)"):
        fretsaw.compile(model, (torch.randn(1, 1, 6, 6),))


def onnx_conv(size: int, kernel: int, **attributes):
    weight = numpy_helper.from_array(np.ones((2, 1, kernel, kernel), np.float32), "W")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"], name="block/conv", **attributes)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("size, kernel, attributes, sizes", [
    (4, 5, {}, "kernel 5x5 (dilation 1x1, spanning 5x5) is larger than the padded input 4x4 (input 4x4, padding "
               "top 0 left 0 bottom 0 right 0)"),
    (2, 5, {"pads": [1, 1, 1, 1]}, "kernel 5x5 (dilation 1x1, spanning 5x5) is larger than the padded input 4x4 "
                                   "(input 2x2, padding top 1 left 1 bottom 1 right 1)"),
    (6, 3, {"dilations": [3, 3]}, "kernel 3x3 (dilation 3x3, spanning 7x7) is larger than the padded input 6x6"),
])
def test_kernel_larger_than_padded_input_onnx(size, kernel, attributes, sizes):
    with pytest.raises(FretsawError) as info:
        fretsaw.compile(onnx_conv(size, kernel, **attributes), (np.zeros((1, 1, size, size), np.float32),))
    error = info.value
    assert f"layer 'block/conv': the {sizes}" in error.message and "does not match" not in error.message
    assert "give a larger input" in error.message
    assert error.pass_name == "pconv-raise" and error.location == 'loc("block/conv")'
