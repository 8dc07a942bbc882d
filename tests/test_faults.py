"""Faults: training killed at random moments, failing writes, pickle payloads that must never run."""

from __future__ import annotations

import errno
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import llmcore.model.checkpoint as checkpoint_module
from llmcore.model.checkpoint import CONFIG, WEIGHTS, CheckpointError, load_checkpoint, sha256_file
from llmcore.training.trainer import Trainer

from .conftest import TINY_MODEL, TINY_WORLD, tiny_train_config

ROOT = Path(__file__).resolve().parent.parent
KNOWN = {".llm-landscape.lock",  # the run's folder lock (llmcore.files.FolderLock): a load never reads it
         "model.safetensors", "config.json", "snapshots.safetensors", "train_log.jsonl", "landscape.safetensors",
         "weight_snapshots.safetensors", ".resume"}


def _train_cmd(out: Path, steps: int) -> list[str]:
    return [sys.executable, "-m", "llmcore.cli", "train", "--world", str(TINY_WORLD), "--out", str(out),
            "--steps", str(steps), "--checkpoint-every", "5", "--eval-every", "1000", "--n-snapshots", "5",
            "--landscape-grid", "3", "--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "16",
            "--batch-size", "8", "--threads", "1", "--quiet"]


@pytest.mark.slow
def test_sigkill_at_random_moments_always_leaves_a_loadable_checkpoint(tmp_path):
    out, steps, rng = tmp_path / "ck", 800, random.Random(7)  # 6 kills reach ~100-200 steps; the last run ends it
    done = []
    for _ in range(6):
        before = (out / CONFIG).stat().st_mtime_ns if (out / CONFIG).exists() else 0
        proc = subprocess.Popen(_train_cmd(out, steps), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60  # wait until this run has written a checkpoint, then kill it at a random moment
        while time.time() < deadline and proc.poll() is None and (
                not (out / CONFIG).exists() or (out / CONFIG).stat().st_mtime_ns == before):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.kill()
        proc.wait()
        ck = load_checkpoint(out)  # every time: complete and loadable
        done.append(ck.metrics["steps_done"])
        assert not ck.metrics["complete"], "the run finished before it could be killed; raise steps"
        strays = {p.name for p in out.iterdir()} - KNOWN
        assert all(n.endswith((".tmp", ".new")) for n in strays), strays  # never a file a load could take
    assert done == sorted(done) and done[-1] > done[0]  # each run resumed where the last one stopped
    finished = subprocess.run(_train_cmd(out, steps), cwd=ROOT, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-2000:]
    ck = load_checkpoint(out)
    assert ck.metrics["complete"] and ck.metrics["steps_done"] == steps and not (out / ".resume").exists()


def test_a_failing_write_stops_cleanly_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "ck"
    real, calls = checkpoint_module.atomic_write, {"n": 0}

    def flaky(path, data):
        calls["n"] += 1
        if calls["n"] > 12:  # the first checkpoint (step 10) goes through, the second one runs out of space
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(checkpoint_module, "atomic_write", flaky)
    with pytest.raises(CheckpointError, match="cannot write the checkpoint at step 20.*No space left.*intact"):
        Trainer(out, TINY_WORLD, TINY_MODEL, tiny_train_config()).run()
    monkeypatch.setattr(checkpoint_module, "atomic_write", real)
    assert load_checkpoint(out).metrics["steps_done"] == 10


class _Payload:
    """Unpickling this runs a command that creates a marker file: proof if it ever happens."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payloads_are_refused_without_running(tmp_path, tiny_ckpt_dir):
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Payload(marker))
    ck = tmp_path / "ck"
    shutil.copytree(tiny_ckpt_dir, ck)
    (ck / "model.pt").write_bytes(payload)  # a pickle next to the weights is ignored
    load_checkpoint(ck)
    cfg = json.loads((ck / CONFIG).read_text())
    cfg["files"]["model.pt"] = sha256_file(ck / "model.pt")  # a config that points at it is refused
    (ck / CONFIG).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="only model.safetensors"):
        load_checkpoint(ck)
    del cfg["files"]["model.pt"]
    (ck / WEIGHTS).write_bytes(payload)  # pickle bytes in place of the weights, with a matching hash
    cfg["files"][WEIGHTS] = sha256_file(ck / WEIGHTS)
    (ck / CONFIG).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="cannot be read as safetensors"):
        load_checkpoint(ck)
    assert not marker.exists()


def test_huge_world_file_is_refused(tmp_path):
    from llmcore.world.load import load_world
    from llmcore.world.types import WorldError

    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 3_000_000)
    with pytest.raises(WorldError, match="at most"):
        load_world(big)
