"""Training on more than one process: torchrun with DistributedDataParallel (gloo on CPU) reaches the bars."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmcore.analysis.evaluate import evaluate_quality
from llmcore.model.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_two_processes_reach_the_quality_bars(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    out = tmp_path / "ddp"
    # the bundled model's size on the shipped world; only what the bars do not read is left out (the loss landscape,
    # the measured weight snapshots and their Watch maps, an evaluation and a checkpoint before the last)
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "llmcore", "train", "--out", str(out),
           "--steps", "600", "--eval-every", "600", "--checkpoint-every", "600", "--landscape-grid", "0",
           "--n-snapshots", "2", "--weight-snapshots", "0", "--threads", "1", "--quiet"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    ck = load_checkpoint(out)
    assert ck.metrics["complete"] and ck.metrics["steps_done"] == 600
    q = evaluate_quality(ck.model, ck.tokenizer, ck.world, ck.held_out)
    assert q.habitat_mass >= 0.85 and q.habitat_top1 >= 0.95 and q.diet_share >= 0.90
    assert q.neighbour_purity >= 0.90
