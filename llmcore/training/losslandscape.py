"""Loss landscapes (Li et al. 2018): the training loss around the trained weights on a random filter-normalised plane
and on the plane of the optimiser's path, with that path on it. Computed at the end of training."""

from __future__ import annotations

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


def path_loss_landscape(model: GPT, batch: Batch, snapshots: np.ndarray, steps: list[int], *, n: int = 21,
                        margin: float = 0.25) -> LossLandscape:
    """The loss on the plane of the first two principal directions of (snapshot − final weights), with the path.

    snapshots: (T, P) flat weight vectors (parameters_to_vector order) saved during training; the model holds
    the final weights.
    """
    theta = parameters_to_vector(model.parameters()).detach().cpu().numpy().astype(np.float64)
    D = np.asarray(snapshots, np.float64) - theta
    _, s, vt = np.linalg.svd(D, full_matrices=False)
    dirs = vt[:2]
    path = (D @ dirs.T).astype(np.float32)  # dirs are orthonormal: coordinates are projections
    lo, hi = path.min(0), path.max(0)
    pad = margin * np.maximum(hi - lo, 1e-6)
    alphas = np.linspace(lo[0] - pad[0], hi[0] + pad[0], n).astype(np.float32)
    betas = np.linspace(lo[1] - pad[1], hi[1] + pad[1], n).astype(np.float32)
    d1, d2 = (torch.from_numpy(d.astype(np.float32)).to(model.lm_head.weight.device) for d in dirs)
    loss = loss_on_plane(model, batch, d1, d2, alphas=alphas, betas=betas)
    path_loss = np.array([loss_on_plane(model, batch, d1, d2, alphas=[a], betas=[b])[0, 0] for a, b in path],
                         np.float32)
    explained = (s[:2] ** 2 / max((s**2).sum(), 1e-12)).astype(np.float32)
    return LossLandscape(kind="pca", alphas=alphas, betas=betas, loss=loss, centre_loss=batch_loss(model, batch),
                         path=path, path_loss=path_loss, path_steps=np.asarray(steps, np.int64), explained=explained)
