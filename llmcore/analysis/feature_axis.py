"""A sparse-autoencoder feature's decoder direction as a map axis: states placed along it (x) against the main
direction of what is left of them (y), and how well that axis sorts the states the feature fires on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from llmcore.inputs import Shaped

if TYPE_CHECKING:
    from llmcore.analysis.sae import SAEStack


@dataclass
class FeatureAxis(Shaped):
    """N states of one depth on a feature's axis. coords: (N, 2) x = distance along the feature's unit decoder
    direction from the states' mean, y = along the first principal direction of the states with that direction
    taken out; activation: (N,) the feature's activation on each state (0 where it does not fire)."""

    coords: np.ndarray
    activation: np.ndarray
    SHAPES: ClassVar = {"coords": ("N", 2), "activation": ("N",)}

    @property
    def fires(self) -> np.ndarray:
        """(N,) whether the feature fires on each state."""
        return self.activation > 0

    @property
    def separation(self) -> float | None:
        """The chance that a state the feature fires on lies further along the axis than one it does not fire on
        (the axis's ROC AUC: 0.5 is no better than chance, 1 every firing state beyond every other); None where it
        fires on all states or none."""
        fires, x = self.fires, self.coords[:, 0]
        n1, n0 = int(fires.sum()), int((~fires).sum())
        if n1 == 0 or n0 == 0:
            return None
        ranks = np.empty(len(x))
        ranks[np.argsort(x, kind="stable")] = np.arange(1, len(x) + 1)
        return float((ranks[fires].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))

    def furthest(self, words: np.ndarray, n: int = 5) -> list[str]:
        """The first n different words of the states furthest along the axis."""
        out: list[str] = []
        for i in np.argsort(-self.coords[:, 0], kind="stable"):
            if str(words[i]) not in out:
                out.append(str(words[i]))
            if len(out) == n:
                break
        return out


def feature_axis(sae: SAEStack, depth: int, feature: int, states: np.ndarray) -> FeatureAxis:
    """(N, C) states of a depth placed on feature `feature`'s decoder direction at that depth."""
    if not 0 <= depth < len(sae.layer_names) or not 0 <= feature < sae.width:
        raise ValueError(f"no feature {feature} at depth {depth}: the autoencoders have {sae.width} features at "
                         f"{len(sae.layer_names)} depths")
    X = np.asarray(states, np.float32)
    u = sae.direction(depth, feature).astype(np.float64)
    u /= max(np.linalg.norm(u), 1e-12)
    centred = X - X.mean(0)
    x = centred @ u
    rest = centred - np.outer(x, u)  # (N, C) what the feature's direction does not say
    _, vectors = np.linalg.eigh(rest.T @ rest)
    v = vectors[:, -1] * np.sign(vectors[np.argmax(np.abs(vectors[:, -1])), -1])  # the sign fixed: reproducible
    return FeatureAxis(coords=np.stack([x, rest @ v], 1).astype(np.float32),
                       activation=sae.encode(depth, X)[:, feature].astype(np.float32))
