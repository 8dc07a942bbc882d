"""The default view, chosen by measurement: the (depth, method) map on which example sentences' states fall in
their own word's sub-context region most often. Measured when the maps are built and stored next to them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from llmcore.analysis.trace import SamplingConfig, generate
from llmcore.files import atomic_write
from llmcore.inputs import parse_json, read_json_file
from llmcore.maps.regions import region_map
from llmcore.model.checkpoint import Checkpoint
from llmcore.world.types import FUNCTION_CONTEXT

if TYPE_CHECKING:
    from llmcore.maps.projection import Progress

BEST_VIEW_FILE = "best_view.json"
MAX_VIEW_BYTES = 1 << 20  # the shipped view is about 3 kB
EXAMPLE_SEED = 4242  # not the training corpus seed: the example sentences are drawn anew


@dataclass
class BestView:
    """The measured default view. scores: 'method@layer' -> share of example states inside their word's region."""

    layer: str
    method: str
    score: float
    scores: dict[str, float]
    n_states: int
    examples: list[str]
    content_hash: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> BestView:
        return cls.from_dict(parse_json(text))

    @classmethod
    def from_dict(cls, data: Any) -> BestView:
        """Checked: a file of the wrong shape raises ValueError, KeyError or TypeError."""
        view = cls(**{k: data[k] for k in ("layer", "method", "score", "scores", "n_states", "examples",
                                           "content_hash")})
        if not (isinstance(view.layer, str) and isinstance(view.method, str) and isinstance(view.scores, dict)
                and isinstance(view.examples, list) and isinstance(view.content_hash, str)):
            raise TypeError("a best view holds strings, a dict of scores and a list of examples")
        return view


def example_texts(ckpt: Checkpoint, n_held_out: int = 12, n_corpus: int = 12) -> list[str]:
    """Example sentences: held-out prompts completed greedily by the model (if the world has held-out pairs),
    then sentences of the world drawn with a seed of their own."""
    from llmcore.analysis.evaluate import generalisation_prompts

    if not ckpt.world.animals:  # word lists of a foreign model: no held-out prompts, their own sentences
        return ckpt.world.reference_sentences(EXAMPLE_SEED, n_held_out + n_corpus)
    first = {}  # one prompt per held-out pair: its first (plainest) form
    for p in generalisation_prompts(ckpt.world, list(ckpt.held_out)):
        first.setdefault((p.animal, p.food), p.text)
    prompts = list(first.values())[:n_held_out]
    texts = [f"{p} {' '.join(generate(ckpt.model, ckpt.tokenizer, p, SamplingConfig(max_new_words=8)))}"
             for p in prompts]
    return texts + ckpt.world.reference_sentences(EXAMPLE_SEED, n_corpus)


def example_states(ckpt: Checkpoint, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """States (n, L, C) after every content word of the texts (function words have no region) and their labels."""
    import torch

    from llmcore.model.caches import ActivationCache

    states, labels = [], []
    block = ckpt.model.config.block_size
    for text in texts:
        ids = ckpt.tokenizer.encode(text).ids[:block]
        act = ActivationCache(attention=False)
        with torch.no_grad():
            ckpt.model(torch.tensor([ids], device=ckpt.model.device), capture=act)
        stack = act.residual_stack()[0][:, 0].transpose(0, 1).cpu().numpy()  # (T, L, C)
        ctx = [ckpt.world.label(ckpt.tokenizer.vocab[i])[0] for i in ids]
        keep = [t for t, c in enumerate(ctx) if c != FUNCTION_CONTEXT]
        states.append(stack[keep])
        labels += [ctx[t] for t in keep]
    if not labels:
        raise ValueError("no example sentence holds a content word, so no map can be measured")
    return np.concatenate(states).astype(np.float32), np.array(labels, object)


def share_in_own_region(coords: np.ndarray, ref_coords: np.ndarray, ref_labels: np.ndarray,
                        labels: np.ndarray, *, contexts: list[str]) -> float:
    """Share of points (n, 2) inside their own label's region as the map draws it: where that label's density
    (of the reference map) is at least half its local peak, the outline the Trajectory page draws."""
    regions = region_map(ref_coords[:, :2], ref_labels, contexts)
    col = np.clip(np.rint((coords[:, 0] - regions.x[0]) / (regions.x[1] - regions.x[0])), 0, len(regions.x) - 1)
    row = np.clip(np.rint((coords[:, 1] - regions.y[0]) / (regions.y[1] - regions.y[0])), 0, len(regions.y) - 1)
    own = np.array([contexts.index(c) for c in labels])
    inside = regions.density[own, row.astype(int), col.astype(int)] >= 0.5
    return float(np.mean(inside)) if len(own) else 0.0


class MapSource(Protocol):
    """What measuring the best view reads from a map store (llmcore.maps.store.MapBook): the model, its depths and
    its fitted maps."""

    ckpt: Checkpoint
    layer_names: list[str]

    def get(self, name: str, method: str = "pca", n_components: int = 2, **kw: Any) -> Any: ...


def measure_best_view(book: MapSource, methods: list[str], progress: Progress | None = None) -> BestView:
    """Score every 2D context map of `book` (a MapBook) for `methods` at every depth after the embedding; the best
    is the default. The embedding depth is left out: there a state is the word's own vector, in its own region by
    construction, so it would win without showing anything the model computed."""
    ckpt = book.ckpt
    texts = example_texts(ckpt)
    states, labels = example_states(ckpt, texts)
    contexts = ckpt.context_matrix()[0]
    scores = {}
    for depth, layer in enumerate(book.layer_names):
        for method in methods if depth else ():
            fmap = book.get(f"context:{layer}", method, 2, progress=progress)
            xy = fmap.place(states[:, depth])
            scores[f"{method}@{layer}"] = share_in_own_region(xy, fmap.coords, fmap.reference.labels["context"],
                                                              labels, contexts=contexts)
            if progress:
                progress(f"best view: {method} at {layer}: {scores[f'{method}@{layer}']:.2f}")
    best = max(scores, key=lambda k: (scores[k], k))
    method, layer = best.split("@", 1)
    return BestView(layer=layer, method=method, score=scores[best], scores=scores, n_states=len(states), examples=texts,
                    content_hash=ckpt.content_hash)


def best_view_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / BEST_VIEW_FILE


def save_best_view(view: BestView, cache_dir: Path) -> Path:
    path = best_view_path(cache_dir)
    atomic_write(path, view.to_json().encode())
    return path


def _read_best_view(path: Path) -> BestView | None:
    """The view stored in `path` (a regular file of at most MAX_VIEW_BYTES, nesting checked), or None."""
    try:
        return BestView.from_dict(read_json_file(path, MAX_VIEW_BYTES))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_best_view_file(path: Path) -> bool:
    """Whether `path` is a best view this code wrote (so it may be deleted with the maps)."""
    return _read_best_view(path) is not None


def load_best_view(ckpt: Checkpoint, cache_dir: Path) -> BestView | None:
    """The stored best view of this checkpoint, or None if there is none, it cannot be read (a special file, too
    big, nested too deep, the wrong shape) or it belongs to another model."""
    view = _read_best_view(best_view_path(cache_dir))
    return view if view is not None and view.content_hash == ckpt.content_hash else None
