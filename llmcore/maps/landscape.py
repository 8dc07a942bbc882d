"""Decision landscapes: where on a PCA plane the model would send the next word, and the regions of what reference
states predict next. (The training loss around the weights is llmcore.training.losslandscape.)"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from llmcore.maps.projection import PCAProjector
from llmcore.model.checkpoint import Checkpoint
from llmcore.model.depths import depth_named

EVAL_SEED = 777


# ---------------------------------------------------------------------------------------- decision landscape
@dataclass(kw_only=True)
class DecisionLandscape:
    """Decoding of a grid on a layer's PCA plane. x: (nx,), y: (ny,); context_probs: (ny, nx, G);
    top_ids / top_probs: (ny, nx) most likely next word; entropy: (ny, nx) in nats.

    It is a slice: each grid point is mapped back to the hidden space by the PCA inverse (the plane through the
    mean of the reference states), which keeps only `explained_variance` of how states vary.
    """

    layer: str
    x: np.ndarray
    y: np.ndarray
    context_names: list[str]
    context_probs: np.ndarray
    top_ids: np.ndarray
    top_probs: np.ndarray
    entropy: np.ndarray
    explained_variance: float

    def __post_init__(self) -> None:
        ny, nx = len(self.y), len(self.x)
        if self.context_probs.shape != (ny, nx, len(self.context_names)) or self.top_ids.shape != (ny, nx):
            raise ValueError("DecisionLandscape arrays do not match the grid")

    def shown_at(self, xy: np.ndarray, function_context: str) -> list[str]:
        """The sub-context the drawn plane shows under each point (n, 2): `function_context` inside its dashed line
        (more than half of the probability), else the content sub-context whose colour is there."""
        row, col = _cells(self.x, self.y, xy)
        probs = self.context_probs[row, col]  # (n, G)
        content = [g for g, n in enumerate(self.context_names) if n != function_context]
        g = self.context_names.index(function_context) if function_context in self.context_names else None
        best = [self.context_names[content[int(i)]] for i in probs[:, content].argmax(1)]
        return [function_context if g is not None and p[g] > 0.5 else b for p, b in zip(probs, best)]


def _cells(x: np.ndarray, y: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the grid cell nearest each point (n, 2) of a grid x (nx,), y (ny,); edge cells outside."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    col = np.abs(xy[:, :1] - np.asarray(x, np.float64)[None]).argmin(1)
    row = np.abs(xy[:, 1:2] - np.asarray(y, np.float64)[None]).argmin(1)
    return row, col


@dataclass(kw_only=True)
class NextWordRegions:
    """What real states predict next, drawn on the plane that best separates their predictions.

    Each of N reference states at `layer` is read through the final norm and the head, and labelled by the
    sub-context holding most of its next-word probability (`predicted`: (N,) index into `contexts`). The plane is
    the linear discriminant plane of those labels (mean_: (C,), components_: (2, C)); coords: (N, 2) the states
    on it. Each cell of the grid x: (nx,), y: (ny,) takes the label most of the `k` nearest states on the plane
    predict (label: (ny, nx), -1 where no state is near: nothing is invented there) and their share (ny, nx).
    """

    layer: str
    contexts: list[str]
    predicted: np.ndarray
    coords: np.ndarray
    mean_: np.ndarray
    components_: np.ndarray
    x: np.ndarray
    y: np.ndarray
    label: np.ndarray
    share: np.ndarray
    k: int

    def __post_init__(self) -> None:
        n, (ny, nx) = len(self.predicted), (len(self.y), len(self.x))
        if self.coords.shape != (n, 2) or self.components_.shape != (2, len(self.mean_)):
            raise ValueError("NextWordRegions: coords must be (N, 2) and components_ (2, C)")
        if self.label.shape != (ny, nx) or self.share.shape != (ny, nx):
            raise ValueError("NextWordRegions: label and share must match the grid")

    def place(self, H: np.ndarray) -> np.ndarray:
        """States (n, C) at the same depth on the plane: (n, 2)."""
        return (np.asarray(H, np.float64) - self.mean_) @ self.components_.T

    def shown_at(self, xy: np.ndarray) -> list[str]:
        """The sub-context whose colour is drawn under each point (n, 2); '' where the plane is blank."""
        row, col = _cells(self.x, self.y, xy)
        return [self.contexts[g] if g >= 0 else "" for g in self.label[row, col]]


def next_word_regions(ckpt: Checkpoint, layer: str, X: np.ndarray, *, grid: int = 120, k: int = 15,
                      blank: float = 0.04) -> NextWordRegions:
    """The regions of what the reference states X (N, C) at `layer` predict next (see NextWordRegions). A cell
    farther than `blank` of the plane's extent from every state is left blank."""
    from sklearn.neighbors import NearestNeighbors

    from llmcore.maps.projection import LDAProjector, PCAProjector

    names, cmat = ckpt.context_matrix()
    predicted = (decode_states(ckpt, layer, X) @ cmat).argmax(1)
    labels = np.asarray(names, object)[predicted]
    two_groups = len(set(predicted.tolist())) >= 2  # a model that predicts one sub-context everywhere: PCA's plane
    proj = (LDAProjector(2) if two_groups else PCAProjector(2)).fit(X, labels if two_groups else None)
    mean, comps = proj.mean_.astype(np.float64), proj.components_.astype(np.float64)
    coords = (np.asarray(X, np.float64) - mean) @ comps.T
    lo, hi = coords.min(0), coords.max(0)
    pad = 0.04 * np.maximum(hi - lo, 1e-9)
    x, y = (np.linspace(lo[i] - pad[i], hi[i] + pad[i], grid) for i in (0, 1))
    gx, gy = np.meshgrid(x, y)
    scale = np.maximum(hi - lo, 1e-9)  # distances on the plane in units of its extent, both axes alike
    nn = NearestNeighbors(n_neighbors=min(k, len(coords))).fit(coords / scale)
    dist, idx = nn.kneighbors(np.stack([gx.ravel(), gy.ravel()], 1) / scale)
    votes = np.zeros((len(idx), len(names)))
    np.add.at(votes, (np.repeat(np.arange(len(idx)), idx.shape[1]), predicted[idx].ravel()), 1.0)
    label = np.where(dist[:, 0] <= blank, votes.argmax(1), -1).reshape(grid, grid)
    share = (votes.max(1) / idx.shape[1]).reshape(grid, grid)
    return NextWordRegions(layer=layer, contexts=list(names), predicted=predicted, coords=coords, mean_=mean,
                           components_=comps, x=x, y=y, label=label, share=share, k=idx.shape[1])


@torch.no_grad()
def decode_states(ckpt: Checkpoint, layer: str, H: np.ndarray) -> np.ndarray:
    """Next-word probabilities (n, V) of hidden states at a depth: the logit lens (final norm, then the head)."""
    model = ckpt.model
    h = torch.from_numpy(np.asarray(H, np.float32)).to(model.device)
    normed = depth_named(layer, model.config.n_layer).normed  # the final depth is already through the final norm
    logits = model.lm_head(h) if normed else model.decode_residual(h)
    return logits.softmax(-1).cpu().numpy()


def decision_landscape(ckpt: Checkpoint, layer: str, pca: PCAProjector, extent: np.ndarray, *,
                       grid: int = 60) -> DecisionLandscape:
    """Decode every point of a grid over extent [[xmin, ymin], [xmax, ymax]] of a 2D PCA map of `layer`."""
    if pca.components_.shape[0] != 2:
        raise ValueError("the decision landscape is drawn on a 2D PCA map")
    x = np.linspace(extent[0][0], extent[1][0], grid, dtype=np.float32)
    y = np.linspace(extent[0][1], extent[1][1], grid, dtype=np.float32)
    gx, gy = np.meshgrid(x, y)
    probs = decode_states(ckpt, layer, pca.inverse_transform(np.stack([gx.ravel(), gy.ravel()], 1)))
    names, cmat = ckpt.context_matrix()
    ent = -(probs * np.log(np.clip(probs, 1e-12, None))).sum(1)
    return DecisionLandscape(layer=layer, x=x, y=y, context_names=names,
                             context_probs=(probs @ cmat).reshape(grid, grid, -1),
                             top_ids=probs.argmax(1).reshape(grid, grid), top_probs=probs.max(1).reshape(grid, grid),
                             entropy=ent.reshape(grid, grid).astype(np.float32),
                             explained_variance=float(pca.explained_variance_ratio_.sum()))
