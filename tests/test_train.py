"""Training: callbacks, snapshots, atomic checkpoints, and resuming an interrupted run."""

from __future__ import annotations

import pytest
import torch

from llmcore.model.checkpoint import LANDSCAPE, RESUME_DIR, SNAPSHOTS, WEIGHTS, CheckpointError, load_checkpoint
from llmcore.training.config import TrainConfig
from llmcore.training.folder import has_complete_checkpoint
from llmcore.training.snapshots import snapshot_metrics
from llmcore.training.trainer import TrainCallback, Trainer

from .conftest import TINY_MODEL, TINY_WORLD, tiny_train_config


class Recorder(TrainCallback):
    def __init__(self, stop_at: int | None = None):
        self.steps, self.evals, self.checkpoints, self.stop_at = [], [], 0, stop_at

    def on_step_end(self, trainer, step, loss):
        self.steps.append((step, loss))
        if step == self.stop_at:
            trainer.request_stop()

    def on_eval(self, trainer, record):
        self.evals.append(record)

    def on_checkpoint(self, trainer, path):
        self.checkpoints += 1


def test_callbacks_snapshots_and_log(tmp_path):
    rec = Recorder()
    ck = Trainer(tmp_path / "ck", TINY_WORLD, TINY_MODEL, tiny_train_config(), callbacks=[rec]).run()
    assert [s for s, _ in rec.steps] == list(range(1, 41))
    assert [r["step"] for r in rec.evals] == [20, 40] and rec.checkpoints == 4
    assert rec.steps[-1][1] < rec.steps[0][1]  # it learns
    assert ck.snapshot_steps == [0, 10, 20, 30, 40] and ck.snapshots().shape[0] == 5
    assert [r["step"] for r in ck.train_log()] == [20, 40]
    assert ck.metrics["complete"] and not (tmp_path / "ck" / RESUME_DIR).exists()
    assert not list((tmp_path / "ck").glob("*.tmp"))
    assert has_complete_checkpoint(tmp_path / "ck")


def test_interrupted_run_resumes_to_the_same_model(tmp_path, tiny_ckpt):
    out = tmp_path / "ck"
    Trainer(out, TINY_WORLD, TINY_MODEL, tiny_train_config(), callbacks=[Recorder(stop_at=15)]).run()
    partial = load_checkpoint(out)
    assert partial.metrics["steps_done"] == 15 and not partial.metrics["complete"]
    assert (out / RESUME_DIR / "state.json").is_file() and not has_complete_checkpoint(out)
    rec = Recorder()
    resumed = Trainer(out, TINY_WORLD, TINY_MODEL, tiny_train_config(), callbacks=[rec]).run()
    assert rec.steps[0][0] == 16 and resumed.metrics["steps_done"] == 40
    for k, v in tiny_ckpt.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[k], v, rtol=1e-5, atol=1e-6)
    assert resumed.snapshot_steps == tiny_ckpt.snapshot_steps
    for name in (WEIGHTS, SNAPSHOTS, LANDSCAPE):  # the landscape too: byte for byte, as an uninterrupted run's
        assert (out / name).read_bytes() == (tiny_ckpt.path / name).read_bytes(), name
    assert snapshot_metrics(resumed) == snapshot_metrics(tiny_ckpt)  # weight snapshots survive the interruption


def test_resume_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "ck"
    Trainer(out, TINY_WORLD, TINY_MODEL, tiny_train_config(), callbacks=[Recorder(stop_at=10)]).run()
    with pytest.raises(CheckpointError, match="other settings"):
        Trainer(out, TINY_WORLD, TINY_MODEL, tiny_train_config(lr=1e-2)).run()


def test_train_config_rules():
    with pytest.raises(ValueError, match="min_lr"):
        TrainConfig(lr=1e-3, min_lr=1e-2)
    cfg = TrainConfig(steps=100, warmup_steps=10)
    assert cfg.lr_at(0) < cfg.lr_at(9) == pytest.approx(cfg.lr) and cfg.lr_at(100) == pytest.approx(cfg.min_lr)
    assert len(TrainConfig().snapshot_steps()) >= 20


def test_checkpoints_also_by_time(tmp_path, monkeypatch):
    import itertools

    import llmcore.training.trainer as train

    cfg = tiny_train_config(steps=6, checkpoint_every=1000, eval_every=1000, landscape_grid=0)
    rec = Recorder()
    Trainer(tmp_path / "a", TINY_WORLD, TINY_MODEL, cfg, callbacks=[rec]).run()
    assert rec.checkpoints == 1  # the final one: no step count reached, no minute passed
    clock = itertools.count(0.0, 61.0)  # every reading of the clock is a minute after the last
    monkeypatch.setattr(train.time, "monotonic", lambda: next(clock))
    rec = Recorder()
    Trainer(tmp_path / "b", TINY_WORLD, TINY_MODEL, cfg, callbacks=[rec]).run()
    assert rec.checkpoints == 6  # one after each of steps 1-5 (a minute had passed), then the final one


@pytest.mark.parametrize("change, message", [
    ({"steps": 2.5}, "steps must be a whole number"), ({"batch_size": 10**9}, "batch_size"),
    ({"n_snapshots": 10**9}, "n_snapshots"), ({"lr": float("nan")}, "lr must be"), ({"seed": -1}, "seed"),
    ({"landscape_grid": 1}, "landscape_grid"), ({"checkpoint_seconds": 0}, "checkpoint_seconds"),
    ({"threads": "4"}, "threads"),
])
def test_train_config_types_and_ranges(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**change)


def test_a_world_that_holds_nothing_out_says_so(tmp_path):
    world = tmp_path / "w.toml"
    world.write_text(TINY_WORLD.read_text().replace('held_out = [["dog", "pizza"]]', "held_out = []"))
    rec = Recorder()
    ck = Trainer(tmp_path / "ck", world, TINY_MODEL, tiny_train_config(steps=4, eval_every=4, landscape_grid=0),
                 callbacks=[rec]).run()
    assert ck.held_out == [] and rec.evals
    for record in (rec.evals[-1], ck.metrics):  # nothing to measure: no NaN and no 0 stand in for a measure
        assert "habitat_mass" not in record and "heldout_loss" not in record and "diet_share" in record


@pytest.mark.slow
def test_inflection_tie_pulls_a_word_and_its_form_together(tmp_path, monkeypatch, corpus_of):
    import llmcore.training.trainer as train_module
    from llmcore.world.load import DEFAULT_WORLD

    # both runs read the same corpus of the bundled world (as test_world and test_quality do): made once
    monkeypatch.setattr(train_module, "generate_corpus", lambda world, seed, n=None, progress=None: corpus_of(
        world, seed, n))
    ties = {}
    for tie in (0.0, 1.0):
        config = tiny_train_config(steps=30, eval_every=30, checkpoint_every=30, landscape_grid=0, inflection_tie=tie,
                                   n_snapshots=2, weight_snapshots=0)  # snapshots: not what this test reads
        trainer = Trainer(tmp_path / f"tie{tie}", DEFAULT_WORLD, TINY_MODEL, config)
        assert trainer.tie_pairs.shape[1] >= 150  # cat/cats, eats/eat, ... of the bundled world
        trainer.run()
        ties[tie] = float(trainer._tie_loss())
    assert ties[1.0] < 0.5 * ties[0.0]


# ---- resume files checked against the model before any tensor is read

@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A run stopped at step 10: its folder holds the resume files (optimizer state, weight vectors)."""
    out = tmp_path_factory.mktemp("stopped") / "ck"
    Trainer(out, TINY_WORLD, TINY_MODEL, tiny_train_config(), callbacks=[Recorder(stop_at=10)]).run()
    return out


def _craft(folder, name: str, change) -> None:
    """Rewrite one resume file with change(tensors) applied and record its new hash in config.json, as a hostile
    or broken folder would hold it (so the hash check alone cannot catch it)."""
    import json

    import numpy as np
    from safetensors.numpy import load, save

    from llmcore.model.checkpoint import sha256_file

    path = folder / RESUME_DIR / name
    tensors = {k: np.array(v) for k, v in load(path.read_bytes()).items()}
    change(tensors)
    path.write_bytes(save(tensors))
    cfg = json.loads((folder / "config.json").read_text())
    cfg["files"][f"{RESUME_DIR}/{name}"] = sha256_file(path)
    (folder / "config.json").write_text(json.dumps(cfg))


def _as(key: str, dtype):
    def change(t):
        t[key] = t[key].view(dtype)  # the same bytes under another dtype
    return change


@pytest.mark.parametrize("name, change, key, rule", [
    ("optimizer.safetensors", _as("0.exp_avg", "int32"), "0.exp_avg", "has dtype 'I32'; it must be float32"),
    ("optimizer.safetensors", lambda t: t.update({"0.exp_avg_sq": t["0.exp_avg_sq"].T.copy()}), "0.exp_avg_sq",
     "has shape"),
    ("optimizer.safetensors", lambda t: t.update({"1.step": t["1.step"].reshape(1)}), "1.step", "has shape [1]"),
    ("optimizer.safetensors", lambda t: t.pop("2.exp_avg"), "2.exp_avg", "is missing"),
    ("optimizer.safetensors", lambda t: t.update({"99.exp_avg": t["0.exp_avg"]}), "99.exp_avg",
     "not one of this model's"),
    ("weights.safetensors", _as("w", "int16"), "w", "has dtype 'I16'; it must be float16"),
    ("weights.safetensors", lambda t: t.update(w=t["w"].astype("float32")), "w", "has dtype 'F32'"),
    ("weights.safetensors", lambda t: t.update(w=t["w"][:-1].copy()), "w", "has shape"),
])
def test_a_wrong_resume_tensor_is_refused_before_any_is_read(stopped_run, tmp_path, monkeypatch, name, change, key,
                                                              rule):
    import shutil

    import llmcore.training.trainer as train

    out = tmp_path / "ck"
    shutil.copytree(stopped_run, out)
    _craft(out, name, change)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for reader in ("torch_load_bytes", "np_load", "load_checkpoint"):  # nothing is read before the check
        monkeypatch.setattr(train, reader, lambda *a, **k: pytest.fail("a resume tensor was read before the check"))
    with pytest.raises(CheckpointError) as e:
        Trainer(out, TINY_WORLD, TINY_MODEL, tiny_train_config()).run()
    message = str(e.value)
    assert str(out / RESUME_DIR / name) in message and f"tensor {key}" in message.replace("'", "")
    assert rule in message and "to start over" in message and "\n" not in message
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing written or removed


def test_the_resume_files_as_written_pass_the_check(stopped_run, tmp_path):
    import shutil

    out = tmp_path / "ck"
    shutil.copytree(stopped_run, out)
    rec = Recorder(stop_at=12)
    Trainer(out, TINY_WORLD, TINY_MODEL, tiny_train_config(), callbacks=[rec]).run()
    assert rec.steps[0][0] == 11  # resumed where it stopped
