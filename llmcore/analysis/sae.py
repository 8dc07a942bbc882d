"""TopK sparse autoencoders, one per depth of the residual stream: each state written as a sum of at most k
dictionary directions (features) out of `width`, trained on corpus states, scored by the variance they explain,
how many features a state uses (L0), how many never fire, and the model's loss with the reconstruction spliced in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

from llmcore.model.hooks import model_sites

if TYPE_CHECKING:
    from llmcore.model.checkpoint import Checkpoint
    from llmcore.model.protocols import LanguageModel


@dataclass(frozen=True)
class SAEConfig:
    """width: features per depth; k: features active per state; steps / batch / lr: Adam's run; seed: init."""

    width: int = 512
    k: int = 16
    steps: int = 1000
    batch: int = 1024
    lr: float = 2e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if not (1 <= self.k <= self.width <= 65536 and self.steps >= 1 and self.batch >= 1 and self.lr > 0):
            raise ValueError(f"SAEConfig needs 1 <= k <= width <= 65536 and positive steps, batch and lr: {self}")


@dataclass
class SAEStack:
    """L TopK autoencoders of width W over C-wide states. enc: (L, W, C); b_enc: (L, W); dec: (L, C, W) with unit
    columns; b_dec: (L, C); scale: (L,) each depth's states are divided by it first (their RMS distance from
    b_dec), so one learning rate fits every depth; k: features active per state."""

    enc: np.ndarray
    b_enc: np.ndarray
    dec: np.ndarray
    b_dec: np.ndarray
    scale: np.ndarray
    k: int
    layer_names: list[str]

    def __post_init__(self) -> None:
        L, W, C = self.enc.shape
        shapes = {"b_enc": (L, W), "dec": (L, C, W), "b_dec": (L, C), "scale": (L,)}
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"SAEStack.{name} has shape {getattr(self, name).shape}, expected {shape}")
        if len(self.layer_names) != L or not 1 <= self.k <= W:
            raise ValueError(f"SAEStack needs {L} layer names and 1 <= k <= {W}")

    @property
    def width(self) -> int:
        return self.enc.shape[1]

    def encode(self, depth: int, x: np.ndarray) -> np.ndarray:
        """(N, W) feature activations of (N, C) states at a depth (k non-zero per row)."""
        with torch.no_grad():
            return _encode(self._tensors(depth), torch.as_tensor(x, dtype=torch.float32), self.k).numpy()

    def decode(self, depth: int, acts: np.ndarray) -> np.ndarray:
        """(N, C) states rebuilt from (N, W) activations."""
        with torch.no_grad():
            return _decode(self._tensors(depth), torch.as_tensor(acts, dtype=torch.float32)).numpy()

    def direction(self, depth: int, feature: int) -> np.ndarray:
        """(C,) a feature's decoder direction in the residual stream's own units."""
        return (self.dec[depth][:, feature] * self.scale[depth]).astype(np.float32)

    def _tensors(self, d: int) -> dict[str, torch.Tensor]:
        t = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
        return {"enc": t(self.enc[d]), "b_enc": t(self.b_enc[d]), "dec": t(self.dec[d]), "b_dec": t(self.b_dec[d]),
                "scale": t(self.scale[d])}


def _encode(p: dict[str, torch.Tensor], x: torch.Tensor, k: int) -> torch.Tensor:
    pre = F.relu(((x - p["b_dec"]) / p["scale"]) @ p["enc"].T + p["b_enc"])  # (N, W)
    top = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter_(-1, top.indices, top.values)


def _decode(p: dict[str, torch.Tensor], acts: torch.Tensor) -> torch.Tensor:
    return (acts @ p["dec"].T) * p["scale"] + p["b_dec"]


def fit_depth(x: np.ndarray, config: SAEConfig) -> dict[str, np.ndarray]:
    """One TopK autoencoder on (N, C) states: Adam on the reconstruction's squared error; features that fired on
    none of the last 200 batches restart at the worst-rebuilt states (up to the final 20 % of the run)."""
    gen = torch.Generator().manual_seed(config.seed)
    data = torch.as_tensor(x, dtype=torch.float32)
    N, C = data.shape
    b_dec = data.mean(0)
    scale = ((data - b_dec).pow(2).sum(1).mean().sqrt() / np.sqrt(C)).clamp_min(1e-6)
    dec = F.normalize(torch.randn(C, config.width, generator=gen), dim=0)
    p = {"enc": dec.T.clone().requires_grad_(), "b_enc": torch.zeros(config.width, requires_grad=True),
         "dec": dec.requires_grad_(), "b_dec": b_dec.clone().requires_grad_(), "scale": scale}
    opt = torch.optim.Adam([p[n] for n in ("enc", "b_enc", "dec", "b_dec")], lr=config.lr)
    last_fired = torch.zeros(config.width, dtype=torch.long)
    for step in range(config.steps):
        batch = data[torch.randint(0, N, (config.batch,), generator=gen)]
        acts = _encode(p, batch, config.k)
        loss = ((_decode(p, acts) - batch) / scale).pow(2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            p["dec"].data = F.normalize(p["dec"].data, dim=0)
            last_fired[(acts > 0).any(0)] = step
            if step % 200 == 199 and step < 0.8 * config.steps:
                _restart_dead(p, data, step - last_fired >= 200, gen, config.k)
    return {n: p[n].detach().numpy().astype(np.float32) for n in ("enc", "b_enc", "dec", "b_dec")} | \
        {"scale": np.float32(scale.item())}


def _restart_dead(p: dict[str, torch.Tensor], data: torch.Tensor, dead: torch.Tensor, gen: torch.Generator,
                  k: int) -> None:
    """Point dead features at the states the autoencoder rebuilds worst (Towards Monosemanticity's resampling)."""
    n = int(dead.sum())
    if n == 0:
        return
    sample = data[torch.randint(0, len(data), (4096,), generator=gen)]
    err = (_decode(p, _encode(p, sample, k)) - sample) / p["scale"]
    worst = err.pow(2).sum(1).topk(min(n, len(sample))).indices
    dirs = F.normalize(err[worst], dim=1)  # (n, C)
    idx = torch.nonzero(dead).flatten()[: len(worst)]
    p["dec"].data[:, idx] = dirs.T
    p["enc"].data[idx] = dirs * 0.2
    p["b_enc"].data[idx] = 0.0


def fit_stack(states: np.ndarray, layer_names: list[str], config: SAEConfig) -> SAEStack:
    """One autoencoder per depth of (N, L, C) states."""
    fits = [fit_depth(states[:, d], config) for d in range(states.shape[1])]
    stack = lambda name: np.stack([f[name] for f in fits])  # noqa: E731
    return SAEStack(enc=stack("enc"), b_enc=stack("b_enc"), dec=stack("dec"), b_dec=stack("b_dec"),
                    scale=stack("scale").astype(np.float32), k=config.k, layer_names=list(layer_names))


@dataclass
class SAEScores:
    """How well each depth's autoencoder does on held-back states. fve: (L,) fraction of variance explained;
    l0: (L,) mean active features per state; dead: (L,) features that never fire; frequency: (L, W) share of
    states each feature fires on; clean_loss: the model's next-word loss; spliced_loss: (L,) the same with the
    depth's state replaced by its reconstruction; fit_seconds: training time of the whole stack."""

    fve: np.ndarray
    l0: np.ndarray
    dead: np.ndarray
    frequency: np.ndarray
    clean_loss: float
    spliced_loss: np.ndarray
    fit_seconds: float

    def __post_init__(self) -> None:
        L = len(self.fve)
        if self.l0.shape != (L,) or self.dead.shape != (L,) or self.spliced_loss.shape != (L,) or \
                self.frequency.ndim != 2 or len(self.frequency) != L:
            raise ValueError(f"SAEScores needs one value per depth ({L}) and frequency (L, W)")


def reconstruction_scores(sae: SAEStack, states: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """fve (L,), l0 (L,) and frequency (L, W) on (N, L, C) states."""
    fve, l0, freq = [], [], []
    for d in range(states.shape[1]):
        x = states[:, d]
        acts = sae.encode(d, x)
        err = ((sae.decode(d, acts) - x) ** 2).sum()
        fve.append(1.0 - err / ((x - x.mean(0)) ** 2).sum())
        fired = acts > 0
        l0.append(fired.sum(1).mean())
        freq.append(fired.mean(0))
    return np.array(fve), np.array(l0), np.array(freq)


@contextmanager
def spliced(model: LanguageModel, sae: SAEStack, depth: int) -> Iterator[None]:
    """The model's forward pass with the state at `depth` (0 embed ... n_layer + 1 final) replaced by its
    reconstruction."""
    sites = model_sites(model)
    module = sites.norm if depth == sites.n_layer + 1 else sites.embed if depth == 0 else sites.blocks[depth - 1]
    p = sae._tensors(depth)

    def hook(mod: torch.nn.Module, args: tuple, out: Any) -> Any:
        x = out[0] if isinstance(out, tuple) else out
        y = _decode(p, _encode(p, x.reshape(-1, x.shape[-1]).float(), sae.k)).reshape(x.shape).to(x.dtype)
        return (y,) + tuple(out[1:]) if isinstance(out, tuple) else y
    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def spliced_losses(ckpt: Checkpoint, sae: SAEStack, sentences: list[str]) -> tuple[float, np.ndarray]:
    """The mean next-word loss on sentences (each from position 0), clean and with each depth spliced."""
    model, tok = ckpt.model, ckpt.tokenizer
    model.eval()
    ids = [tok.encode_corpus([s])[: model.config.block_size] for s in sentences]
    by_len: dict[int, list[list[int]]] = {}
    for x in ids:
        if len(x) > 1:
            by_len.setdefault(len(x), []).append(x)

    def loss() -> float:
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in by_len.values():
                t = torch.tensor(batch, device=model.device)
                logits, _ = model(t[:, :-1])
                total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), t[:, 1:].reshape(-1),
                                         reduction="sum").item()
                count += t[:, 1:].numel()
        return total / count

    clean = loss()
    out = []
    for d in range(len(sae.layer_names)):
        with spliced(model, sae, d):
            out.append(loss())
    return clean, np.array(out)


def score_stack(ckpt: Checkpoint, sae: SAEStack, states: np.ndarray, sentences: list[str],
                fit_seconds: float) -> SAEScores:
    """SAEScores on held-back states and sentences."""
    fve, l0, freq = reconstruction_scores(sae, states)
    clean, spliced_loss = spliced_losses(ckpt, sae, sentences)
    return SAEScores(fve=fve, l0=l0, dead=(freq == 0).sum(1), frequency=freq, clean_loss=clean,
                     spliced_loss=spliced_loss, fit_seconds=fit_seconds)


def timed_fit(states: np.ndarray, layer_names: list[str], config: SAEConfig) -> tuple[SAEStack, float]:
    t0 = time.perf_counter()
    stack = fit_stack(states, layer_names, config)
    return stack, time.perf_counter() - t0
