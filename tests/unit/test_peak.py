"""The FMA peak (fretsaw/peak.py, fretsaw.benchmark.fma_peak): the loop is generated from the
target description, runs every trip it is given on every thread, and cannot be folded away."""

import dataclasses

import numpy as np
import pytest

from fretsaw import benchmark
from fretsaw.peak import SCALE, SHIFT, FmaLoop, chain_count, fma_chains_module
from fretsaw.target import CpuTarget, host_target


@pytest.mark.parametrize("cpu, lanes, chains", [(CpuTarget("x86-64-avx2", 8, 2), 8, 12),
                                                (CpuTarget("x86-64-avx512", 16, 3, registers=32), 16, 16)])
def test_loop_follows_the_target_description(cpu, lanes, chains):
    assert chain_count(cpu) == chains
    text = str(fma_chains_module(cpu, chains))
    assert text.count("vector.fma") == chains and f"vector<{lanes}xf32>" in text
    assert f"memref<{cpu.threads}x{chains + 2}x{lanes}xf32>" in text and "scf.parallel" in text


def test_every_thread_runs_every_trip():
    # acc <- SCALE * acc + SHIFT from 0: after n trips each lane holds SHIFT * (1 - SCALE^n) / (1 - SCALE);
    # a loop that ran fewer trips, or a thread that did not run, leaves another value.
    loop = FmaLoop(dataclasses.replace(host_target(), threads=2))
    for trips in (1, 2, 3, 7):
        loop.run(trips)
        want = SHIFT * (1 - SCALE ** trips) / (1 - SCALE)
        np.testing.assert_array_equal(loop.state[:, :loop.chains], np.float32(want), err_msg=f"{trips} trips")


def test_time_grows_with_the_trip_count():
    # a loop folded or shortened by the compiler would take about as long for 16x the trips
    loop = FmaLoop(dataclasses.replace(host_target(), threads=1))
    loop.run(1 << 16)  # starts the OpenMP thread
    short = min(loop.run(1 << 19) for _ in range(3))
    long = min(loop.run(1 << 23) for _ in range(3))
    assert long > 4 * short, (short, long)


def test_fma_peak_is_within_what_the_hardware_can_do():
    cpu = host_target()
    gflops = benchmark.fma_peak(1)
    # at least one FMA a cycle at 100 MHz; at most 4 FMA pipes at 6 GHz (no x86 core has more), which a
    # folded loop's FLOPs per second would exceed
    assert 2 * cpu.vector_width * 0.1 < gflops < 2 * cpu.vector_width * 4 * 6, gflops


def test_fma_peak_is_measured_once_per_threads_and_isa(monkeypatch):
    measured = []
    monkeypatch.setattr(benchmark, "_FMA_PEAKS", {})
    monkeypatch.setattr("fretsaw.peak.measure", lambda cpu, repeats: measured.append(cpu) or 100.0 + len(measured))
    avx2, sse = CpuTarget("x86-64-avx2", 8, 4), CpuTarget("x86-64", 4, 4)
    assert benchmark.fma_peak(2, avx2) == benchmark.fma_peak(2, avx2) == 101.0
    assert benchmark.fma_peak(1, avx2) == 102.0 and benchmark.fma_peak(2, sse) == 103.0
    assert [(cpu.name, cpu.threads) for cpu in measured] == [("x86-64-avx2", 2), ("x86-64-avx2", 1), ("x86-64", 2)]
