"""Packaging: a wheel whose installed llmcore finds the bundled model and whose dashboard starts."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .servers import free_port, running_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_wheel_carries_the_model_and_the_dashboard(tmp_path, ckpt):
    dist, target = tmp_path / "dist", tmp_path / "site"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(dist.glob("llm_landscape-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert {"dashboard/chart.js", "dashboard/plotly_loader.js", "dashboard/plotly_light/plotly-cartesian.min.js",
                "dashboard/plotly_light/LICENSE"} <= set(names)  # read when the dashboard starts
        assert any(n.startswith("llmcore_checkpoints/default/maps/traces/") for n in names)  # the first page's trace
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(target)}
    info = subprocess.run([sys.executable, "-m", "llmcore.cli", "info", "--json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr[-2000:]
    assert str(target) in info.stdout and "dog" in info.stdout  # the installed copy, not the source tree
    gen = subprocess.run([sys.executable, "-m", "llmcore.cli", "generate", "a dog devours pizza in"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    from llmcore.trace import trace_generation

    assert gen.returncode == 0, gen.stderr[-2000:]  # the installed model completes as the source tree's does
    assert gen.stdout.splitlines()[0] == trace_generation(ckpt, "a dog devours pizza in").text
    port = free_port()
    with running_server([sys.executable, "-m", "llmcore.cli", "dashboard", "--port", str(port)], port, tmp_path,
                        env=env, timeout=90):
        pass  # healthy: the installed dashboard serves
