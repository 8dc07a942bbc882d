"""Shared fixtures: the shipped world and checkpoint, a tiny model trained in seconds, one page rendered by
AppTest, and one dashboard server with one Chromium for the browser tests."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from dashboard.__main__ import skip_component_scan
from llmcore.maps.callbacks import MapCacheCallback
from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from llmcore.model.config import GPTConfig
from llmcore.training.config import TrainConfig
from llmcore.training.trainer import Trainer
from llmcore.world.load import generate_corpus, load_world

from .servers import CHROMIUM, free_port, launch_chromium, running_server

skip_component_scan()  # as the dashboard's launcher does: each AppTest would scan every installed package's metadata

# Caches and user data of every process the tests start go to one temporary folder, never the user's own folders
# or the checkout (a dashboard server started by a test inherits these).
_SANDBOX = Path(tempfile.mkdtemp(prefix="llm-landscape-tests-"))
atexit.register(shutil.rmtree, _SANDBOX, ignore_errors=True)
os.environ.setdefault("LLM_LANDSCAPE_CACHE", str(_SANDBOX / "cache"))
os.environ.setdefault("LLM_LANDSCAPE_DATA", str(_SANDBOX / "data"))

ROOT = Path(__file__).resolve().parent.parent
TINY_WORLD = Path(__file__).parent / "data" / "tiny_world.toml"
TINY_MODEL = GPTConfig(block_size=16, n_layer=2, n_head=2, n_embd=32)


def tiny_train_config(**kw) -> TrainConfig:
    """The tiny model's run, on one torch thread whatever the process's count (float sums depend on it, and tests
    compare runs made at different moments of one session: an interrupted run against the session's tiny model)."""
    base = dict(steps=40, batch_size=16, eval_every=20, checkpoint_every=10, n_snapshots=5, warmup_steps=5,
                landscape_grid=5, weight_snapshots=5, threads=1)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="session")
def world():
    return load_world()


@pytest.fixture(scope="session")
def ckpt():
    return load_checkpoint(DEFAULT_CHECKPOINT)


@pytest.fixture(scope="session")
def bundled_features(ckpt):
    """(checkpoint, features) of the bundled model (llmcore.analysis.features); skipped where it ships none."""
    from llmcore.analysis.features import load_features

    f = load_features(ckpt)
    if f is None:
        pytest.skip("the bundled checkpoint has no features.safetensors")
    return ckpt, f


@pytest.fixture(scope="session")
def corpus_of():
    """corpus_of(world, seed, n=None): a world's training sentences, generated once per session for each world,
    seed and count (the bundled world's take seconds, and several test files read the same ones). Read only. Two
    worlds are the same when every field but `source` (the file they were read from) is equal."""
    made: list[tuple] = []
    same = lambda a, b: all(getattr(a, f.name) == getattr(b, f.name) for f in fields(a) if f.name != "source")  # noqa: E731

    def get(world, seed: int, n: int | None = None) -> list[str]:
        for w, s, count, sentences in made:
            if (s, count) == (seed, n) and same(w, world):
                return sentences
        made.append((world, seed, n, generate_corpus(world, seed, n)))
        return made[-1][3]

    return get


@pytest.fixture(scope="session")
def tiny_ckpt_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "ckpt"
    Trainer(out, TINY_WORLD, TINY_MODEL, tiny_train_config(), callbacks=[MapCacheCallback()]).run()  # as the CLI does
    return out


@pytest.fixture
def tiny_ckpt(tiny_ckpt_dir):
    return load_checkpoint(tiny_ckpt_dir)


@pytest.fixture(scope="session")
def frame_displacement():
    """A measure of replay steadiness: (T, n, 2) map frames -> (T-1,) mean distance a point moves between
    consecutive frames, relative to the map's overall size."""
    def measure(coords: np.ndarray) -> np.ndarray:
        scale = np.linalg.norm(coords - coords.mean(1, keepdims=True), axis=-1).mean()
        return np.linalg.norm(np.diff(coords, axis=0), axis=-1).mean(1) / max(scale, 1e-12)

    return measure
@pytest.fixture
def job_sandbox(tmp_path, monkeypatch) -> Path:
    """Training jobs started from the dashboard write under tmp_path and train the tiny model with the smallest
    loss landscape: the job's flow (thread, progress, checkpoint, PCA maps) is what these tests check, and it is
    the same for any model size."""
    from dashboard import folders, jobs

    monkeypatch.setattr(folders, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    monkeypatch.setattr(jobs, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    monkeypatch.setattr(jobs, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(jobs, "GPTConfig", lambda: TINY_MODEL)
    monkeypatch.setattr(jobs, "LANDSCAPE_GRID", 5)
    return tmp_path


# ---- one dashboard page under AppTest (no browser)

def page_script(module: str) -> None:
    """The script AppTest runs for one page: its thin render function, as the app's router would call it."""
    import importlib

    import streamlit as st

    st.set_page_config(layout="wide")
    importlib.import_module(f"dashboard.views.{module}").render()


def open_page(module: str, **params):
    """One page rendered alone under AppTest, with these query parameters."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(page_script, args=(module,), default_timeout=180)
    at.query_params.update(params)
    return at.run()


# ---- a real browser against `streamlit run`

class Server(str):
    """The server's URL, with the process id for memory readings."""

    def __new__(cls, url: str, pid: int):
        obj = super().__new__(cls, url)
        obj.pid = pid
        return obj


@pytest.fixture(scope="session")
def server():
    """One dashboard server on the bundled model for every browser test (started as `make run` starts it)."""
    port = free_port()
    cmd = [sys.executable, "-m", "dashboard", "--server.port", str(port),  # with the warm-up, as `make run`
           "--server.address", "127.0.0.1", "--server.headless", "true"]
    with running_server(cmd, port, ROOT, env={**os.environ, "MALLOC_ARENA_MAX": "2"}) as proc:
        yield Server(f"http://127.0.0.1:{port}", proc.pid)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (per module: Playwright's loop must not outlive the browser tests);
    skipped where it is missing, except in CI."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("LLM_LANDSCAPE_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs it with apt-get install chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium); CI runs this test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


# Streamlit's frontend first probes /_stcore/* relative to a page's path (e.g. /embeddings/_stcore/health), gets
# a 404 and falls back to the root. Those two probes are its own, not the app's; every other failure counts.
STREAMLIT_PROBE = ("/_stcore/health", "/_stcore/host-config")


def open_in_browser(browser, url: str, width: int = 1400, height: int = 1100):
    """A new tab on `url` (a window of width × height), and the list that collects its console errors."""
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    probes: list[str] = []
    page.on("response", lambda r: r.status == 404 and r.url.endswith(STREAMLIT_PROBE) and probes.append(r.url))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(url, wait_until="domcontentloaded")
    page.probes = probes
    return page, errors


def real_errors(page, errors: list[str]) -> list[str]:
    """Console errors, less the 404s of Streamlit's own probes."""
    probe_404s = len(page.probes)
    out = []
    for e in errors:
        if probe_404s and e.startswith("Failed to load resource") and "404" in e:
            probe_404s -= 1
            continue
        out.append(e)
    return out


def wait_charts(page, n: int = 2, timeout: float = 90_000) -> None:
    """Until at least n Plotly charts are drawn."""
    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}",
                           timeout=timeout)


def wait_idle(page, timeout: float = 60_000) -> None:
    """Until the app's script run has finished (the attribute Streamlit's own end-to-end tests wait on)."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", state="attached",
                           timeout=timeout)


def no_errors(page, errors) -> None:
    """No exception box, no error box and no console error on the page."""
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    assert not real_errors(page, errors), real_errors(page, errors)


# The longest files first: `make test` runs one file per worker on two workers, and a long file that starts last
# runs alone at the end (the SIGKILL, torchrun, install and parallel-refit tests take 1.5-3 min each beside a busy
# core). Only the order of whole files changes; the rest keep theirs.
SLOW_FILES_FIRST = ("test_faults.py", "test_distributed.py", "test_packaging.py", "test_maps.py", "test_bench.py",
                    "test_browser.py", "test_load.py", "test_files.py")


def pytest_collection_modifyitems(items: list) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
