"""Checkpoint folders: save -> load, and a clear message for every kind of damage."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

from llmcore.files import LOCK_FILE
from llmcore.model.checkpoint import CONFIG, WEIGHTS, CheckpointError, load_checkpoint, save_checkpoint, sha256_file


@pytest.fixture
def copy(tiny_ckpt_dir, tmp_path):
    dst = tmp_path / "ck"
    shutil.copytree(tiny_ckpt_dir, dst)
    return dst


def _edit_config(path, **changes):
    cfg = json.loads((path / CONFIG).read_text())
    cfg.update(changes)
    (path / CONFIG).write_text(json.dumps(cfg))


def test_save_load_gives_identical_logits(tiny_ckpt, tmp_path):
    out = save_checkpoint(tmp_path / "again", model=tiny_ckpt.model, tokenizer=tiny_ckpt.tokenizer,
                          world_data=tiny_ckpt.world_data(), held_out=tiny_ckpt.held_out,
                          train_config=tiny_ckpt.train_config, metrics=tiny_ckpt.metrics)
    again = load_checkpoint(out)
    x = torch.randint(0, len(tiny_ckpt.tokenizer), (2, 9))
    with torch.no_grad():
        assert torch.equal(again.model(x)[0], tiny_ckpt.model(x)[0])
    assert again.tokenizer.vocab == tiny_ckpt.tokenizer.vocab and again.held_out == tiny_ckpt.held_out
    assert not list(out.glob("*.tmp"))


def test_folder_contents_and_no_pickle(tiny_ckpt_dir):
    names = {p.name for p in tiny_ckpt_dir.iterdir()}
    assert names == {"model.safetensors", "config.json", "snapshots.safetensors", "train_log.jsonl",
                     "landscape.safetensors", "weight_snapshots.safetensors", "maps",
                     ".llm-landscape.lock"}  # the training run's lock (llmcore.files.FolderLock), kept for the next
    # the map cache holds safetensors and JSON only (training stores the Watch training maps there)
    # (and the lock `llmcore maps` takes on it, llmcore.files.FolderLock, when a test has run it on this model)
    assert {p.suffix for p in (tiny_ckpt_dir / "maps").rglob("*")
            if p.is_file() and p.name != LOCK_FILE} <= {".safetensors", ".json"}
    cfg = json.loads((tiny_ckpt_dir / CONFIG).read_text())
    for key in ("format_version", "model_config", "vocab", "world_hash", "held_out", "train_config", "metrics"):
        assert key in cfg


def test_missing_folder_and_config(tmp_path, copy):
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        load_checkpoint(tmp_path / "nothing")
    (copy / CONFIG).unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_checkpoint(copy)


def test_corrupt_config(copy):
    (copy / CONFIG).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(copy)


def test_wrong_version(copy):
    _edit_config(copy, format_version=99)
    with pytest.raises(CheckpointError, match="format_version 99 is not supported.*retrain with `llmcore train --out"):
        load_checkpoint(copy)


def test_a_checkpoint_of_a_world_without_grammar_still_loads(tiny_ckpt):
    # worlds written before World 2.0 have no [grammar], [plurals] or [verb_forms]; they load and keep their
    # singular-only sentences, and every quality figure is still measured on them
    from llmcore.analysis.evaluate import evaluate_quality

    assert "grammar" not in tiny_ckpt.world_data() and not tiny_ckpt.world.grammar.declared
    q = evaluate_quality(tiny_ckpt.model, tiny_ckpt.tokenizer, tiny_ckpt.world, tiny_ckpt.held_out)
    assert q.n_generalisation_prompts > 0 and 0 <= q.habitat_mass <= 1


def test_truncated_weights(copy):
    data = (copy / WEIGHTS).read_bytes()
    (copy / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(copy)


def test_shape_mismatch(copy):
    cfg = json.loads((copy / CONFIG).read_text())
    cfg["model_config"]["n_embd"] = 48
    (copy / CONFIG).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="has shape"):
        load_checkpoint(copy)


def test_vocabulary_mismatch(copy):
    cfg = json.loads((copy / CONFIG).read_text())
    cfg["vocab"] = cfg["vocab"] + ["xylophone"]
    (copy / CONFIG).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="vocabulary has"):
        load_checkpoint(copy)


def test_unknown_tensor_names(copy):
    save_file({"evil": torch.zeros(2)}, copy / WEIGHTS)
    cfg = json.loads((copy / CONFIG).read_text())
    cfg["files"][WEIGHTS] = sha256_file(copy / WEIGHTS)
    (copy / CONFIG).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="tensor names do not match"):
        load_checkpoint(copy)


def test_pickle_files_are_never_referenced(copy):
    (copy / "model.pt").write_bytes(b"\x80\x04not really")
    _edit_config(copy, files={"model.pt": "0" * 64})
    with pytest.raises(CheckpointError, match="only model.safetensors"):
        load_checkpoint(copy)


@pytest.mark.parametrize("held_out, message", [("dog", "must be a list"), ([["dog"]], "not an \\[animal, food\\] pair"),
                                               ([["unicorn", "pizza"]], "not in the checkpoint's world"),
                                               ([["dog", "ambrosia"]], "not in the checkpoint's world")])
def test_held_out_list_must_fit_the_world(copy, held_out, message):
    cfg = json.loads((copy / CONFIG).read_text())
    cfg["held_out"] = held_out
    (copy / CONFIG).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(copy)


@pytest.mark.parametrize("name", [CONFIG, WEIGHTS, "snapshots.safetensors", "landscape.safetensors",
                                  WEIGHTS + ".new"])
def test_links_inside_a_checkpoint_are_refused_on_read(copy, tmp_path, name):
    outside = tmp_path / "outside"
    outside.mkdir()
    real = copy / name if (copy / name).exists() else copy / WEIGHTS
    shutil.copy(real, outside / "file")
    (copy / name).unlink(missing_ok=True)
    (copy / name).symlink_to(outside / "file")
    with pytest.raises(CheckpointError, match="symbolic link"):
        load_checkpoint(copy)


@pytest.mark.parametrize("link", [".resume", ".resume/state.json", "config.json", "model.safetensors.new"])
def test_links_inside_a_checkpoint_are_refused_on_write(tiny_ckpt, tmp_path, link):
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    (out / ".resume").mkdir(parents=True)
    target = outside if link == ".resume" else outside / "victim"
    if link == ".resume":
        (out / ".resume").rmdir()
    (out / link).symlink_to(target)
    with pytest.raises(CheckpointError, match="symbolic link"):
        save_checkpoint(out, model=tiny_ckpt.model, tokenizer=tiny_ckpt.tokenizer, world_data=tiny_ckpt.world_dict,
                        held_out=tiny_ckpt.held_out, train_config={}, metrics={},
                        resume={"state.json": b"{}", "optimizer.safetensors": b""})
    assert list(outside.iterdir()) == []  # nothing was written through the link
    assert not (out / CONFIG).is_file() or (out / CONFIG).is_symlink()


def test_a_sparse_huge_weights_file_is_refused_before_hashing(copy):
    with open(copy / WEIGHTS, "r+b") as f:
        f.truncate(60 * 2**30)  # 60 GB on paper, nothing on disk
    with pytest.raises(CheckpointError, match="at most"):
        load_checkpoint(copy)


def test_padding_after_the_declared_tensors_is_refused(copy):
    with open(copy / WEIGHTS, "ab") as f:
        f.write(b"\0" * 100)
    with pytest.raises(CheckpointError, match="header declares"):
        load_checkpoint(copy)


@pytest.mark.parametrize("key, value, message", [
    ("n_embd", 32.0, "n_embd must be a whole number"), ("block_size", 8_000_000, "block_size must be"),
    ("block_size", 10**11, "block_size must be"), ("n_layer", True, "n_layer must be"),
    ("dropout", "x", "dropout must be"), ("n_head", None, "n_head must be"),
])
def test_model_config_types_and_sizes(copy, key, value, message):
    cfg = json.loads((copy / CONFIG).read_text())
    cfg["model_config"][key] = value
    (copy / CONFIG).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(copy)


@pytest.mark.parametrize("key, value", [("metrics", []), ("train_config", "x"), ("files", {WEIGHTS: 7}),
                                        ("snapshot_steps", [1.5]), ("vocab", {}), ("world", [])])
def test_config_keys_have_their_types(copy, key, value):
    _edit_config(copy, **{key: value})
    with pytest.raises(CheckpointError, match=rf"\[{key}\]"):
        load_checkpoint(copy)


def test_config_nested_thousands_deep_and_bom(copy):
    cfg = (copy / CONFIG).read_text()
    (copy / CONFIG).write_bytes(b"\xef\xbb\xbf" + cfg.encode())
    assert load_checkpoint(copy).content_hash  # a BOM is dropped
    (copy / CONFIG).write_text(cfg[:-1] + ', "extra": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(CheckpointError, match="nests deeper"):
        load_checkpoint(copy)


def test_snapshots_of_another_shape_are_refused_before_reading(copy):
    import numpy as np
    from safetensors.numpy import save_file as save_np

    vocab, width = load_checkpoint(copy).snapshots().shape[1:]
    save_np({"wte": np.zeros((201, vocab, width), np.float16)}, str(copy / "snapshots.safetensors"))
    _edit_config(copy, files={**json.loads((copy / CONFIG).read_text())["files"],
                              "snapshots.safetensors": sha256_file(copy / "snapshots.safetensors")})
    with pytest.raises(CheckpointError, match="must hold 'wte' of shape"):
        load_checkpoint(copy)


def _relabel(path, dtype: str, pick=lambda name: True, shape=None) -> list[str]:
    """Rewrite a safetensors file's header: the tensors `pick` chooses get `dtype` (and `shape`), their bytes kept
    as they are (an I32 label over float32 bytes is the same size). Returns the names changed."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    changed = [k for k in header if k != "__metadata__" and pick(k)]
    for k in changed:
        header[k]["dtype"] = dtype
        if shape is not None:
            header[k]["shape"] = shape(header[k]["shape"])
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    return changed


def _rehash(folder, name) -> None:
    cfg = json.loads((folder / CONFIG).read_text())
    cfg["files"][name] = sha256_file(folder / name)
    (folder / CONFIG).write_text(json.dumps(cfg))


@pytest.mark.parametrize("name, dtype, says", [
    (WEIGHTS, "I32", "has dtype 'I32'; it must be float32 (F32)"),  # same byte size: loaded silently before
    (WEIGHTS, "F16", "has dtype 'F16'; it must be float32 (F32)"),
    ("snapshots.safetensors", "I16", "has dtype 'I16'; it must be float16 (F16) or float32 (F32)"),
    ("snapshots.safetensors", "F32", "data_offsets"),  # twice the bytes the file holds for it
    ("weight_snapshots.safetensors", "I16", "has dtype 'I16'; it must be float16 (F16) or float32 (F32)"),
    ("weight_snapshots.safetensors", "BOOL", "has dtype 'BOOL'"),
])
@pytest.mark.parametrize("lazy", [False, True])
def test_tensor_dtypes_are_checked_against_the_config_before_loading(copy, name, dtype, says, lazy):
    """A tensor re-labelled in its file's header (and the hash in config.json updated to match) is refused at the
    load, naming the file, the tensor and the rule, lazily or not: before any tensor is read."""
    changed = _relabel(copy / name, dtype, pick=lambda k: k.endswith("wte.weight") or k == "wte")
    _rehash(copy, name)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(copy, lazy=lazy)
    message = str(e.value)
    assert str(copy / name) in message and says in message and any(f"tensor {c} " in message for c in changed)


def test_a_tensor_with_the_shape_of_another_is_refused(copy):
    """wte stored transposed (same number of bytes): its shape is checked against the config before loading."""
    _relabel(copy / WEIGHTS, "F32", pick=lambda k: k == "transformer.wte.weight", shape=lambda s: s[::-1])
    _rehash(copy, WEIGHTS)
    with pytest.raises(CheckpointError, match=r"tensor transformer\.wte\.weight has shape \[\d+, \d+\], the config "
                                              r"needs \(\d+, \d+\)"):
        load_checkpoint(copy, lazy=True)


def test_weight_snapshots_must_hold_every_parameter_of_each_step(copy):
    import numpy as np
    from safetensors.numpy import load_file
    from safetensors.numpy import save_file as save_np

    name = "weight_snapshots.safetensors"
    tensors = load_file(str(copy / name))
    one = next(iter(tensors))
    save_np({k: v for k, v in tensors.items() if k != one}, str(copy / name))  # one parameter of a step missing
    _rehash(copy, name)
    with pytest.raises(CheckpointError, match="tensor names do not match"):
        load_checkpoint(copy, lazy=True)
    save_np({**tensors, "x.wte": np.zeros(2, np.float16)}, str(copy / name))  # a step that is not a number
    _rehash(copy, name)
    with pytest.raises(CheckpointError, match="<step>.<parameter>"):
        load_checkpoint(copy, lazy=True)


def test_a_5000_digit_number_in_config_names_the_file_and_key(copy):
    text = (copy / CONFIG).read_text()
    cfg = json.loads(text)
    (copy / CONFIG).write_text(text.replace(f'"n_embd": {cfg["model_config"]["n_embd"]}', '"n_embd": ' + "9" * 5000))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(copy)
    message = str(e.value)
    assert str(copy / CONFIG) in message and "[model_config.n_embd]" in message and "5,000 digits" in message
    assert len(message) < 400
