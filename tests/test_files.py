"""The write rule (regular files only, nothing we did not create replaced or deleted, nothing half-written), the
read rule (special files refused unopened, sizes and nesting bounded), locks, and caches outside the install."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmcore.files import FolderBusy, FolderLock, atomic_write, user_cache_dir
from llmcore.inputs import InputError, file_kind, read_bytes
from llmcore.model.checkpoint import CheckpointError, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
KINDS = ["absent", "regular", "link to regular", "dangling link", "fifo", "folder", "socket", "link to fifo"]


def make(path: Path, kind: str) -> None:
    """Put a thing of `kind` at `path` (inside a temporary folder: never a real device or system path)."""
    other = path.parent / f"other-{path.name}"
    if kind == "regular":
        path.write_bytes(b"user data")
    elif kind == "link to regular":
        other.write_bytes(b"user data")
        path.symlink_to(other)
    elif kind == "dangling link":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "link to fifo":
        os.mkfifo(other)
        path.symlink_to(other)
    elif kind == "folder":
        path.mkdir()
        (path / "inside.txt").write_bytes(b"user data")
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder` with its kind and (for regular files) its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        kind = file_kind(p, follow=False)
        out[str(p.relative_to(folder))] = (kind, p.read_bytes() if kind == "a regular file" else None)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), parent=st.sampled_from(["exists", "missing", "is a file", "read-only"]))
def test_a_write_makes_a_regular_file_or_changes_nothing(tmp_path_factory, kind, parent):
    """A read-only folder refuses the write with the system's own error (root writes there: both are fine), naming
    the path; no other rule depends on it."""
    tmp = tmp_path_factory.mktemp("w")
    folder = tmp / "d"
    if parent in ("exists", "read-only"):
        folder.mkdir()
    elif parent == "is a file":
        folder.write_bytes(b"user file")
    target = folder / "out.bin"
    if parent in ("exists", "read-only"):
        make(target, kind)
    if parent == "read-only":
        folder.chmod(0o555)
    before = snapshot(tmp)
    try:
        atomic_write(target, b"ours")
    except (InputError, PermissionError) as e:
        assert str(target) in str(e) or str(folder) in str(e)
        assert snapshot(tmp) == before  # refused: nothing replaced, nothing left
        assert kind not in ("absent", "regular") or parent in ("is a file", "read-only")
        assert isinstance(e, InputError) or parent == "read-only"
        return
    finally:
        if parent == "read-only":
            folder.chmod(0o755)
    assert kind in ("absent", "regular") or parent in ("missing", "is a file")
    assert file_kind(target, follow=False) == "a regular file" and target.read_bytes() == b"ours"
    assert not list(target.parent.glob("*.tmp"))


@pytest.mark.parametrize("kind", ["fifo", "folder", "socket", "link to fifo", "dangling link"])
def test_a_special_file_is_refused_for_reading_without_waiting(tmp_path, kind):
    target = tmp_path / "f"
    make(target, kind)
    with pytest.raises(InputError, match="only regular files"):
        read_bytes(target, 1000)


def test_a_file_bigger_than_its_bound_is_refused_before_reading(tmp_path):
    big = tmp_path / "sparse"
    with open(big, "wb") as f:
        f.truncate(10 * 2**30)  # 10 GB, sparse: stat says so, nothing is read
    with pytest.raises(InputError, match="at most"):
        read_bytes(big, 2**20)


def _run_limited(code: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter under a 2 GB address-space limit (hostile files must not blow memory)."""
    prelude = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
    return subprocess.run([sys.executable, "-c", prelude + code], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero", "sparse 10 GB", "deep nesting", "not JSON",
                                  "wrong shape"])
def test_a_hostile_best_view_is_ignored_at_once(tmp_path, ckpt, kind):
    maps = tmp_path / "maps"
    maps.mkdir()
    view = maps / "best_view.json"
    if kind == "fifo":
        os.mkfifo(view)
    elif kind == "link to /dev/zero":
        view.symlink_to("/dev/zero")  # read through the link only: nothing is written to the device
    elif kind == "sparse 10 GB":
        with open(view, "wb") as f:
            f.truncate(10 * 2**30)
    elif kind == "deep nesting":
        view.write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "not JSON":
        view.write_bytes(b"\xff\x00garbage")
    else:
        view.write_text(json.dumps({"layer": [], "method": 1, "score": 0, "scores": [], "n_states": 0,
                                    "examples": {}, "content_hash": ckpt.content_hash}))
    done = _run_limited(f"""
import time
from llmcore.maps.bestview import load_best_view
from llmcore.model.checkpoint import load_checkpoint
ckpt = load_checkpoint({str(ckpt.path)!r}, lazy=True)
t0 = time.process_time()
assert load_best_view(ckpt, {str(maps)!r}) is None
print(time.process_time() - t0)
""")
    assert done.returncode == 0, done.stderr[-1500:]
    assert float(done.stdout.split()[-1]) < 1.0  # CPU seconds (a busy machine stretches the wall clock, not this)


@pytest.mark.parametrize("name", ["watch_maps.safetensors", "reference_states.safetensors",
                                  "0123456789abcdef01234567.safetensors"])
def test_a_fifo_among_the_cached_maps_is_skipped_without_waiting(tmp_path, tiny_ckpt, name):
    from llmcore.maps.store import MapBook
    from llmcore.maps.watch import stored_watch_maps

    cache = tmp_path / "cache"
    cache.mkdir()
    os.mkfifo(cache / name)
    book = MapBook(tiny_ckpt, cache_dir=cache)
    if name.startswith("watch"):
        assert stored_watch_maps(tiny_ckpt) is not None  # the checkpoint's own copy; the FIFO is never opened
        from llmcore.maps.watch import WatchMaps

        assert WatchMaps.from_file(cache / name, tiny_ckpt.content_hash, []) is None
    elif name.startswith("reference"):
        from llmcore.maps.store import _load_states

        assert _load_states(cache / name, tiny_ckpt) is None
    else:
        from llmcore.maps.store import remove_stale_maps

        assert remove_stale_maps(tiny_ckpt, cache) == 0  # not ours (unreadable): left alone
        assert file_kind(cache / name, follow=False) == "a FIFO"
    assert book.get("words", "pca").coords.shape[1] == 2


def test_nested_json_in_a_cached_maps_metadata_is_not_a_traceback(tmp_path, tiny_ckpt):
    from safetensors.numpy import save_file

    from llmcore.maps.store import remove_stale_maps

    path = tmp_path / "0123456789abcdef01234567.safetensors"
    import numpy as np

    save_file({"coords": np.zeros((2, 2), np.float32)}, path,
              metadata={"key": "x", "checkpoint": "y", "method": "pca", "reference": "words", "digest": "d",
                        "n_components": "2", "params": "[" * 100_000 + "]" * 100_000})
    assert remove_stale_maps(tiny_ckpt, tmp_path) == 1  # ours by name and fields, stale: removed, no RecursionError


# ---- the training folder

def test_training_refuses_a_folder_holding_other_files_before_any_work(tmp_path):
    from llmcore.training.folder import check_training_folder

    d = tmp_path / "D"
    (d / "maps").mkdir(parents=True)
    (d / "notes.txt").write_text("x")
    with pytest.raises(CheckpointError, match="did not write"):
        check_training_folder(d)
    assert (d / "notes.txt").read_text() == "x"
    for bad, says in (("", "empty"), ("   ", "empty")):
        with pytest.raises(CheckpointError, match=says):
            check_training_folder(bad)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(CheckpointError, match="FIFO"):
        check_training_folder(tmp_path / "fifo")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="folder"):
        check_training_folder(tmp_path / "file" / "sub")


def test_a_fresh_run_removes_only_its_own_cached_files(tmp_path, tiny_ckpt_dir):
    from llmcore.maps.callbacks import clear_map_cache

    d = tmp_path / "ckpt"
    shutil.copytree(tiny_ckpt_dir, d)
    (d / "maps" / "thesis.txt").write_text("my thesis")
    (d / "maps" / "abcdefabcdefabcdefabcdef.safetensors").write_bytes(b"not ours either")
    ours = [p.name for p in (d / "maps").glob("*.safetensors") if not p.name.startswith("abcdef")]
    assert ours  # training stored its Watch training maps there
    assert clear_map_cache(d) == len(ours)
    assert sorted(p.name for p in (d / "maps").iterdir()) == ["abcdefabcdefabcdefabcdef.safetensors", "thesis.txt"]
    assert (d / "maps" / "thesis.txt").read_text() == "my thesis"


def _fitted_file(path: Path, key: str | None) -> None:
    """A safetensors file named like a lens or features file: ours when its metadata holds `key`."""
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, path, metadata={key: "{}"} if key else None)


def test_a_training_folder_may_hold_our_lens_and_features_but_nothing_foreign_of_their_names(tmp_path):
    from llmcore.model.checkpoint import FEATURES, FITTED_FILES, LENS
    from llmcore.training.folder import check_training_folder

    d = tmp_path / "D"
    d.mkdir()
    for name, key in FITTED_FILES.items():  # what `llmcore lens` / `features --fit` wrote, and no checkpoint
        _fitted_file(d / name, key)
    assert check_training_folder(d) == d
    _fitted_file(d / LENS, None)  # a file of that name that we did not write: a run would replace it at its end
    with pytest.raises(CheckpointError, match="lens.safetensors: was not written by llmcore"):
        check_training_folder(d)
    (d / LENS).unlink()
    (d / LENS).symlink_to(d / FEATURES)
    with pytest.raises(CheckpointError, match="symbolic link"):
        check_training_folder(d)


@pytest.mark.slow
def test_a_fresh_run_removes_its_stale_lens_and_features_and_nothing_else(tmp_path, tiny_ckpt_dir):
    from llmcore.maps.callbacks import MapCacheCallback
    from llmcore.model.checkpoint import FITTED_FILES
    from llmcore.training.trainer import Trainer

    from .conftest import TINY_MODEL, TINY_WORLD, tiny_train_config

    d = tmp_path / "ckpt"
    shutil.copytree(tiny_ckpt_dir, d)
    for name, key in FITTED_FILES.items():
        _fitted_file(d / name, key)
    (d / "maps" / "thesis.txt").write_text("my thesis")
    Trainer(d, TINY_WORLD, TINY_MODEL, tiny_train_config(steps=10), callbacks=[MapCacheCallback()]).run()
    assert not any((d / name).exists() for name in FITTED_FILES)  # fitted to the earlier weights: removed
    assert (d / "maps" / "thesis.txt").read_text() == "my thesis"
    assert load_checkpoint(d).metrics["steps_done"] == 10


def test_the_cli_refuses_a_bad_out_before_training(tmp_path, capsys):
    from llmcore.cli import main

    d = tmp_path / "D"
    (d / "maps").mkdir(parents=True)
    (d / "maps" / "thesis.txt").write_text("x")
    (d / "paper.tex").write_text("y")
    assert main(["train", "--out", str(d), "--steps", "20", "--quiet"]) == 2
    assert "did not write" in capsys.readouterr().err
    assert (d / "maps" / "thesis.txt").read_text() == "x" and (d / "paper.tex").read_text() == "y"
    assert main(["train", "--out", "", "--steps", "20", "--quiet"]) == 2
    assert "--out is empty" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["corpus", "generate"])
@pytest.mark.parametrize("kind", ["fifo", "link to regular", "dangling link", "socket"])
def test_the_cli_never_replaces_a_link_or_special_file(tmp_path, capsys, command, kind):
    from llmcore.cli import main

    target = tmp_path / "out"
    make(target, kind)
    before = snapshot(tmp_path)
    argv = (["corpus", "--out", str(target), "--sentences", "5", "--quiet"] if command == "corpus"
            else ["generate", "a dog eats", "--save", str(target), "--max-words", "2"])
    assert main(argv) == 2
    assert "only regular files" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_a_full_disk_leaves_no_pending_file(tmp_path, tiny_ckpt, monkeypatch):
    import llmcore.model.checkpoint as checkpoint

    real, calls = checkpoint.atomic_write, []

    def fails_second(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write", fails_second)
    with pytest.raises(OSError):
        checkpoint.save_checkpoint(tmp_path, model=tiny_ckpt.model, tokenizer=tiny_ckpt.tokenizer,
                                   world_data=tiny_ckpt.world_data(), held_out=tiny_ckpt.held_out,
                                   train_config=tiny_ckpt.train_config, metrics=tiny_ckpt.metrics,
                                   snapshots=[tiny_ckpt.model.transformer.wte.weight.detach().numpy()] * 2)
    assert not [p.name for p in tmp_path.rglob("*")]  # neither model.safetensors.new nor a temp file


def test_too_little_free_space_is_found_before_training(tmp_path, monkeypatch):
    import llmcore.training.folder as folder
    from llmcore.training.trainer import Trainer
    from tests.conftest import TINY_MODEL, TINY_WORLD, tiny_train_config

    monkeypatch.setattr(folder.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 2**20, 2**20))
    with pytest.raises(CheckpointError, match="MB free"):
        Trainer(tmp_path / "out", TINY_WORLD, TINY_MODEL, tiny_train_config())
    assert not (tmp_path / "out").exists()


# ---- locks

def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    with FolderLock(tmp_path, "a training run"):
        code = ("from llmcore.files import FolderLock, FolderBusy\n"
                f"try:\n    FolderLock({str(tmp_path)!r}, 'a second run').__enter__()\n"
                "except FolderBusy as e:\n    print(e)")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert f"in process {os.getpid()}" in out.stdout and "a training run" in out.stdout
    with FolderLock(tmp_path, "again"):  # released: free again
        pass


def test_a_waiting_lock_gets_the_folder_when_the_holder_is_done(tmp_path):
    held, order = threading.Event(), []

    def holder():
        with FolderLock(tmp_path, "first"):
            held.set()
            order.append("first working")
            release.wait(30)
            order.append("first done")

    release = threading.Event()
    t = threading.Thread(target=holder)
    t.start()
    held.wait(30)
    waited = []
    threading.Timer(0.2, release.set).start()
    with FolderLock(tmp_path, "second", wait=True, on_wait=waited.append):
        order.append("second working")
    t.join(30)
    assert order == ["first working", "first done", "second working"]
    assert waited == [str(os.getpid())]


def test_two_trainings_into_one_folder_do_not_run_at_once(tmp_path, monkeypatch):
    from llmcore.training.trainer import Trainer
    from tests.conftest import TINY_MODEL, TINY_WORLD, tiny_train_config

    out = tmp_path / "out"
    trainer = Trainer(out, TINY_WORLD, TINY_MODEL, tiny_train_config(steps=4))
    with FolderLock(out, "another training run"):
        with pytest.raises(FolderBusy, match="another training run"):
            trainer.run()
    assert trainer.run().metrics["steps_done"] == 4


# ---- caches and user files outside the install

def test_caches_go_to_the_user_cache_folder_never_the_checkpoint(tmp_path, tiny_ckpt_dir, monkeypatch):
    from llmcore.maps.store import MapBook, default_cache_dir

    monkeypatch.setenv("LLM_LANDSCAPE_CACHE", str(tmp_path / "cache"))
    ro = tmp_path / "install" / "ckpt"
    shutil.copytree(tiny_ckpt_dir, ro)
    (ro / "maps").chmod(0o755)
    before = snapshot(ro)
    ckpt = load_checkpoint(ro)
    book = MapBook(ckpt)
    book.get("context:final", "pca", 3)
    book.states  # noqa: B018 - computed and cached
    assert snapshot(ro) == before  # nothing written into the checkpoint's folder
    assert default_cache_dir(ckpt) == user_cache_dir() / ckpt.content_hash == tmp_path / "cache" / ckpt.content_hash
    assert any(default_cache_dir(ckpt).glob("*.safetensors"))


def test_the_dashboard_keeps_user_models_in_the_user_data_folder():
    from dashboard import folders
    from llmcore.model.checkpoint import REPO_ROOT

    assert folders.DATA_DIR == Path(os.environ["LLM_LANDSCAPE_DATA"])
    assert REPO_ROOT not in (folders.DATA_DIR, *folders.DATA_DIR.parents)
    assert REPO_ROOT not in folders.CHECKPOINTS_DIR.parents


def test_the_lock_file_is_not_a_link_or_special_file(tmp_path):
    os.mkfifo(tmp_path / ".llm-landscape.lock")
    with pytest.raises(InputError, match="FIFO"):
        with FolderLock(tmp_path, "x"):
            pass


@pytest.mark.parametrize("kind", ["fifo", "deep nesting"])
@pytest.mark.parametrize("module", ["trajectory", "model_card"])
def test_pages_open_with_a_hostile_best_view_beside_the_model(tmp_path, tiny_ckpt_dir, monkeypatch, kind, module):
    from dashboard import state
    from tests.conftest import open_page

    d = tmp_path / "ckpt"
    shutil.copytree(tiny_ckpt_dir, d)
    view = d / "maps" / "best_view.json"
    if kind == "fifo":
        os.mkfifo(view)
    else:
        view.write_text("[" * 100_000 + "]" * 100_000)
    monkeypatch.setenv("LLM_LANDSCAPE_CHECKPOINT", str(d))
    monkeypatch.setenv("LLM_LANDSCAPE_CACHE", str(tmp_path / "cache"))
    state.get_best_view.clear()  # measured anew for this folder, not taken from an earlier test's memory
    state.get_map_book.clear()
    at = open_page(module)
    assert not at.exception, at.exception
    assert file_kind(view, follow=False) == ("a FIFO" if kind == "fifo" else "a regular file")  # left as it was


def test_a_first_checkpoint_that_cannot_be_written_says_none_was(tmp_path, monkeypatch):
    """A full disk at the first checkpoint: the message says no checkpoint was written (never that one is intact)."""
    import errno

    import llmcore.model.checkpoint as checkpoint
    from llmcore.training.trainer import Trainer
    from tests.conftest import TINY_MODEL, TINY_WORLD, tiny_train_config

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "atomic_write", full)
    with pytest.raises(CheckpointError) as e:
        Trainer(tmp_path / "out", TINY_WORLD, TINY_MODEL, tiny_train_config()).run()
    assert "no checkpoint was written there" in str(e.value) and "intact" not in str(e.value)
    assert "No space left" in str(e.value) and str(tmp_path / "out") in str(e.value)


def _maps_cli(folder: Path, *flags: str) -> list[str]:
    return [sys.executable, "-c", "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
            "from llmcore.cli import main; sys.exit(main(sys.argv[1:]))", "maps", str(folder), "--methods", "pca",
            "--dims", "2", "--workers", "1", *flags]


@pytest.mark.slow
def test_llmcore_maps_passes_a_fifo_and_nested_metadata_in_its_folder(tmp_path, tiny_ckpt_dir):
    """`llmcore maps` on a folder whose maps/ holds FIFOs where its caches go and a map file whose metadata nests
    100,000 deep: it ends (no hang, no traceback, under a 2 GB address-space limit) and leaves the FIFOs as they
    were; the FIFOs are named before any work (no map fitted, exit 2), and without them the nested file is passed
    over."""
    d = tmp_path / "ckpt"
    shutil.copytree(tiny_ckpt_dir, d)
    fifos = [d / "maps" / "reference_states.safetensors", d / "maps" / "best_view.json"]
    for f in fifos:
        f.unlink(missing_ok=True)
        os.mkfifo(f)
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"coords": np.zeros((2, 2), np.float32)}, d / "maps" / "0123456789abcdef01234567.safetensors",
              metadata={"key": "x", "checkpoint": "y", "method": "pca", "reference": "words", "digest": "d",
                        "n_components": "2", "params": "[" * 100_000 + "]" * 100_000})
    done = subprocess.run(_maps_cli(d), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert any(str(f) in done.stderr and "a FIFO" in done.stderr for f in fifos), done.stderr[-2000:]
    assert "fitted" not in done.stdout and "maps to fit" not in done.stdout  # refused before any work
    assert all(file_kind(f, follow=False) == "a FIFO" for f in fifos)
    for f in fifos:
        f.unlink()
    done = subprocess.run(_maps_cli(d), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]


@pytest.mark.slow
def test_a_second_llmcore_maps_waits_for_the_first_and_reuses_its_maps(tmp_path, tiny_ckpt_dir):
    """While one `llmcore maps` holds a checkpoint's map folder, a second one says it waits for that process, then
    finds every map the first computed and fits none itself."""
    import queue

    from llmcore.cli import _compute_maps

    d = tmp_path / "ckpt"
    shutil.copytree(tiny_ckpt_dir, d)
    shutil.rmtree(d / "maps")
    folder = d / "maps"
    with FolderLock(folder, "llmcore maps"):  # the first run, in this process
        second = subprocess.Popen(_maps_cli(d), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(ln) for ln in second.stdout], daemon=True)
        reader.start()
        said = ""
        while "waiting for process" not in said:
            said = lines.get(timeout=120)
        assert f"waiting for process {os.getpid()}" in said and "reused" in said
        assert _compute_maps(load_checkpoint(d), folder, say=lambda m: None, methods=["pca"], dims=[2],
                             workers=1, watch_only=False) == 0
    assert second.wait(300) == 0
    reader.join(30)
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert any(ln.startswith("0 maps fitted") for ln in rest), rest
