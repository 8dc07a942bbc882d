"""The llmcore command line."""

from __future__ import annotations

import json

from llmcore.cli import main


def test_generate_text(capsys):
    assert main(["generate", "a dog devours pizza in"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("a dog devours pizza in the ")
    assert "step  2" in out and "[locations]" in out


def test_generate_json_and_save(capsys, tmp_path):
    assert main(["generate", "a cat eats", "--json", "--save", str(tmp_path / "t.npz")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prompt"] == "a cat eats" and data["steps"][0]["dominant_context"] == "food"
    assert (tmp_path / "t.npz").is_file()


def test_corpus_and_info(capsys, tmp_path, tiny_ckpt_dir):
    from .conftest import TINY_WORLD
    assert main(["corpus", "--world", str(TINY_WORLD), "--out", str(tmp_path / "c.txt"), "--sentences", "50"]) == 0
    assert len((tmp_path / "c.txt").read_text().splitlines()) == 50
    assert main(["info", str(tiny_ckpt_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["held_out"] == [["dog", "pizza"]]


def test_user_errors_exit_2(capsys, tmp_path):
    assert main(["generate", ""]) == 2
    assert "the prompt is empty" in capsys.readouterr().err
    assert main(["generate", "a cat", "--top-p", "2"]) == 2
    assert "top-p" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "missing")]) == 2
    assert "no such checkpoint folder" in capsys.readouterr().err
    assert main(["corpus", "--world", str(tmp_path / "w.toml"), "--out", str(tmp_path / "c.txt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_train_refuses_to_overwrite_a_finished_checkpoint(capsys, tiny_ckpt_dir):
    assert main(["train", "--out", str(tiny_ckpt_dir), "--steps", "5"]) == 2
    assert "--overwrite" in capsys.readouterr().err
