"""Uploads and foreign formats: size limits, validation before use, storage only under data/."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dashboard import jobs, uploads
from llmcore.analysis.trace import GenerationTrace, trace_generation
from llmcore.maps.formats import FormatError, projector_files, read_projector_files, trace_lens_frame, trace_steps_frame
from llmcore.maps.store import MapBook
from llmcore.model.checkpoint import CONFIG, WEIGHTS, load_checkpoint


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(uploads, "DATA_DIR", tmp_path / "data")
    return tmp_path / "data"


def _files(folder):
    names = (CONFIG, WEIGHTS, "snapshots.safetensors", "landscape.safetensors", "weight_snapshots.safetensors")
    return {n: (folder / n).read_bytes() for n in names if (folder / n).is_file()}


def test_a_valid_checkpoint_is_installed_under_data(data_dir, tiny_ckpt_dir):
    path = uploads.install_checkpoint(_files(tiny_ckpt_dir), "mine")
    assert path == data_dir / "checkpoints" / "mine" and load_checkpoint(path).held_out == [("dog", "pizza")]
    assert not [p for p in (data_dir / "uploads").iterdir()]  # no staging left behind
    with pytest.raises(uploads.UploadError, match="already uploaded"):
        uploads.install_checkpoint(_files(tiny_ckpt_dir), "mine")


@pytest.mark.parametrize("change, message", [
    (lambda f: f.update({"model.pt": b"\x80\x04."}), "never accepted"),
    (lambda f: f.pop(WEIGHTS), "lacks model.safetensors"),
    (lambda f: f.update({WEIGHTS: f[WEIGHTS][:100]}), "cannot be read as safetensors"),
    (lambda f: f.update({CONFIG: b"{"}), "not valid JSON"),
])
def test_bad_checkpoints_are_refused_and_leave_nothing(data_dir, tiny_ckpt_dir, change, message):
    files = _files(tiny_ckpt_dir)
    change(files)
    with pytest.raises(uploads.UploadError, match=message):
        uploads.install_checkpoint(files, "bad")
    assert not (data_dir / "checkpoints" / "bad").exists()


@pytest.mark.parametrize("name", ["../../etc", "Bad Name", "", "a" * 41, "abc\n", "abc\n\n", None])
def test_upload_names_cannot_escape_data(data_dir, tiny_ckpt_dir, name):
    with pytest.raises(uploads.UploadError, match="lower-case"):
        uploads.install_checkpoint(_files(tiny_ckpt_dir), name)
    with pytest.raises(ValueError, match="lower-case"):
        jobs.checkpoint_dir_for(name)
    assert not (data_dir / "checkpoints").exists() or not list((data_dir / "checkpoints").iterdir())


def test_the_bundled_models_name_is_reserved(data_dir, tiny_ckpt_dir):
    with pytest.raises(uploads.UploadError, match="bundled"):
        uploads.install_checkpoint(_files(tiny_ckpt_dir), "default")


def _with_config(folder, edit) -> dict:
    files = _files(folder)
    cfg = json.loads(files[CONFIG])
    edit(cfg)
    files[CONFIG] = json.dumps(cfg).encode()
    return files


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["model_config"].update(n_embd=32.0), "n_embd must be a whole number"),
    (lambda c: c["model_config"].update(block_size=8_000_000), "block_size must be"),
    (lambda c: c.update(metrics=[]), r"\[metrics\]"),
    (lambda c: c.update(extra=json.loads("[" * 900 + "]" * 900)), "nests deeper"),
    (lambda c: c["world"].update(extra=json.loads("[" * 900 + "]" * 900)), "nests deeper"),
])
def test_hostile_configs_are_upload_errors(data_dir, tiny_ckpt_dir, edit, message):
    with pytest.raises(uploads.UploadError, match=message):
        uploads.install_checkpoint(_with_config(tiny_ckpt_dir, edit), "hostile")
    assert not (data_dir / "checkpoints" / "hostile").exists()


def test_world_uploads_drop_a_bom_and_refuse_deep_nesting():
    from llmcore.world.load import DEFAULT_WORLD
    from llmcore.world.types import WorldError

    text = uploads.save_world_upload(b"\xef\xbb\xbf" + DEFAULT_WORLD.read_bytes(), "w.toml")
    assert jobs.validate_world_text(text, "w.toml")["corpus"]
    with pytest.raises(WorldError, match=r"w.toml: \[file\] nests deeper"):
        jobs.validate_world_text(text + "\n[" + ".".join(["a"] * 2000) + "]\nx = 1\n", "w.toml")


def test_size_limits():
    with pytest.raises(uploads.UploadError, match="over the limit"):
        uploads.save_world_upload(b"x" * (uploads.MAX_WORLD_BYTES + 1), "w.toml")
    with pytest.raises(uploads.UploadError, match="empty"):
        uploads.save_world_upload(b"", "w.toml")


def test_projector_files_round_trip(ckpt):
    ref = MapBook(ckpt).reference("words")
    files = projector_files(ref)
    assert json.loads(files["projector_config.json"])["embeddings"][0]["tensorShape"] == list(ref.X.shape)
    back = read_projector_files(files["vectors.tsv"], files["metadata.tsv"])
    np.testing.assert_allclose(back.X, ref.X, rtol=1e-5, atol=1e-6)
    assert list(back.labels["word"]) == list(ref.labels["word"])
    assert list(back.labels["context"]) == list(ref.labels["context"])


@pytest.mark.parametrize("vectors, message", [(b"1\t2\n3\n", "same length"), (b"a\tb\n" * 6, "must be a number"),
                                              (b"nan\t1\n" * 6, "NaN"), (b"", "must hold")])
def test_bad_projector_files(vectors, message):
    with pytest.raises(FormatError, match=message):
        read_projector_files(vectors)
    with pytest.raises(FormatError, match="rows for"):
        read_projector_files(b"1\t2\n" * 6, b"a\nb\n")


def test_trace_json_and_frames(ckpt):
    t = trace_generation(ckpt, "a dog devours pizza in")
    again = GenerationTrace.from_json(t.to_json())
    assert again.summary() == t.summary() and np.array_equal(again.hidden, t.hidden)
    with pytest.raises(ValueError, match="not a trace"):
        GenerationTrace.from_json("{}")
    steps = trace_steps_frame(t)
    assert list(steps.word) == t.generated_words and np.allclose(steps.filter(like="p_").sum(axis=1), 1, atol=1e-4)
    lens = trace_lens_frame(t)
    assert len(lens) == t.lens_top_ids[t.boundary:].size and set(lens.layer) == set(t.layer_names)  # generated steps


def test_the_server_accepts_every_upload_the_pages_allow():
    """Each uploader states its own limit; the server's limit must let all of them through."""
    from pathlib import Path

    from llmcore.inputs import tomllib
    from llmcore.maps.formats import MAX_PROJECTOR_BYTES

    config = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())
    limit = config["server"]["maxUploadSize"] * 2**20
    assert limit >= max(uploads.MAX_CHECKPOINT_BYTES, MAX_PROJECTOR_BYTES, uploads.MAX_WORLD_BYTES)


def test_an_upload_with_weights_relabelled_or_a_5000_digit_number_names_file_key_and_rule(data_dir, tiny_ckpt_dir):
    """Weights whose header calls them I32 (the hash in config.json updated to match: they loaded and generated
    only <unk> before) and an n_embd of 5,000 digits (a plain ValueError before) are refused with the rule."""
    import hashlib

    files = _files(tiny_ckpt_dir)
    raw = files[WEIGHTS]
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["transformer.wte.weight"]["dtype"] = "I32"
    text = json.dumps(header).encode()
    files[WEIGHTS] = len(text).to_bytes(8, "little") + text + raw[8 + n:]
    cfg = json.loads(files[CONFIG])
    cfg["files"][WEIGHTS] = hashlib.sha256(files[WEIGHTS]).hexdigest()
    files[CONFIG] = json.dumps(cfg).encode()
    with pytest.raises(uploads.UploadError) as e:
        uploads.install_checkpoint(files, "relabelled")
    assert str(e.value).startswith("uploaded checkpoint/model.safetensors: tensor transformer.wte.weight has dtype "
                                   "'I32'; it must be float32 (F32)"), e.value
    files = _files(tiny_ckpt_dir)
    files[CONFIG] = files[CONFIG].replace(b'"n_embd": ', b'"n_embd": ' + b"9" * 5000 + b", \"was\": ", 1)
    with pytest.raises(uploads.UploadError) as e:
        uploads.install_checkpoint(files, "digits")
    assert str(e.value).startswith("uploaded checkpoint/config.json: [model_config.n_embd] is a whole number of "
                                   "5,000 digits; at most 100 are allowed"), e.value
    assert not (data_dir / "checkpoints").exists() or not list((data_dir / "checkpoints").iterdir())
