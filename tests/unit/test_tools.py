"""fretsaw-opt, the fretsaw command, ONNX import and LLVM IR translation."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import fretsaw
from fretsaw.prune import default_library

PCONV_IR = """
func.func @f(%x: tensor<1x1x3x3xf32>) -> tensor<1x2x2x2xf32> {
  %w = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %0 = "pconv.conv2d"(%x, %w) {patterns = dense<[[[true, false], [false, true]]]> : tensor<1x2x2xi1>, kernel_pattern = dense<[[0], [0]]> : tensor<2x1xi8>, strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, groups = 1 : i64, activation = "none", operandSegmentSizes = array<i32: 1, 1, 0>} : (tensor<1x1x3x3xf32>, tensor<4xf32>) -> tensor<1x2x2x2xf32>
  return %0 : tensor<1x2x2x2xf32>
}
"""


def run(args, stdin=""):
    return subprocess.run([sys.executable, "-m", *args], input=stdin, capture_output=True, text=True)


def test_fretsaw_opt_mixes_python_and_upstream_passes():
    result = run(["fretsaw.opt", "--pass-pipeline=builtin.module(pconv-lower, canonicalize, cse)"], PCONV_IR)
    assert result.returncode == 0, result.stderr
    assert "pconv.conv2d" not in result.stdout and "math.fma" in result.stdout


def test_fretsaw_opt_list_passes():
    result = run(["fretsaw.opt", "--list-passes"])
    for name in ("pconv-raise", "pconv-lower", "pconv-verify"):
        assert name in result.stdout


def test_fretsaw_opt_parse_error_is_located():
    result = run(["fretsaw.opt"], "func.func @f( {")
    assert result.returncode == 1
    assert "<stdin>:1:" in result.stderr and "error:" in result.stderr
    assert "Traceback" not in result.stderr


def test_translate_to_llvm_ir():
    from fretsaw.backends.llvmir import translate_to_llvm_ir
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3), torch.nn.ReLU()).eval()
    cm = fretsaw.compile(model, (torch.randn(1, 2, 12, 12),), vector_width=4, threads=2)
    from torch_mlir import ir
    module = ir.Module.parse(cm.ir("llvm", elide_weights=False), cm._stages["llvm"].context)
    text = translate_to_llvm_ir(module)
    assert "define void @main(" in text and "define void @_mlir_ciface_main(" in text
    assert "@llvm.fmuladd.v4f32" in text  # the conv's SIMD code, 4 lanes as asked
    assert "@__kmpc_fork_call" in text  # its block loop runs on OpenMP threads


def test_translate_rejects_non_llvm_module():
    from torch_mlir import ir

    from fretsaw.backends.llvmir import translate_to_llvm_ir
    from fretsaw.context import make_context
    module = ir.Module.parse(PCONV_IR, make_context())
    with pytest.raises(fretsaw.FretsawError, match="LLVM dialect only, but it holds 'arith.constant'"):
        translate_to_llvm_ir(module)


def onnx_model(path=None):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    weight *= default_library(8)[rng.integers(0, 8, (6, 3))]
    params = {"W": weight, "B": rng.standard_normal(6).astype(np.float32),
              "g": rng.uniform(0.5, 1.5, 6).astype(np.float32), "b": rng.standard_normal(6).astype(np.float32),
              "mu": rng.standard_normal(6).astype(np.float32) * 0.1, "var": rng.uniform(0.5, 2, 6).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="block1/conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "b", "mu", "var"], ["n"]),
             helper.make_node("Relu", ["n"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[2, 2])]
    graph = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in params.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if path:
        onnx.save(model, path)
    return model, params


def onnx_reference(x, p):
    t = {k: torch.from_numpy(v) for k, v in p.items()}
    y = torch.nn.functional.conv2d(torch.from_numpy(x), t["W"], t["B"], padding=1)
    y = torch.nn.functional.batch_norm(y, t["mu"], t["var"], t["g"], t["b"], eps=1e-5)
    return torch.nn.functional.max_pool2d(torch.relu(y), 2).numpy()


def test_onnx_model_proto_and_file(tmp_path):
    model, params = onnx_model(tmp_path / "net.onnx")
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    for source in (model, str(tmp_path / "net.onnx")):
        cm = fretsaw.compile(source, (x,))
        np.testing.assert_allclose(cm(x), onnx_reference(x, params), rtol=1e-4, atol=1e-5)
        layer = cm.stats()["layers"][0]
        assert layer["activation"] == "relu" and layer["sparse_flops"] == 2 * 64 * 6 * 3 * 4
        assert layer["name"] == "block1/conv"  # the ONNX node's name


def test_onnx_missing_file():
    with pytest.raises(fretsaw.FretsawError, match="ONNX file not found"):
        fretsaw.compile("/nonexistent/model.onnx", (np.zeros((1, 3, 8, 8), np.float32),))


def test_cli_compile_onnx(tmp_path):
    onnx_model(tmp_path / "net.onnx")
    result = run(["fretsaw.cli", "compile", str(tmp_path / "net.onnx"), "--input-shape", "1,3,8,8",
                  "--emit", "pconv", "-o", str(tmp_path / "out.mlir"), "--stats-json", str(tmp_path / "s.json")])
    assert result.returncode == 0, result.stderr
    assert '"pconv.conv2d"' in (tmp_path / "out.mlir").read_text()
    assert "reduction" in result.stdout and (tmp_path / "s.json").exists()


def test_cli_compile_reports_errors(tmp_path):
    result = run(["fretsaw.cli", "compile", str(tmp_path / "missing.onnx"), "--input-shape", "1,3,8,8"])
    assert result.returncode == 1 and "fretsaw: error: ONNX file not found" in result.stderr


def test_cli_bench_torch_model(tmp_path):
    # A pickled pruned module: fretsaw and PyTorch eager timed side by side (outputs checked);
    # ONNX Runtime is timed when installed (make bench), else reported as not installed.
    from torch import nn

    from fretsaw.prune import random_pattern_prune
    model = random_pattern_prune(nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                                               nn.Conv2d(16, 16, 3, padding=1)).eval(), skip_first=False)
    torch.save(model, tmp_path / "m.pt")
    result = run(["fretsaw.cli", "bench", str(tmp_path / "m.pt"), "--input-shape", "1,3,16,16", "--repeats", "2",
                  "--threads", "1", "--peers", "pytorch_eager,onnxruntime", "--layers", "--profile",
                  "--json", str(tmp_path / "b.json")])
    assert result.returncode == 0, result.stderr
    figures = json.loads((tmp_path / "b.json").read_text())
    assert figures["threads"] == 1 and figures["fretsaw_ms"] > 0 and figures["peers_ms"]["pytorch_eager"] > 0
    assert "onnxruntime" in figures["peers_ms"] and figures["speedup_over_best_peer"] > 0
    assert figures["conv_flops_reduction"] > 1.5  # pattern pruning: 4 of 9 taps
    assert "pytorch_eager" in result.stdout and "speedup over the fastest peer" in result.stdout
    # the useful GFLOP/s against the FMA peak and a large fp32 matmul's, measured in the same run on
    # the same threads
    peaks = {name: figures[f"{name}_peak_gflops"] for name in ("fma", "matmul")}
    for name, peak in peaks.items():
        assert peak > 0 and figures[f"percent_of_{name}_peak"] == pytest.approx(100 * figures["useful_gflops"] / peak)
    assert f"FMA {peaks['fma']:.1f} GFLOP/s (FMA chain loop on {figures['cpu']})" in result.stdout
    assert f"matmul {peaks['matmul']:.1f} GFLOP/s (PyTorch" in result.stdout
    assert f"{figures['percent_of_fma_peak']:.0f}% of the FMA peak" in result.stdout
    layers = figures["layers"]  # --layers: each conv compiled and timed alone
    assert [layer["layer"] for layer in layers] == ["0", "2"]
    assert layers[1]["input_shape"] == [1, 16, 16, 16] and layers[1]["peers_ms"]["pytorch_eager"] > 0
    assert all(layer[f"{name}_peak_gflops"] == peak and layer[f"percent_of_{name}_peak"] > 0
               for layer in layers for name, peak in peaks.items())
    assert "conv layers compiled and timed alone" in result.stdout
    profile = figures["profile"]  # --profile: each layer timed inside the network, in its order
    assert [row["layer"] for row in profile if "conv" in row] == ["0 (conv)", "2 (conv)"]
    assert all(row["ms"] >= 0 and row["steps"] >= 1 for row in profile)
    assert sum(row["percent"] for row in profile) == pytest.approx(100)
    assert "layers timed inside the network" in result.stdout and "convs " in result.stdout


def test_cli_bench_onnx_without_runtime_says_what_to_install(tmp_path):
    onnx_model(tmp_path / "net.onnx")
    result = run(["fretsaw.cli", "bench", str(tmp_path / "net.onnx"), "--input-shape", "1,3,8,8", "--repeats", "2"])
    assert result.returncode == 0, result.stderr
    try:
        import onnxruntime  # noqa: F401
        assert "onnxruntime" in result.stdout and "not installed" not in result.stdout
    except ImportError:
        assert "not installed (pip install onnxruntime, or make bench)" in result.stdout


def test_cli_bench_layers_needs_a_torch_model(tmp_path):
    onnx_model(tmp_path / "net.onnx")
    result = run(["fretsaw.cli", "bench", str(tmp_path / "net.onnx"), "--input-shape", "1,3,8,8", "--repeats", "1",
                  "--layers"])
    assert result.returncode == 1 and "--layers needs a torch model (.pt)" in result.stderr


@pytest.mark.parametrize("target", ["aarch64", "spirv"])
def test_cli_bench_profile_is_for_the_host(tmp_path, target):
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)).eval(), tmp_path / "m.pt")
    # checked before the compile: aarch64 estimates cycles with llvm-mca, spirv's per-dispatch
    # device times are --layers
    result = run(["fretsaw.cli", "bench", str(tmp_path / "m.pt"), "--input-shape", "1,3,8,8", "--target", target,
                  "--profile"])
    assert result.returncode == 1 and f"--profile" in result.stderr and f"--target {target}" in result.stderr
    assert "fretsaw bench" not in result.stdout


def test_cli_bench_unknown_peer(tmp_path):
    onnx_model(tmp_path / "net.onnx")
    result = run(["fretsaw.cli", "bench", str(tmp_path / "net.onnx"), "--input-shape", "1,3,8,8", "--peers", "tvm"])
    assert result.returncode == 1
    assert "unknown peer(s) tvm in --peers; choose from pytorch_eager, torch_compile, onnxruntime, iree" in result.stderr


def test_iree_peer_matches_pytorch():
    # IREE llvm-cpu compiles the exported ONNX; installed by make bench, so not on a fresh machine.
    pytest.importorskip("iree.runtime")
    from torch import nn

    from fretsaw.benchmark import export_onnx, iree_runner
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 5)).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    run_iree = iree_runner(export_onnx(model, (x,)), (x,), threads=1)
    np.testing.assert_allclose(run_iree(x), model(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_compare_keep_going_reports_a_failing_peer(monkeypatch):
    # bench/video.py: a peer that cannot build a network (IREE on some 3-D pools) is reported with
    # its reason and the others still timed; without keep_going the error stops the comparison.
    from fretsaw import benchmark
    from fretsaw.errors import FretsawError

    def refuse(onnx, inputs, threads):
        raise FretsawError("IREE could not compile the model: error: no 3-D pools; leave IREE out with --peers")

    monkeypatch.setattr(benchmark, "iree_runner", refuse)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    cm = fretsaw.compile(model, (torch.from_numpy(x),))
    with pytest.raises(FretsawError, match="no 3-D pools"):
        benchmark.compare(cm, model, (x,), 1, ("pytorch_eager", "iree"))
    result = benchmark.compare(cm, model, (x,), 1, ("pytorch_eager", "iree"), keep_going=True)
    assert result["peers_ms"]["iree"] is None and "no 3-D pools" in result["peers_failed"]["iree"]
    assert result["best_peer_ms"] == result["peers_ms"]["pytorch_eager"] > 0


def test_networks_chart(tmp_path):
    # bench/networks.py --chart: each runtime's latency over fretsaw's per network, as a PNG when
    # matplotlib is installed (make bench), else the error says what to install; bench/video.py's
    # rows add dense-fretsaw
    from fretsaw.benchmark import PEERS, networks_chart
    from fretsaw.errors import FretsawError

    rows = [{"network": name, "fretsaw_ms": ms, "threads": 2, "cpu": "x86-64-avx512", "conv_flops_reduction": 3.6,
             "peers_ms": {peer: ms * (2 + i) if peer != "iree" else None for i, peer in enumerate(PEERS)}}
            for name, ms in (("vgg16", 70.0), ("resnet18", 9.0))]
    rows[1]["peers_ms"]["dense-fretsaw"] = 20.0
    path = tmp_path / "networks.png"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(FretsawError, match="pip install matplotlib"):
            networks_chart(rows, str(path))
        return
    networks_chart(rows, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bench_chart(tmp_path):
    # --chart draws a PNG when matplotlib is installed (make bench), else says what to install
    # before compiling anything.
    from torch import nn

    from fretsaw.prune import random_pattern_prune
    model = random_pattern_prune(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1)).eval(), skip_first=False)
    torch.save(model, tmp_path / "m.pt")
    chart = tmp_path / "bench.png"
    result = run(["fretsaw.cli", "bench", str(tmp_path / "m.pt"), "--input-shape", "1,3,8,8", "--repeats", "1",
                  "--threads", "1", "--peers", "pytorch_eager", "--layers", "--chart", str(chart)])
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert result.returncode == 1 and "--chart needs matplotlib: pip install matplotlib" in result.stderr
        assert "fretsaw bench:" not in result.stdout
        return
    assert result.returncode == 0, result.stderr
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"chart written to {chart}" in result.stdout


def test_interleaved_timing_calls_the_builds_in_turn():
    # bench/networks.py --tune (tuned against untuned) and the tuner's rematch: the builds are
    # called in turn, each after a warm-up call, so a swing of the machine falls on all of them;
    # one median each, in the given order
    import time as clock

    from fretsaw.benchmark import interleaved_ms

    calls = []

    def build(name, seconds):
        def run():
            calls.append(name)
            clock.sleep(seconds)
        return run

    slow, fast = interleaved_ms([build("slow", 0.004), build("fast", 0.001)], 5)
    assert calls == ["slow", "fast"] * 6
    assert slow > 3.5 and 0.9 < fast < slow / 2
