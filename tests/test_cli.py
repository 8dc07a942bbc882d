"""The llmcore command line."""

from __future__ import annotations

import json

import pytest

from llmcore.cli import main


def test_generate_text(capsys, ckpt):
    """The CLI prints trace_generation's text for the same settings, and one line per word read whose columns are
    the trace's: the word read and its sub-context, the greedy next word, and the sub-context holding most of the
    next word's probability."""
    from llmcore.analysis.trace import trace_generation

    prompt = "a dog devours pizza in"
    assert main(["generate", prompt]) == 0
    out = capsys.readouterr().out.splitlines()
    trace = trace_generation(ckpt, prompt)  # the CLI's defaults: greedy, 12 words at most
    assert out[0] == trace.text and trace.text.startswith(prompt + " ")
    w = trace
    steps = [line.split(":", 1)[1].split() for line in out if line.lstrip().startswith("step ")]
    assert len(steps) == len(w) and w.boundary == len(prompt.split()) - 1  # every word read is a step
    for i, cols in enumerate(steps):
        assert cols[0] == w.words[i] and cols[1] == f"({ckpt.world.label(w.words[i])[0]})"
        assert cols[3] == w.next_words[i] and cols[6] == w.next_context(i)
        assert cols[9] == w.candidates(i)[0][0]  # the top candidate
    for s in range(trace.n_steps):  # greedy: the chosen word is the most likely one
        assert trace.generated_words[s] == trace.candidates(trace.boundary + s)[0][0]
    ends = out.index(next(line for line in out if "the prompt ends" in line))
    assert out[ends - 1].lstrip().startswith(f"step {w.boundary:>2}:")  # printed before the first chosen word


def test_generate_json_and_save(capsys, tmp_path, ckpt):
    """--json prints the trace's summary for the same settings; --save writes the same trace."""
    from llmcore.analysis.trace import GenerationTrace, trace_generation

    assert main(["generate", "a cat eats", "--json", "--save", str(tmp_path / "t.npz")]) == 0
    data = json.loads(capsys.readouterr().out)
    trace = trace_generation(ckpt, "a cat eats")
    assert data == json.loads(json.dumps(trace.summary()))
    for step in data["steps"]:
        probs = step["context_probs"]
        assert step["dominant_context"] == max(probs, key=probs.get)
    saved = GenerationTrace.load(tmp_path / "t.npz")
    assert saved.completion == trace.completion and (saved.hidden == trace.hidden).all()


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


def test_output_files_are_checked_before_work_and_readable(capsys, tmp_path):
    assert main(["corpus", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["generate", "a cat", "--save", str(tmp_path / "no" / "t.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "no").exists()
    assert main(["generate", "a cat", "--save", str(tmp_path / "t.npz")]) == 0
    from llmcore.files import file_mode
    assert (tmp_path / "t.npz").stat().st_mode & 0o777 == file_mode()  # as the umask says, not a temp file's 0600


def test_a_closed_pipe_is_not_a_traceback():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-c", "from llmcore.cli import main; raise SystemExit(main())",
                             "generate", "a cat", "--json", "--max-words", "64"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head -c 0`: the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (0, 141) and "Traceback" not in err


def test_trace_causes(capsys, tiny_ckpt_dir):
    args = ["trace-causes", "a dog devours pizza in", "--checkpoint", str(tiny_ckpt_dir)]
    assert main(args + ["--corrupt", "a fox devours pizza in", "--json", "--top", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    T = len(data["words"])
    assert data["corrupt_words"][1] == "fox" and len(data["components"]) == 3
    assert all(len(row) == T for kind in data["restored"].values() for row in kind)
    assert len(data["restored"]["resid"]) == len(data["depths"]) and data["restored"]["attn"][0][0] is None
    assert main(args) == 0  # noise on the animal by default
    out = capsys.readouterr().out
    assert "residual stream" in out and "MLP output" in out and "top components" in out
    assert main(args + ["--corrupt", "a fox eats"]) == 2
    assert "same number of words" in capsys.readouterr().err
    assert main(args + ["--corrupt", "a fox devours pizza in", "--target", "moon"]) == 2
    assert "does not know: moon" in capsys.readouterr().err


def test_flags_out_of_range_exit_2_before_any_work(capsys, tmp_path):
    for argv, says in [(["dashboard", "--port", "99999"], "1 to 65535"), (["dashboard", "--port", "0"], "1 to 65535"),
                       (["corpus", "--out", str(tmp_path / "c"), "--sentences", "1000000000000"], "5,000,000"),
                       (["corpus", "--out", str(tmp_path / "c"), "--sentences", "-5"], "5,000,000"),
                       (["corpus", "--out", str(tmp_path / "c"), "--seed", "-7"], "2**63-1"),
                       (["generate", "a cat", "--seed", "99999999999999999999"], "2**63-1")]:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
    assert main(["maps", "--dims", "7"]) == 2 and "--dims" in capsys.readouterr().err
    assert main(["maps", "--methods", "kmeans"]) == 2 and "--methods" in capsys.readouterr().err
    assert main(["maps", "--workers", "0"]) == 2 and "--workers" in capsys.readouterr().err


def test_write_failures_name_the_users_path(capsys, tmp_path, monkeypatch):
    import llmcore.analysis.trace as trace

    def refuse(self, path):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".tmp123.npz.tmp"))

    monkeypatch.setattr(trace.GenerationTrace, "save", refuse)
    assert main(["generate", "a cat", "--save", str(tmp_path / "t.npz")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "t.npz") in err and ".tmp123" not in err and len(err.strip().splitlines()) == 1


def test_train_says_when_there_is_nothing_to_measure(capsys, tmp_path):
    from .conftest import TINY_WORLD

    world = tmp_path / "w.toml"
    world.write_text(TINY_WORLD.read_text().replace('held_out = [["dog", "pizza"]]', "held_out = []"))
    assert main(["train", "--world", str(world), "--out", str(tmp_path / "ck"), "--steps", "3", "--eval-every", "3",
                 "--landscape-grid", "0", "--block-size", "16", "--n-layer", "1", "--n-embd", "16", "--n-head", "2",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "nothing to measure" in out and "nan" not in out
