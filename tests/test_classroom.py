"""Classroom mode (dashboard/classroom.py): visitors explore every page but cannot train, upload, edit worlds or
write files, within per-session limits on prompts and work; the teacher on this machine keeps everything. Pages run
under AppTest, where a session has no connection to ask its address: it counts as a visitor (fail closed) unless a
test says it is on localhost. tests/test_load.py drives a real server with visitors and the teacher."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import classroom

from .conftest import open_page

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TEACHER_CONTROLS = ("world_upload", "world_text", "train_name", "train_steps")


@pytest.fixture
def on(monkeypatch):
    monkeypatch.setenv(classroom.ENV, "1")


@pytest.fixture
def teacher(on, monkeypatch):
    monkeypatch.setattr(classroom, "peer_ip", lambda: "127.0.0.1")


def _keys(at) -> set[str]:
    """The keys of every widget the page drew."""
    found, stack = set(), [at._tree]
    while stack:
        node = stack.pop()
        if getattr(node, "key", None):
            found.add(node.key)
        stack.extend(getattr(node, "children", {}).values())
    return found


def _said(at) -> list[str]:
    return [m.value for m in at.info if "classroom mode" in m.value]


@pytest.mark.parametrize("peer, on, visitor", [
    ("192.0.2.7", False, False),  # classroom mode off: every session keeps everything
    ("192.0.2.7", True, True), ("fd00::7", True, True), (None, True, True),  # an unknown peer is a visitor
    ("127.0.0.1", True, False), ("::1", True, False), ("::ffff:127.0.0.1", True, False), ("127.0.0.2", True, False),
    ("not an address", True, True)])
def test_who_is_a_visitor(monkeypatch, peer, on, visitor):
    monkeypatch.setenv(classroom.ENV, "1" if on else "0")
    monkeypatch.setattr(classroom, "peer_ip", lambda: peer)
    assert classroom.visitor() is visitor


def test_a_setting_that_is_neither_on_nor_off_counts_as_on(monkeypatch):
    monkeypatch.setenv(classroom.ENV, "maybe")  # the launcher refuses it; a server started otherwise fails closed
    assert classroom.enabled()
    monkeypatch.delenv(classroom.ENV)
    assert not classroom.enabled()


def test_the_rate_limit_counts_new_requests_in_a_sliding_window(monkeypatch):
    monkeypatch.setattr(classroom, "RATES", {"prompt": (3, 60.0)})
    b = classroom.Budget()
    for t, key in enumerate("abc"):
        b.spend("prompt", key, now=float(t))
    b.spend("prompt", "a", now=10.0)  # asked just before: a page's rerun with the same prompt is free
    with pytest.raises(classroom.ClassroomLimit, match=r"at most 3 new requests .* every 60 s; try again in 50 s"):
        b.spend("prompt", "d", now=10.0)
    b.spend("prompt", "d", now=60.0)  # the first request has left the window
    with pytest.raises(classroom.ClassroomLimit):
        b.spend("prompt", "a", now=60.5)  # paid at 0 s: free only within its window, so new again
    assert list(b.times["prompt"]) == [1.0, 2.0, 60.0]  # a refused request is not counted


def test_only_the_last_requests_are_free_again(monkeypatch):
    monkeypatch.setattr(classroom, "RATES", {"prompt": (100, 60.0)})
    b = classroom.Budget()
    for i in range(classroom.RECENT + 1):
        b.spend("prompt", i, now=0.0)
    b.spend("prompt", classroom.RECENT, now=1.0)
    b.spend("prompt", 0, now=1.0)  # pushed out by the newer ones: counted again
    assert len(b.times["prompt"]) == classroom.RECENT + 2


def test_a_visitor_can_explore_but_not_add_a_model(on):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception and not at.error
    assert at.text_input(key="prompt").value and at.markdown  # the first page is drawn as usual
    assert not {"local_path", "upload_ckpt", "upload_name", "upload_add"} & _keys(at)
    assert len(_said(at)) == 1 and "models are uploaded or opened from a folder" in _said(at)[0]


def test_the_teacher_on_localhost_keeps_everything(teacher):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert {"local_path", "upload_ckpt", "upload_name", "upload_add"} <= _keys(at) and not _said(at)
    at = open_page("training")
    assert set(TEACHER_CONTROLS) <= _keys(at) and not _said(at)


def test_a_visitor_sees_the_training_page_without_its_form(on):
    at = open_page("training")
    assert not at.exception and not at.error
    assert not set(TEACHER_CONTROLS) & _keys(at) and "train_start" not in _keys(at)
    assert "watch_prompt" in _keys(at)  # Watch training is exploring: it stays
    assert len(_said(at)) == 1 and "trained, their worlds edited and world files uploaded" in _said(at)[0]


def test_the_actions_themselves_refuse_a_visitor(on, tmp_path, monkeypatch):
    """Whatever a page draws: installing an upload and starting a training refuse a visitor before any work."""
    from dashboard import jobs, uploads

    monkeypatch.setattr(uploads, "DATA_DIR", tmp_path)
    monkeypatch.setattr(jobs, "DATA_DIR", tmp_path)
    with pytest.raises(uploads.UploadError, match="classroom mode: models are uploaded only on the teacher"):
        uploads.install_checkpoint({"config.json": b"{}", "model.safetensors": b"x"}, "mine")
    with pytest.raises(ValueError, match="classroom mode: models are trained only on the teacher"):
        jobs.start_training("mine", "", 20)
    assert not any(tmp_path.iterdir())


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


def test_a_visitors_prompt_and_word_limit_are_bounded(on):
    at = open_page("trajectory")
    long = " ".join(["a cat eats meat ."] * 12)  # 215 characters: the teacher may trace it
    assert len(long) > classroom.MAX_PROMPT_CHARS
    at.text_input(key="prompt").set_value(long).run()
    assert any(f"at most {classroom.MAX_PROMPT_CHARS} characters" in e for e in _errors(at))
    assert not [m for m in at.markdown if m.value.startswith("#### ")]  # no completion was traced
    at.text_input(key="prompt").set_value("a cow munches").run()
    assert not at.error
    at.slider(key="limit").set_value(classroom.MAX_NEW_WORDS + 1).run()
    assert any(f"at most {classroom.MAX_NEW_WORDS} words" in e for e in _errors(at))


def test_the_teacher_traces_a_long_prompt(teacher):
    at = open_page("trajectory")
    at.text_input(key="prompt").set_value(" ".join(["a cat eats meat ."] * 12)).run()
    at.slider(key="limit").set_value(classroom.MAX_NEW_WORDS + 1).run()
    assert not at.error and [m for m in at.markdown if m.value.startswith("#### ")]


def test_a_visitors_new_prompts_are_rate_limited(on, monkeypatch):
    monkeypatch.setattr(classroom, "RATES", {**classroom.RATES, "prompt": (2, 60.0)})
    at = open_page("landscape")  # the page's first prompt is the first request
    at.text_input(key="land_prompt").set_value("a cow munches").run()
    assert not at.error
    at.select_slider(key="land_layer").set_value("block 1").run()  # the same prompt again: free
    assert not at.error
    at.text_input(key="land_prompt").set_value("a cat").run()
    assert any("at most 2 new requests" in e and "try again in" in e for e in _errors(at))


@pytest.mark.slow
def test_a_visitors_causal_traces_are_rate_limited_and_bounded(on, monkeypatch):
    monkeypatch.setattr(classroom, "RATES", {**classroom.RATES, "causes": (1, 60.0)})
    at = open_page("causes")
    assert not at.error and not at.exception
    at.text_input(key="c_target").set_value("pizza").run()  # another target: a new causal trace
    assert any("at most 1 new requests" in e for e in _errors(at))
    monkeypatch.setattr(classroom, "RATES", {**classroom.RATES, "causes": (10, 60.0)})
    at.radio(key="c_mode").set_value("noise").run()
    at.number_input(key="c_seeds").set_value(classroom.MAX_NOISE_DRAWS + 1).run()
    assert any(f"at most {classroom.MAX_NOISE_DRAWS} draws" in e for e in _errors(at))


def test_a_visitor_explores_the_embeddings_but_uploads_none(on, monkeypatch):
    at = open_page("embeddings")
    assert not at.exception and not at.error and "emb_search" in _keys(at)
    assert not {"own_vectors", "own_metadata", "own_method"} & _keys(at)
    assert len(_said(at)) == 1 and "embeddings are uploaded and mapped" in _said(at)[0]
    monkeypatch.setattr(classroom, "peer_ip", lambda: "::1")  # the teacher
    at = open_page("embeddings")
    assert {"own_vectors", "own_metadata", "own_method"} <= _keys(at) and not _said(at)


# ---- maps: a visitor sees what is stored and starts no fit; nothing a visitor's page runs writes a file

@pytest.fixture
def fresh_model(tiny_ckpt_dir, tmp_path, monkeypatch):
    """A model with no stored maps, an empty cache folder, and no map in memory or being fitted: every map the
    page draws is computed now."""
    import shutil

    import streamlit as st

    from dashboard import mapjobs, state

    fresh = tmp_path / "fresh"
    shutil.copytree(tiny_ckpt_dir, fresh)
    shutil.rmtree(fresh / "maps", ignore_errors=True)
    monkeypatch.setenv("LLM_LANDSCAPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mapjobs, "_JOBS", {})
    monkeypatch.setattr(state, "_READY", set())
    st.cache_resource.clear()
    st.cache_data.clear()
    return fresh


def _embeddings(model: Path, method: str, dims: int) -> AppTest:
    from .conftest import page_script

    at = AppTest.from_function(page_script, args=("embeddings",), default_timeout=180)
    at.session_state["checkpoint"] = str(model)
    at.session_state["emb_method"] = method
    at.session_state["emb_dims"] = dims
    return at.run()


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_a_visitor_starts_no_map_fit_and_writes_no_cache(on, fresh_model, tmp_path):
    import json

    from dashboard import mapjobs

    from .charts import charts

    at = _embeddings(fresh_model, "tsne", 3)
    assert not at.exception and not at.error
    assert not mapjobs._JOBS and not at.get("progress")  # nothing fitted in the background
    said = [m.value for m in at.info if "is not stored" in m.value]
    assert len(said) == 1 and "3D t-SNE map of the words" in said[0] and "PCA map is shown" in said[0]
    assert json.loads(charts(at)[0].spec)["layout"]["title"]["text"].startswith("PCA map")  # as the sentence says
    at = open_page_on(fresh_model, "trajectory")  # context maps: the model's reference states, best view, kept trace
    assert not at.exception and not at.error
    assert not _files(tmp_path / "cache") and not (fresh_model / "maps").exists()  # computed, kept in memory only


def test_a_visitor_sees_the_teachers_fit_and_the_teacher_starts_it(on, fresh_model, monkeypatch):
    from dashboard import mapjobs

    monkeypatch.setattr(classroom, "peer_ip", lambda: "127.0.0.1")
    at = _embeddings(fresh_model, "tsne", 3)
    assert len(mapjobs._JOBS) == 1 and not [m for m in at.info if "is not stored" in m.value]
    job = next(iter(mapjobs._JOBS.values()))
    monkeypatch.setattr(classroom, "peer_ip", lambda: "192.0.2.7")  # a visitor asking for the same map
    at = _embeddings(fresh_model, "tsne", 3)
    assert len(mapjobs._JOBS) == 1 and not [m for m in at.info if "is not stored" in m.value]
    assert job.done or at.get("progress")  # the teacher's job: its progress, or its map
    job.thread.join(120)
    assert job.result is not None


def open_page_on(model: Path, module: str) -> AppTest:
    from .conftest import page_script

    at = AppTest.from_function(page_script, args=(module,), default_timeout=180)
    at.session_state["checkpoint"] = str(model)
    return at.run()


def test_a_visitors_write_is_refused_whatever_asks_it(on, tmp_path, monkeypatch):
    """The rule sits in llmcore.files' one write function: a visitor's page writes nothing, the server's own
    threads (no page running) and the teacher write as usual."""
    from llmcore.files import WriteRefused, atomic_write

    from .conftest import page_script  # noqa: F401  (AppTest runs the function below in a page's thread)

    target = tmp_path / "cache" / "x.bin"
    atomic_write(target, b"1")  # no page runs in this thread: the server's own work
    assert target.read_bytes() == b"1"
    at = AppTest.from_function(_write_from_a_page, args=(str(target),), default_timeout=60).run()
    assert "refused" in at.markdown[0].value and WriteRefused.__name__ in at.markdown[0].value
    assert target.read_bytes() == b"1" and _files(tmp_path / "cache") == [target]  # no temporary file left
    monkeypatch.setattr(classroom, "peer_ip", lambda: "127.0.0.1")
    at = AppTest.from_function(_write_from_a_page, args=(str(target),), default_timeout=60).run()
    assert at.markdown[0].value == "written" and target.read_bytes() == b"2"


def _write_from_a_page(target: str) -> None:
    import streamlit as st

    from llmcore.files import atomic_write

    try:
        atomic_write(target, b"2")
        st.markdown("written")
    except OSError as e:
        st.markdown(f"refused: {type(e).__name__}: {e}")
