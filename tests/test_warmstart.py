"""Warm-started training: a new animal learned from a model that knows the rest of the world, without forgetting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from llmcore.model.checkpoint import load_checkpoint
from llmcore.model.tokenizer import Tokenizer
from llmcore.training.config import TrainConfig
from llmcore.training.trainer import Trainer
from llmcore.training.warmstart import (
    FOCUS_SHARE,
    WARM_DEFAULTS,
    focus_corpus,
    warm_model,
    warm_start_problem,
    world_change,
)
from llmcore.world.edit import set_animal, to_toml
from llmcore.world.load import generate_corpus, load_world, read_world_data

from .conftest import TINY_WORLD


def _world_with(tmp_path: Path, name: str = "wolf", **traits) -> Path:
    """The tiny world plus one animal; by default an atypical one (a pet that lives in the forest), so the
    subgroup mean it starts from predicts the wrong place and only training can teach it."""
    traits = {"group": "pets", "kind": "a pet", "habitats": ["forest"], "diet": ["meat", "sausage"],
              "drinks": ["milk"], **traits}
    path = tmp_path / f"{name}.toml"
    path.write_text(to_toml(set_animal(read_world_data(TINY_WORLD), name, new=True, **traits)))
    return path


def test_the_change_names_the_new_animal_and_what_it_touches(tmp_path, tiny_ckpt):
    new = load_world(_world_with(tmp_path))
    change = world_change(tiny_ckpt.world, new)
    assert "wolf" in change.words and change.animals == ("wolf",) and not change.removed
    assert warm_start_problem(tiny_ckpt, new) is None
    assert "nothing to learn" in warm_start_problem(tiny_ckpt, tiny_ckpt.world)


def test_new_words_start_at_their_subgroups_mean_and_known_words_keep_their_rows(tmp_path, tiny_ckpt):
    world = load_world(_world_with(tmp_path))
    tok = Tokenizer.from_sentences(generate_corpus(world, 0, 2000))
    model, new_words = warm_model(tiny_ckpt, tok, world, seed=0)
    assert "wolf" in new_words and set(new_words) == set(tok.vocab) - set(tiny_ckpt.tokenizer.vocab)
    old, wte = tiny_ckpt.model.transformer.wte.weight.detach(), model.transformer.wte.weight.detach()
    for w in tiny_ckpt.tokenizer.vocab:
        assert torch.equal(wte[tok.stoi[w]], old[tiny_ckpt.tokenizer.stoi[w]])
    pets = old[[tiny_ckpt.tokenizer.stoi[p] for p in ("cat", "dog")]].mean(0)
    assert torch.allclose(wte[tok.stoi["wolf"]], pets, atol=0.05 * float(pets.abs().max()))
    for name, p in model.named_parameters():
        if "wte" not in name and "lm_head" not in name:
            assert torch.equal(p, dict(tiny_ckpt.model.named_parameters())[name]), name


def test_the_corpus_replays_the_old_world_and_repeats_the_changed_facts(tmp_path):
    world = load_world(_world_with(tmp_path))
    sentences = generate_corpus(world, 0, 3000)
    focused = focus_corpus(sentences, ("wolf",), world)
    forms = set(world.forms("wolf"))
    share = np.mean([bool(forms.intersection(s.split())) for s in focused])
    assert FOCUS_SHARE - 0.05 <= share <= FOCUS_SHARE + 0.1
    assert focused[:len(sentences)] == sentences  # every old sentence is still there, once


@pytest.mark.slow
def test_a_warm_run_learns_an_atypical_animal_and_keeps_the_old_bars(tmp_path, tiny_ckpt):
    config = TrainConfig(**{**WARM_DEFAULTS, "steps": 200, "eval_every": 10, "batch_size": 16})
    ckpt = Trainer(tmp_path / "out", _world_with(tmp_path), None, config, warm_from=tiny_ckpt).run()
    warm = ckpt.metrics["warm_start"]
    first, last = warm["checks"][0], warm["checks"][-1]
    assert first["step"] == 0 and first["failing"]  # the subgroup mean alone does not know where this pet lives
    assert warm["bars_held"] and not last["failing"] and last["step"] == ckpt.metrics["steps_done"] < 200
    assert last["new_habitat_mass"] > first["new_habitat_mass"] and last["new_habitat_top1"] >= 0.9
    for key, base in warm["base_bars"].items():  # nothing forgotten: the old world's bars are within tolerance
        assert last[key] >= base - 0.05, key
    assert ckpt.held_out == tiny_ckpt.held_out  # what the base never saw stays unseen
    again = load_checkpoint(tmp_path / "out")
    assert "wolf" in again.tokenizer.stoi and again.model_config.n_embd == tiny_ckpt.model_config.n_embd


def test_the_cli_refuses_a_warm_start_that_does_not_apply(tmp_path, tiny_ckpt_dir, capsys):
    from llmcore.cli import main

    base = str(tiny_ckpt_dir)
    assert main(["train", "--from", base, "--world", str(TINY_WORLD), "--out", str(tmp_path / "a"), "--quiet"]) == 2
    assert "nothing to learn" in capsys.readouterr().err
    world = str(_world_with(tmp_path))
    assert main(["train", "--from", base, "--world", world, "--out", str(tmp_path / "b"), "--n-layer", "3"]) == 2
    assert "--n-layer" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before any work
