"""Maps fitted in the background: progress with a measured ETA, one job shared by every session, PCA meanwhile."""

from __future__ import annotations

import shutil
import time

import pytest

from dashboard import mapjobs
from llmcore.maps.projection import _EpochCounter, _IterationCounter
from llmcore.maps.store import MapBook

from .charts import charts


class Recorder:
    def __init__(self):
        self.messages, self.fractions = [], []

    def __call__(self, message):
        self.messages.append(message)

    def advance(self, fraction):
        self.fractions.append(fraction)


def test_progress_counters_report_fractions_in_order():
    r = Recorder()
    counter = _EpochCounter(r)
    for text in ("\r  0%|          | 0/200 [00:00<?, ?it/s]", "\r 50%|#####     | 100/200", "no numbers"):
        counter.write(text)
    assert r.fractions == [0.0, 0.5]
    r = Recorder()
    tsne = _IterationCounter(r, 750)
    stops = [tsne(i) for i in (10, 250, 10, 500)]  # the second phase counts from 1 again
    assert stops == [False] * 4
    assert r.fractions == pytest.approx([10 / 750, 250 / 750, 260 / 750, 1.0])


@pytest.mark.slow
def test_a_background_fit_reports_progress_and_is_shared(tiny_ckpt, tmp_path):
    """A 3D t-SNE: the same job, counter and cache as a 2D one, fitted by Barnes-Hut, which on the tiny model's
    hundred words takes seconds where 2D's FFT method takes minutes (test_projection fits a 2D t-SNE)."""
    book = MapBook(tiny_ckpt, cache_dir=tmp_path / "maps")
    ref = book.reference("words")
    job = mapjobs.request(tiny_ckpt, ref, "tsne", 3, label="t-SNE of words", cache_dir=tmp_path / "maps")
    assert mapjobs.request(tiny_ckpt, ref, "tsne", 3, label="again", cache_dir=tmp_path / "maps") is job  # one per map
    seen = set()
    deadline = time.time() + 120
    while not job.done and time.time() < deadline:
        seen.add(round(job.fraction, 2))
        time.sleep(0.02)
    assert job.result is not None and not job.error and job.fraction == 1.0
    assert any(0 < f < 1 for f in seen)  # progress between start and end was visible
    assert job.eta == pytest.approx(0.0, abs=1e-6) and "100%" in job.status_line()
    assert book.cached("words", "tsne", 3) is not None  # written to the map cache for every later session


@pytest.mark.slow
def test_embeddings_page_shows_pca_while_tsne_fits_then_tsne(tiny_ckpt_dir, tmp_path):
    import json

    from streamlit.testing.v1 import AppTest

    from .conftest import page_script as _page_script

    fresh = tmp_path / "fresh"
    shutil.copytree(tiny_ckpt_dir, fresh)
    shutil.rmtree(fresh / "maps", ignore_errors=True)
    at = AppTest.from_function(_page_script, args=("embeddings",), default_timeout=180)
    at.session_state["checkpoint"] = str(fresh)
    at.session_state["emb_method"] = "tsne"
    at.session_state["emb_dims"] = 3
    at.run()
    assert not at.exception and not at.error

    def title():
        return json.loads(charts(at)[0].spec)["layout"]["title"]["text"]

    fitting = [p for p in at.get("progress") if "in the background" in p.proto.text]
    assert fitting, "the t-SNE map is not on disk: the first run shows the fit's progress"
    assert title().startswith("PCA map") and "PCA map is shown meanwhile" in fitting[0].proto.text
    deadline = time.time() + 120
    while time.time() < deadline and not title().startswith("t-SNE"):
        time.sleep(0.5)
        at.run()
    assert title().startswith("t-SNE map") and not at.error
