"""The tuned lens (Belrose et al. 2023): one affine translator per depth, trained so that each depth's state, read
through the final norm and the head, matches the model's own output; stored beside the model as lens.safetensors.

Also what a lens reads from a trace's states (`LensReadings`) and the prediction depth: the first depth from which
the lens's top word is the final top word and stays so.

A little over 400 lines on purpose: the lens's fit, its file (written and checked on read) and its readings are one
contract, as the trace's are in llmcore.analysis.trace.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from llmcore.analysis.corpus_states import corpus_states
from llmcore.files import is_installed, user_cache_dir, write_into
from llmcore.inputs import InputError, Shaped, file_kind, parse_json, read_safetensors, safetensors_header
from llmcore.model.checkpoint import FITTED_FILES, LENS, Checkpoint, tensor_problem
from llmcore.model.depths import FINAL, depth_labels

if TYPE_CHECKING:
    import torch

    from llmcore.analysis.trace import GenerationTrace
    from llmcore.model.protocols import LanguageModel

LENS_FILE = LENS
LENS_FORMAT = 1
META_KEY = FITTED_FILES[LENS]  # the one metadata key (safetensors writes several keys in a random order)
LENSES = ("logit", "tuned")
EVAL_EVERY = 5  # every 5th distinct sentence is held back for the evaluation


class LensError(ValueError):
    """A lens file that cannot be used for this model; the message names the file and what to do."""


@dataclass
class LensReport:
    """KL(final ‖ lens) in nats, averaged over the positions of held-back sentences, at each of L depths.

    layer_names: the L depths; kl_logit / kl_tuned: (L,) float64, the logit lens and the tuned lens (equal where
    a depth has no translator); translated: (L,) bool, the depths read through a translator; n_train / n_eval:
    positions the lens was trained / evaluated on.
    """

    layer_names: list[str]
    kl_logit: np.ndarray
    kl_tuned: np.ndarray
    translated: np.ndarray
    n_train: int
    n_eval: int

    def __post_init__(self) -> None:
        L = len(self.layer_names)
        for name in ("kl_logit", "kl_tuned", "translated"):
            if getattr(self, name).shape != (L,):
                raise ValueError(f"LensReport.{name} must be ({L},), got {getattr(self, name).shape}")

    def to_dict(self) -> dict:
        """JSON-friendly: one row per depth."""
        rows = [{"depth": n, "kl_logit": round(float(a), 5), "kl_tuned": round(float(b), 5), "translated": bool(t)}
                for n, a, b, t in zip(self.layer_names, self.kl_logit, self.kl_tuned, self.translated)]
        return {"depths": rows, "train_positions": self.n_train, "eval_positions": self.n_eval}


@dataclass
class TunedLens:
    """Translators for the first D depths (embed, block 1 ... block n-1; the last block's state through the final
    norm is the output already). A state h at depth d < D is read as decode(h + h @ weight[d] + bias[d]).

    weight: (D, C, C) float32, zero at initialisation (the identity: the logit lens); bias: (D, C) float32;
    checkpoint: content hash of the weights it was fitted to; report: its KL figures; seconds: time to fit.
    """

    weight: np.ndarray
    bias: np.ndarray
    checkpoint: str
    report: LensReport
    seconds: float = 0.0

    def __post_init__(self) -> None:
        D, C = self.weight.shape[0], self.weight.shape[-1]
        if self.weight.shape != (D, C, C) or self.bias.shape != (D, C):
            raise ValueError(f"TunedLens: weight must be (D, C, C) and bias (D, C), got {self.weight.shape} and "
                             f"{self.bias.shape}")
        if D != int(self.report.translated.sum()):
            raise ValueError(f"TunedLens: {D} translators but the report marks {int(self.report.translated.sum())}")

    @property
    def n_translated(self) -> int:
        return self.weight.shape[0]

    def translate(self, hidden: np.ndarray) -> np.ndarray:
        """(..., L, C) states -> the same with the first D depths translated (NumPy; float32)."""
        out = np.array(hidden, np.float32, copy=True)
        D = self.n_translated
        head = out[..., :D, :]
        out[..., :D, :] = head + np.einsum("...dc,dce->...de", head, self.weight) + self.bias
        return out


# ---------------------------------------------------------------- the states it learns from
def lens_states(ckpt: Checkpoint, n_sentences: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """States (N, L, C) at every word of the world's sentences (analysis.corpus_states), on the model's device, the
    rows to train on, and the held-back states: every EVAL_EVERY-th distinct sentence is held back, so no held-back
    sentence is trained on. The training rows are indices, not a copy (issue 28: the run's peak memory)."""
    import torch

    cs = corpus_states(ckpt, n_sentences=n_sentences)
    distinct = list(dict.fromkeys(cs.sentences))
    held = {s for i, s in enumerate(distinct) if i % EVAL_EVERY == EVAL_EVERY - 1}
    back = np.array([cs.sentences[i] in held for i in cs.sentence])
    states = torch.from_numpy(cs.states).to(ckpt.model.device)
    return states, torch.from_numpy(np.flatnonzero(~back)).to(states.device), states[torch.from_numpy(back).to(
        states.device)]


def final_logp(model: LanguageModel, states: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """The model's own next-word log-probabilities (N, V) from the final depth's states (after the final norm),
    computed a few thousand rows at a time: the head's logits and their softmax never exist for all N at once."""
    out = None
    for a in range(0, len(states), chunk):
        part = model.lm_head(states[a:a + chunk, -1]).float().log_softmax(-1)
        out = part.new_empty((len(states), part.shape[-1])) if out is None else out
        out[a:a + chunk] = part
    return out if out is not None else model.lm_head(states[:, -1]).float().log_softmax(-1)


# ---------------------------------------------------------------- fitting
def _read(model: LanguageModel, states: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Log-probabilities (D, N, V) of the first D depths of states (N, L, C) through their translators."""
    import torch

    h = states[:, : weight.shape[0]].transpose(0, 1)  # (D, N, C)
    return model.decode_residual(h + torch.bmm(h, weight) + bias[:, None]).float().log_softmax(-1)


def _kl(target: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """KL(target ‖ logp) per leading index, averaged over positions: target (N, V), logp (..., N, V) -> (...)."""
    return (target.exp() * (target - logp)).sum(-1).mean(-1)


def fit_lens(ckpt: Checkpoint, *, n_sentences: int = 2000, steps: int = 150, batch: int = 512, lr: float = 1e-2,
             seed: int = 0, progress: Callable[[int, int], None] | None = None) -> TunedLens:
    """Fit a translator per depth below the last block by KL to the model's own output on its world's sentences,
    starting from the identity; measured against the logit lens on held-back sentences (TunedLens.report)."""
    import torch

    t0 = time.perf_counter()
    model, n_layer = ckpt.model, ckpt.model_config.n_layer
    was_training = model.training
    model.eval()
    try:
        states, train, held = lens_states(ckpt, n_sentences)
        C = states.shape[-1]
        weight = torch.zeros(n_layer, C, C, device=states.device, requires_grad=True)
        bias = torch.zeros(n_layer, C, device=states.device, requires_grad=True)
        opt = torch.optim.Adam([weight, bias], lr=lr)
        decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)  # linear to 0: no late overshoot
        gen = torch.Generator().manual_seed(seed)
        for step in range(steps):
            rows = train[torch.randint(len(train), (min(batch, len(train)),), generator=gen).to(states.device)]
            with torch.no_grad():  # the model's own output for these rows: no (N, V) array for every row at once
                target = final_logp(model, states[rows])
            loss = _kl(target, _read(model, states[rows], weight, bias)).sum()
            # gradients of the translators only: the model's own parameters never gather a .grad
            opt.zero_grad(set_to_none=True)
            weight.grad, bias.grad = torch.autograd.grad(loss, [weight, bias])
            opt.step()
            decay.step()
            if progress is not None:
                progress(step + 1, steps)
        report = _evaluate(ckpt, held, weight.detach(), bias.detach(), n_train=len(train))
    finally:
        model.train(was_training)
    return TunedLens(weight.detach().cpu().numpy(), bias.detach().cpu().numpy(), ckpt.content_hash, report,
                     seconds=time.perf_counter() - t0)


def measure_lens(ckpt: Checkpoint, lens: TunedLens, *, n_sentences: int = 2000) -> LensReport:
    """KL(final ‖ logit lens) and KL(final ‖ this lens) per depth on the held-back sentences of `lens_states` (the
    ones fit_lens never trains on)."""
    import torch

    *_, held = lens_states(ckpt, n_sentences)
    dev = held.device
    return _evaluate(ckpt, held, torch.from_numpy(lens.weight).to(dev), torch.from_numpy(lens.bias).to(dev),
                     n_train=lens.report.n_train)


def _evaluate(ckpt: Checkpoint, states: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, *,
              n_train: int, chunk: int = 512) -> LensReport:
    """KL(final ‖ logit lens) and KL(final ‖ tuned lens) at every depth over the held-back states (N, L, C), summed
    `chunk` rows at a time: no (N, V) array exists for every row at once (issue 28: the run's peak memory)."""
    import torch

    model = ckpt.model
    N, L, D = states.shape[0], states.shape[1], weight.shape[0]
    logit, tuned = torch.zeros(L, dtype=torch.float64), torch.zeros(L, dtype=torch.float64)
    with torch.no_grad():
        for a in range(0, N, chunk):
            part = states[a:a + chunk]
            target = final_logp(model, part)
            for d in range(L - 1):
                read = model.decode_residual(part[:, d]).float().log_softmax(-1)
                logit[d] += float(_kl(target, read)) * len(part)
            for d in range(D):
                tuned[d] += float(_kl(target, _read(model, part[:, d:d + 1], weight[d:d + 1], bias[d:d + 1]))[0]
                                  ) * len(part)
    logit, tuned = logit / max(N, 1), tuned / max(N, 1)
    tuned[D:] = logit[D:]
    return LensReport(depth_labels(ckpt.model_config.n_layer), logit.numpy(), tuned.numpy(), np.arange(L) < D,
                      n_train, N)


def lens_tensors(lens: TunedLens) -> dict[str, np.ndarray]:
    """The lens file's tensors: the translators and the KL figures."""
    r = lens.report
    return {"weight": lens.weight.astype(np.float32), "bias": lens.bias.astype(np.float32),
            "kl_logit": r.kl_logit.astype(np.float64), "kl_tuned": r.kl_tuned.astype(np.float64)}


def lens_metadata(lens: TunedLens) -> dict[str, str]:
    """The lens file's metadata: one key (safetensors writes several in a random order) naming the weights it was
    fitted to."""
    r = lens.report
    meta = {"format": LENS_FORMAT, "checkpoint": lens.checkpoint, "layer_names": r.layer_names,
            "train_positions": r.n_train, "eval_positions": r.n_eval, "seconds": round(lens.seconds, 2)}
    return {META_KEY: json.dumps(meta)}


def lens_bytes(lens: TunedLens) -> bytes:
    """The lens as one safetensors file."""
    from safetensors.numpy import save

    return save(lens_tensors(lens), metadata=lens_metadata(lens))


def lens_dirs(ckpt: Checkpoint) -> list[Path]:
    """Where a checkpoint's lens is looked for: beside the model, then in its folder of the user cache."""
    own = [ckpt.path] if ckpt.path is not None else []
    return own + [user_cache_dir() / ckpt.content_hash]


def write_dir(ckpt: Checkpoint) -> Path:
    """Where a newly fitted lens is written: beside the model when that folder can be written and is not part of
    an installed package, else the checkpoint's folder of the user cache."""
    own = ckpt.path
    if own is not None and own.is_dir() and not is_installed(own) and os.access(own, os.W_OK | os.X_OK):
        return own
    return user_cache_dir() / ckpt.content_hash


def save_lens(lens: TunedLens, folder: Path) -> Path:
    """Write the lens file into `folder` atomically (a link, FIFO or folder of that name is never replaced)."""
    return write_into(folder, LENS_FILE, lens_bytes(lens), LensError)


def read_lens(path: Path, ckpt: Checkpoint) -> TunedLens:
    """A lens file checked before anything is allocated: a regular file (no link, FIFO or device), its size and
    header, then tensor names, shapes and dtypes against the model, then the checkpoint it was fitted to; any
    problem raises LensError naming the file and the rule."""
    path = Path(path)
    kind = file_kind(path, follow=False)
    if kind != "a regular file":
        raise LensError(f"{path}: is {kind or 'missing'}; a lens file must be a regular file")
    try:
        header = safetensors_header(path)
        meta = _metadata(header)
    except InputError as e:
        raise LensError(f"{path}: {e}") from None
    c = ckpt.model_config
    if meta.get("checkpoint") != ckpt.content_hash:
        raise LensError(f"{path}: was fitted to the weights {meta.get('checkpoint')!r}, not these "
                        f"({ckpt.content_hash}); refit it with `llmcore lens {ckpt.path or 'FOLDER'}`")
    L = c.n_layer + 2
    expected = {"weight": ((c.n_layer, c.n_embd, c.n_embd), "F32"), "bias": ((c.n_layer, c.n_embd), "F32"),
                "kl_logit": ((L,), "F64"), "kl_tuned": ((L,), "F64")}
    declared = {k for k in header if k != "__metadata__"}
    if declared != set(expected):
        raise LensError(f"{path}: holds tensors {sorted(declared)[:6]}; a lens holds {sorted(expected)}")
    for name, (shape, dtype) in expected.items():
        if (problem := tensor_problem(header[name], list(shape), (dtype,))) is not None:
            raise LensError(f"{path}: tensor {name} {problem}")
    try:
        t, _ = read_safetensors(path)
    except (InputError, OSError, ValueError) as e:  # safetensors' own errors are ValueErrors or SafetensorError
        raise LensError(f"{path}: cannot be read ({e})") from None
    report = LensReport(list(meta["layer_names"]), t["kl_logit"], t["kl_tuned"], np.arange(L) < c.n_layer,
                        meta["train_positions"], meta["eval_positions"])
    return TunedLens(t["weight"], t["bias"], ckpt.content_hash, report, seconds=float(meta["seconds"]))


def _metadata(header: dict) -> dict:
    """The lens metadata of a safetensors header, with its keys' types checked; InputError when it is not ours."""
    raw = (header.get("__metadata__") or {}).get(META_KEY) if isinstance(header.get("__metadata__"), dict) else None
    if not isinstance(raw, str):
        raise InputError(f"is not a tuned lens (no {META_KEY!r} metadata); it was not written by `llmcore lens`")
    meta = parse_json(raw)
    kinds = {"format": int, "checkpoint": str, "layer_names": list, "train_positions": int, "eval_positions": int,
             "seconds": (int, float)}
    if not isinstance(meta, dict) or any(not isinstance(meta.get(k), t) for k, t in kinds.items()):
        raise InputError(f"{META_KEY} metadata must hold {', '.join(kinds)}")
    if meta["format"] != LENS_FORMAT:
        raise InputError(f"lens format {meta['format']} is not supported (this llmcore reads {LENS_FORMAT})")
    return meta


def find_lens(ckpt: Checkpoint) -> tuple[TunedLens, Path] | None:
    """The first lens file (see lens_dirs) fitted to these weights, with its path; None where there is none. Files
    that are stale (other weights) or not lenses are passed over, but when no usable one is found the first
    problem is raised (LensError), so a refused file is said, never silently ignored."""
    problem = None
    for path in (d / LENS_FILE for d in lens_dirs(ckpt)):
        if file_kind(path, follow=False) is None:
            continue
        try:
            return read_lens(path, ckpt), path
        except LensError as e:
            problem = problem or e
    if problem is not None:
        raise problem
    return None


def load_lens(ckpt: Checkpoint) -> TunedLens | None:
    """The checkpoint's lens (see find_lens), or None where it has none."""
    found = find_lens(ckpt)
    return None if found is None else found[0]


def ensure_lens(ckpt: Checkpoint, *, refit: bool = False, folder: Path | None = None) -> tuple[TunedLens, Path, bool]:
    """The checkpoint's lens, fitted and written into `folder` (default write_dir) when it has none fitted to these
    weights, or when `refit`. A lens of ours for other weights there is replaced; a file there that is not a lens
    of ours never is (LensError). Returns (lens, its file, whether it was fitted now)."""
    target = Path(folder if folder is not None else write_dir(ckpt)) / LENS_FILE
    if file_kind(target, follow=False) is not None and not _is_own(target):
        raise LensError(f"{target}: is not a tuned lens written by llmcore, so it is not replaced; move it away")
    if not refit:
        try:
            found = find_lens(ckpt)
        except LensError:  # only stale or foreign files elsewhere: fit a new one
            found = None
        if found is not None:
            return found[0], found[1], False
    lens = fit_lens(ckpt)
    return lens, save_lens(lens, target.parent), True


def _is_own(path: Path) -> bool:
    """A regular file with our lens metadata (for these weights or others): ours to replace."""
    try:
        if file_kind(path, follow=False) != "a regular file":
            return False
        _metadata(safetensors_header(path))
        return True
    except InputError:
        return False


# ---------------------------------------------------------------- what a lens reads from a trace
@dataclass
class LensReadings(Shaped):
    """What a lens reads from N states at L depths. lens: 'logit' or 'tuned'; top_ids / top_probs: (N, L, k) the
    likeliest next words at each depth; settled: (N,) prediction depth (see `prediction_depth`)."""

    lens: str
    layer_names: list[str]
    top_ids: np.ndarray
    top_probs: np.ndarray
    settled: np.ndarray
    SHAPES: ClassVar = {"layer_names": ("L",), "top_ids": ("N", "L", "k"), "top_probs": ("N", "L", "k"),
                        "settled": ("N",)}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lens not in LENSES:
            raise ValueError(f"LensReadings.lens must be one of {LENSES}, got {self.lens!r}")

    def settled_label(self, i: int) -> str:
        """The depth from which step i's answer is settled, by name."""
        return self.layer_names[int(self.settled[i])]


def prediction_depth(top_ids: np.ndarray) -> np.ndarray:
    """For (N, L) top word ids per depth, the first depth from which the top word equals the final depth's and
    stays so: (N,) int in 0 ... L-1 (L-1: only the final depth has it)."""
    same = top_ids == top_ids[:, -1:]  # (N, L); the last column is always true
    differs_after = np.flip(np.cumsum(np.flip(~same, 1), 1), 1)  # how many depths from d on disagree
    return (differs_after > 0).sum(1).astype(np.int64)


def trace_readings(trace: GenerationTrace, *, lens: TunedLens | None = None, ckpt: Checkpoint | None = None,
                   k: int = 5) -> LensReadings:
    """The logit lens (lens None: as the trace recorded it, no model needed) or the tuned lens (the model decodes
    the translated states) at every word step of a trace."""
    if lens is None:
        ids, probs = trace.lens_top_ids, trace.lens_top_probs
        return LensReadings("logit", list(trace.layer_names), ids, probs, prediction_depth(ids[:, :, 0]))
    if ckpt is None or lens.checkpoint != ckpt.content_hash:
        raise LensError("the tuned lens must be read with the model it was fitted to")
    ids, probs = decode_states(ckpt, lens.translate(trace.hidden), k=k)  # depths >= D: as they are
    return LensReadings("tuned", list(trace.layer_names), ids, probs, prediction_depth(ids[:, :, 0]))


def decode_states(ckpt: Checkpoint, states: np.ndarray, *, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """States (N, L, C) read through the final norm and the head (the last depth, after the norm, through the head
    alone): the k likeliest words' ids and probabilities, (N, L, k)."""
    import torch

    model = ckpt.model
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(states, np.float32)).to(model.device)
        logits = torch.cat([model.decode_residual(x[:, :-1]), model.lm_head(x[:, -1:])], dim=1)
        top = torch.topk(logits.float().softmax(-1), min(k, logits.shape[-1]), dim=-1)
    return top.indices.cpu().numpy(), top.values.cpu().numpy()


def settled_phrase(readings: LensReadings, i: int) -> str:
    """'settled at block 1' / 'settled from the embedding on' / 'settled only at the final depth', for step i."""
    name = readings.settled_label(i)
    if name == FINAL:
        return "settled only at the final depth"
    return f"settled at {name}"
