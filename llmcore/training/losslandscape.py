"""Loss landscapes (Li et al. 2018): the training loss around the trained weights on a random filter-normalised plane
and on the plane of the optimiser's path, with that path on it. Computed at the end of training."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from llmcore.model.checkpoint import LossLandscape
from llmcore.model.gpt import GPT
from llmcore.model.tokenizer import Tokenizer
from llmcore.world.load import generate_corpus
from llmcore.world.types import World

EVAL_SEED = 777
Batch = tuple[torch.Tensor, torch.Tensor]  # inputs and targets, each (B, T); -1: an ignored target


def eval_batch(world: World, tokenizer: Tokenizer, block_size: int, *, n: int = 32,
               seed: int = EVAL_SEED) -> Batch:
    """A fixed evaluation batch: n fresh sentences, each from position 0, padded with ignored targets."""
    sents = generate_corpus(world, seed, n)
    ids = [tokenizer.encode_corpus([s])[: block_size + 1] for s in sents]
    T = max(len(s) for s in ids) - 1
    x = torch.zeros(n, T, dtype=torch.long)
    y = torch.full((n, T), -1, dtype=torch.long)
    for r, s in enumerate(ids):
        x[r, : len(s) - 1], y[r, : len(s) - 1] = torch.tensor(s[:-1]), torch.tensor(s[1:])
    return x, y


@torch.no_grad()
def batch_loss(model: GPT, batch: Batch) -> float:
    was = model.training
    model.eval()
    dev = model.lm_head.weight.device
    loss = model(batch[0].to(dev), batch[1].to(dev))[1].item()
    model.train(was)
    return loss


def filter_normalized_direction(model: GPT, generator: torch.Generator) -> torch.Tensor:
    """A random direction (flat, like parameters_to_vector) with each filter (row) scaled to its weights' norm;
    biases and norm parameters get no component (Li et al. 2018, 'ignore biasbn')."""
    parts = []
    for p in model.parameters():
        d = torch.randn(p.shape, generator=generator).to(p.device)
        if p.dim() <= 1:
            d.zero_()
        else:
            d2, p2 = d.reshape(d.shape[0], -1), p.detach().reshape(p.shape[0], -1)
            d = (d2 * (p2.norm(dim=1, keepdim=True) / d2.norm(dim=1, keepdim=True).clamp_min(1e-10))).reshape(p.shape)
        parts.append(d.reshape(-1))
    return torch.cat(parts)


@torch.no_grad()
def weights_norm(model: GPT) -> float:
    """Euclidean length of all the model's parameters as one vector (the unit a loss plane is measured against)."""
    return float(parameters_to_vector(model.parameters()).norm())


@torch.no_grad()
def loss_on_plane(model: GPT, batch: Batch, d1: torch.Tensor, d2: torch.Tensor, *, alphas: np.ndarray,
                  betas: np.ndarray) -> np.ndarray:
    """(len(betas), len(alphas)) losses at θ + a·d1 + b·d2; the weights are restored afterwards, whatever happens."""
    theta = parameters_to_vector(model.parameters()).clone()
    out = np.zeros((len(betas), len(alphas)), np.float32)
    try:
        for j, b in enumerate(betas):
            for i, a in enumerate(alphas):
                vector_to_parameters(theta + float(a) * d1 + float(b) * d2, model.parameters())
                out[j, i] = batch_loss(model, batch)
    finally:
        vector_to_parameters(theta, model.parameters())
    return out


def random_loss_landscape(model: GPT, batch: Batch, *, n: int = 21, span: float = 1.0, seed: int = 0) -> LossLandscape:
    """The loss over [-span, span]² along two filter-normalised random directions."""
    g = torch.Generator().manual_seed(seed)
    d1, d2 = filter_normalized_direction(model, g), filter_normalized_direction(model, g)
    grid = np.linspace(-span, span, n).astype(np.float32)
    loss = loss_on_plane(model, batch, d1, d2, alphas=grid, betas=grid)
    empty = np.zeros((0, 2), np.float32)
    return LossLandscape(kind="random", alphas=grid, betas=grid, loss=loss, centre_loss=batch_loss(model, batch),
                         path=empty, path_loss=np.zeros(0, np.float32), path_steps=np.zeros(0, np.int64),
                         explained=np.full(2, np.nan, np.float32))


def path_loss_landscape(model: GPT, batch: Batch, snapshots: Sequence[np.ndarray], steps: list[int], *, n: int = 21,
                        margin: float = 0.25) -> LossLandscape:
    """The loss on the plane of the first two principal directions of (snapshot − final weights), with the path.

    snapshots: T flat weight vectors (parameters_to_vector order, any float dtype) saved during training; the model
    holds the final weights.
    """
    theta = parameters_to_vector(model.parameters()).detach().cpu().numpy()
    dirs, path, explained = path_plane(snapshots, theta)
    lo, hi = path.min(0), path.max(0)
    pad = margin * np.maximum(hi - lo, 1e-6)
    alphas = np.linspace(lo[0] - pad[0], hi[0] + pad[0], n).astype(np.float32)
    betas = np.linspace(lo[1] - pad[1], hi[1] + pad[1], n).astype(np.float32)
    d1, d2 = (torch.from_numpy(d).to(model.lm_head.weight.device) for d in dirs)
    loss = loss_on_plane(model, batch, d1, d2, alphas=alphas, betas=betas)
    path_loss = np.array([loss_on_plane(model, batch, d1, d2, alphas=[a], betas=[b])[0, 0] for a, b in path],
                         np.float32)
    return LossLandscape(kind="pca", alphas=alphas, betas=betas, loss=loss, centre_loss=batch_loss(model, batch),
                         path=path, path_loss=path_loss, path_steps=np.asarray(steps, np.int64), explained=explained)


def path_plane(snapshots: Sequence[np.ndarray], theta: np.ndarray, *, chunk: int = 1 << 16
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first two principal directions of the rows D = snapshot − theta (uncentred, as an SVD of D gives them),
    the snapshots' coordinates on them and the share of D's energy each explains: ((2, P) float32, (T, 2), (2,)).

    Through the T × T Gram matrix D Dᵀ, summed over column chunks in float64: memory T × chunk beyond the
    inputs, where an SVD of D would hold several T × P float64 copies (1.5 GB for the bundled model's 24).
    Signs follow scikit-learn's svd_flip: each direction's largest coordinate along the path is positive.
    """
    T, P = len(snapshots), theta.size
    gram = np.zeros((T, T), np.float64)
    for a in range(0, P, chunk):
        D = np.stack([np.asarray(w[a:a + chunk], np.float64) for w in snapshots]) - theta[a:a + chunk]
        gram += D @ D.T
    energy, U = np.linalg.eigh(gram)  # ascending
    energy, U = np.clip(energy[::-1][:2], 0, None), U[:, ::-1][:, :2]
    U *= np.where(U[np.abs(U).argmax(0), [0, 1]] < 0, -1.0, 1.0)
    s = np.sqrt(energy)
    path = U * s  # D @ dirsᵀ = U S
    dirs = np.zeros((2, P), np.float64)
    for a in range(0, P, chunk):  # dirs = S⁻¹ Uᵀ D
        D = np.stack([np.asarray(w[a:a + chunk], np.float64) for w in snapshots]) - theta[a:a + chunk]
        dirs[:, a:a + chunk] = (U.T @ D) / np.maximum(s, 1e-12)[:, None]
    explained = energy / max(float(np.trace(gram)), 1e-12)
    return dirs.astype(np.float32), path.astype(np.float32), explained.astype(np.float32)
