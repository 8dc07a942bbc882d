"""UMAP and t-SNE maps fitted in a background thread, one at a time, shared by every session of the server; pages
show the PCA map meanwhile and a progress line with a measured ETA. A classroom visitor starts none: it may only
`find` a job the teacher started (dashboard/state.py)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from llmcore.maps.store import FittedMap, ReferenceSet, get_map

if TYPE_CHECKING:
    from llmcore.model.checkpoint import Checkpoint

FIT_SHARE = 0.9  # of the progress bar: the fit itself; the rest is measuring trustworthiness


@dataclass
class MapJob:
    """One map being fitted; the page reads its fields while it runs (progress, then the map or an error). A job
    that was not started (`refused`: the sentence saying why the PCA map stands in) is never done."""

    label: str
    message: str = "waiting for another map to finish"
    fraction: float = 0.0
    started: float | None = None
    result: FittedMap | None = None
    error: str = ""
    refused: str = ""
    thread: threading.Thread | None = field(default=None, repr=False)

    def __call__(self, message: str) -> None:
        self.message = message
        if message.startswith("measuring"):
            self.fraction = FIT_SHARE

    def advance(self, fraction: float) -> None:
        self.fraction = max(self.fraction, FIT_SHARE * min(max(fraction, 0.0), 1.0))

    @property
    def done(self) -> bool:
        return self.result is not None or bool(self.error)

    @property
    def elapsed(self) -> float:
        return 0.0 if self.started is None else time.time() - self.started

    @property
    def eta(self) -> float | None:
        """Seconds left, from the pace so far; None until there is a pace to measure."""
        if self.started is None or self.fraction < 0.05:
            return None
        return self.elapsed * (1 - self.fraction) / self.fraction

    def status_line(self) -> str:
        eta = self.eta
        left = f", about {eta:.0f} s left" if eta is not None else ""
        return f"{self.label}: {self.message} — {self.fraction:.0%} after {self.elapsed:.0f} s{left}"


_JOBS: dict[str, MapJob] = {}
_LOCK = threading.Lock()
_ONE_AT_A_TIME = threading.Semaphore(1)  # fits share the machine's cores: run them in turn


def _key(ckpt: Checkpoint, ref: ReferenceSet, method: str, n_components: int, cache_dir: Path | None) -> str:
    return f"{ckpt.content_hash}|{ref.name}|{ref.digest}|{method}|{n_components}|{cache_dir}"


def find(ckpt: Checkpoint, ref: ReferenceSet, method: str, n_components: int, *,
         cache_dir: Path | None = None) -> MapJob | None:
    """The job fitting this map if a session started one (running, done or failed), else None: nothing starts."""
    with _LOCK:
        return _JOBS.get(_key(ckpt, ref, method, n_components, cache_dir))


def request(ckpt: Checkpoint, ref: ReferenceSet, method: str, n_components: int, *, label: str,
            cache_dir: Path | None = None) -> MapJob:
    """The job fitting this map, started if no session asked for it yet (a failed one is tried again)."""
    key = _key(ckpt, ref, method, n_components, cache_dir)
    with _LOCK:
        job = _JOBS.get(key)
        if job is not None and not job.error:
            return job
        job = _JOBS[key] = MapJob(label)

    def run() -> None:
        with _ONE_AT_A_TIME:
            job.started, job.message = time.time(), "starting"
            try:
                job.result = get_map(ckpt, ref, method, n_components, cache_dir=cache_dir, progress=job)
                job.fraction = 1.0
            except Exception as e:  # shown on the page; asking again retries
                job.error = f"{type(e).__name__}: {e}"

    job.thread = threading.Thread(target=run, name=f"map-{method}-{ref.name}", daemon=True)
    job.thread.start()
    return job
