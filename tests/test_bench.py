"""The benchmark scripts still run against the library they measure (a renamed argument once broke one unnoticed):
each is run briefly, as a module from the repository root as `make bench` runs it, and must print its measured
lines. The figures themselves are not checked here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("script, args, printed", [
    ("bench_generation", ["--rounds", "2"], ["traced / plain", "no cache / KV cache"]),
    ("bench_causes", ["--no-browser", "--repeats", "1", "--no-steering"], ["counterfactual grid", "last position"]),
    ("bench_world", ["--animals", "20", "--sentences", "2000"], ["held-out pairs"]),
    ("bench_training", ["--rounds", "1", "--batch-size", "4", "--threads", "1"], ["bundled model's shape: vocab",
                                                                              "training / matmul"]),
])
def test_a_benchmark_script_runs(script, args, printed):
    done = subprocess.run([sys.executable, "-m", f"bench.{script}", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)  # minutes under a loaded CI machine
    assert done.returncode == 0, done.stderr[-2000:]
    for line in printed:
        assert line in done.stdout, (line, done.stdout[-2000:])
