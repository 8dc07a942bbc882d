"""Training: a seeded loop with callbacks, periodic evaluation, embedding snapshots and resumable checkpoints.
Over 400 lines on purpose: the loop and the callback interface it calls are one contract (minGPT's pattern).

Run as `llmcore train` or `python -m llmcore train`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load as np_load
from safetensors.numpy import save as np_save
from safetensors.torch import load as torch_load_bytes
from safetensors.torch import save as torch_save_bytes
from torch.nn.utils import parameters_to_vector

from llmcore.analysis.evaluate import evaluate_quality
from llmcore.files import FolderLock
from llmcore.inputs import InputError
from llmcore.model.checkpoint import (
    CONFIG,
    RESUME_DIR,
    WEIGHT_SNAPSHOTS,
    Checkpoint,
    CheckpointError,
    committed_file,
    landscapes_bytes,
    load_checkpoint,
    read_config,
    save_checkpoint,
)
from llmcore.model.config import GPTConfig
from llmcore.model.gpt import GPT
from llmcore.model.threads import one_thread as torch_one_thread
from llmcore.model.tokenizer import Tokenizer
from llmcore.training.config import TrainConfig
from llmcore.training.folder import (
    RESUME_DTYPES,
    RESUME_MOMENTS,
    check_free_space,
    check_resume_tensors,
    check_training_folder,
    checkpoint_bytes,
    clear_fitted_files,
    resume_state,
)
from llmcore.training.losslandscape import eval_batch, path_loss_landscape, random_loss_landscape
from llmcore.training.snapshots import SnapshotRecorder, snapshot_schedule
from llmcore.training.warmstart import WARM_SENTENCES, WarmStart, focus_corpus
from llmcore.world.corpus import article, fix_articles
from llmcore.world.load import DEFAULT_WORLD, generate_corpus, load_world, read_world_data
from llmcore.world.types import World


class TrainCallback:
    """Hooks into the loop; the CLI's tqdm bar and the dashboard's progress bar are both callbacks."""

    def on_corpus(self, trainer: Trainer, done: int, total: int) -> None: ...  # before training: sentences made
    def on_train_start(self, trainer: Trainer) -> None: ...
    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None: ...
    def on_eval(self, trainer: Trainer, record: dict[str, Any]) -> None: ...
    def on_checkpoint(self, trainer: Trainer, path: Path) -> None: ...
    def on_phase(self, trainer: Trainer, phase: str) -> None: ...  # end-of-training work begins ('evaluation', ...)
    def on_warm_check(self, trainer: Trainer, record: dict[str, Any]) -> None: ...  # a warm run's bars measured
    def on_train_end(self, trainer: Trainer) -> None: ...


class TqdmCallback(TrainCallback):
    """A progress bar on stderr with the latest loss and evaluation figures; after the last step the step bar closes
    (its rate counts steps only) and each piece of end-of-training work is shown by name, then with its seconds."""

    phase: tuple[str, float] | None = None  # the piece of end-of-training work running, and when it began

    def on_corpus(self, trainer: Trainer, done: int, total: int) -> None:
        from tqdm.auto import tqdm

        if not hasattr(self, "corpus_bar"):
            self.corpus_bar = tqdm(total=total, desc="corpus", unit="sentence", unit_scale=True)
        self.corpus_bar.update(done - self.corpus_bar.n)
        if done >= total:
            self.corpus_bar.close()
            if total >= 200_000:  # reading a big corpus into tokens takes a while too (about 10 s per million)
                self.corpus_bar.write(f"tokenizing {total:,} sentences ...")

    def on_train_start(self, trainer: Trainer) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=trainer.config.steps, initial=trainer.step, desc="training", unit="step")

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        self.bar.update(1)
        if step % 20 == 0:
            self.bar.set_postfix(loss=f"{loss:.3f}")

    def on_eval(self, trainer: Trainer, record: dict[str, Any]) -> None:
        held = (f"  held-out {record['heldout_loss']:.3f}  habitat {record['habitat_mass']:.3f}  top1 "
                f"{record['habitat_top1']:.3f}" if "habitat_mass" in record else "  (no held-out pairs to measure)")
        self.bar.write(f"step {record['step']:>5}  val {record['val_loss']:.3f}{held}"
                       f"  diet {record['diet_share']:.3f}  nn {record['neighbour_purity']:.3f}"
                       f"  forms {record.get('inflection_neighbours', float('nan')):.3f}")

    def on_warm_check(self, trainer: Trainer, record: dict[str, Any]) -> None:
        figures = "  ".join(f"{k} {v:.3f}" for k, v in record.items() if isinstance(v, float) and k != "seconds")
        state = "every bar holds" if not record["failing"] else "failing: " + ", ".join(record["failing"])
        self.bar.write(f"step {record['step']:>5}  {figures}  ({state})")

    def on_phase(self, trainer: Trainer, phase: str) -> None:
        from tqdm.auto import tqdm

        self.bar.close()  # closing twice is harmless; the step bar's time ends with the steps
        self._end_phase()
        self.phase = (phase, time.perf_counter())
        if not hasattr(self, "phase_bar"):
            self.phase_bar = tqdm(total=None, desc=phase,
                                  bar_format="finishing: {desc} ({elapsed} since the last step)")
        self.phase_bar.set_description_str(phase)

    def _end_phase(self) -> None:
        if self.phase is not None:
            name, began = self.phase
            self.bar.write(f"  done: {name} in {time.perf_counter() - began:.1f} s")
            self.phase = None

    def on_train_end(self, trainer: Trainer) -> None:
        self.bar.close()
        self._end_phase()
        if hasattr(self, "phase_bar"):
            self.phase_bar.close()


@dataclass
class CorpusData:
    """Token ids of the training corpus with the offset of every sentence start."""

    tokens: np.ndarray  # (N,) int64
    starts: np.ndarray  # (S,) int64, sentence starts that leave room for a full window

    @classmethod
    def build(cls, tokenizer: Tokenizer, sentences: list[str], block_size: int) -> CorpusData:
        tokens = np.array(tokenizer.encode_corpus(sentences), dtype=np.int64)
        lengths = np.array([len(s.split()) for s in sentences])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return cls(tokens, starts[starts + block_size + 1 <= len(tokens)])

    def batch(self, rng: np.random.Generator, batch_size: int, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows that begin at sentence starts, as prompts do at inference."""
        s = self.starts[rng.integers(len(self.starts), size=batch_size)]
        idx = s[:, None] + np.arange(block_size + 1)[None, :]
        w = torch.from_numpy(self.tokens[idx])
        return w[:, :-1], w[:, 1:]


@torch.no_grad()
def sentence_loss(model: GPT, tokenizer: Tokenizer, sentences: list[str], batch: int = 256) -> float:
    """Mean next-token loss over whole sentences, each starting at position 0."""
    total, count = 0.0, 0
    for i in range(0, len(sentences), batch):
        ids = [tokenizer.encode_corpus([s]) for s in sentences[i:i + batch]]
        T = max(len(x) for x in ids)
        x = torch.zeros(len(ids), T - 1, dtype=torch.long)
        y = torch.full((len(ids), T - 1), -1, dtype=torch.long)
        for r, seq in enumerate(ids):
            x[r, :len(seq) - 1] = torch.tensor(seq[:-1])
            y[r, :len(seq) - 1] = torch.tensor(seq[1:])
        dev = model.lm_head.weight.device
        _, loss = model(x.to(dev), y.to(dev))
        n = int((y >= 0).sum())
        total, count = total + loss.item() * n, count + n
    return total / max(count, 1)


def heldout_sentences(world: World, pairs: list[tuple[str, str]]) -> list[str]:
    """Sentences of the compositions that training never sees (one per pair, verb and habitat, the habitat named
    the first way the world names it: 'in the forest', 'at home')."""
    return [" ".join(fix_articles(f"{article(a)} {a} {v} {f} {world.grammar.place_phrases(h)[0]} {h} .".split()))
            for a, f in pairs for v in world.recipe.eat_verbs for h in world.animals[a].habitats]


@dataclass
class TrainState:
    step: int = 0
    snapshots: list[np.ndarray] = field(default_factory=list)
    snapshot_steps: list[int] = field(default_factory=list)
    weights: list[np.ndarray] = field(default_factory=list)  # flat float16 weight vectors at the snapshot steps
    log: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of the process (all threads): the cost of training, whatever else runs


class Trainer:
    """Trains a GPT on a world's corpus and writes a checkpoint folder, resuming one that was interrupted."""

    def __init__(self, out_dir: str | Path, world_path: str | Path = DEFAULT_WORLD,
                 model_config: GPTConfig | None = None, config: TrainConfig | None = None, *,
                 callbacks: list[TrainCallback] | None = None, warm_from: Checkpoint | None = None) -> None:
        """`warm_from`: a model that knows most of the world (llmcore.training.warmstart): training starts from it,
        replays
        the changed entries more often and stops when the quality bars hold (`config.steps` is then the most)."""
        self.out_dir, self.world_path = check_training_folder(out_dir), Path(world_path)
        self.config = config or TrainConfig()
        self.callbacks = callbacks or []
        self.world, self.world_data = load_world(self.world_path), read_world_data(self.world_path)
        self.warm = WarmStart.prepare(warm_from, self.world, self.world_data, self.world_path) if warm_from else None
        if self.warm:
            self.world, self.world_data = self.warm.world, self.warm.world_data
        self.held_out = self.world.held_out_pairs()
        n = min(self.world.recipe.sentences, WARM_SENTENCES) if self.warm else None  # a few hundred steps' worth
        sentences = generate_corpus(self.world, self.config.corpus_seed, n, progress=self._corpus_progress)
        known = [" ".join(warm_from.tokenizer.vocab[1:])] if self.warm else []  # every word the base knows stays
        self.tokenizer = Tokenizer.from_sentences(sentences + known)
        base = warm_from.model_config if warm_from else (model_config or GPTConfig())
        self.model_config = GPTConfig(**{**base.to_dict(), "vocab_size": len(self.tokenizer)})
        if self.warm:
            sentences = focus_corpus(sentences, self.warm.change.words, self.world, seed=self.config.corpus_seed)
        self.data = CorpusData.build(self.tokenizer, sentences, self.model_config.block_size)
        self.val_sentences = generate_corpus(self.world, self.config.corpus_seed + 1, 2000)
        self.heldout = heldout_sentences(self.world, self.held_out)
        stoi = self.tokenizer.stoi
        pairs = [(stoi[a], stoi[b]) for a, b in self.world.inflection_pairs() if a in stoi and b in stoi]
        self.tie_pairs = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T
        self.rank, self.world_size, self.device = distributed_setup()
        torch.manual_seed(self.config.seed)
        self.model = (self.warm.model(self.tokenizer, seed=self.config.seed) if self.warm
                      else GPT(self.model_config)).to(self.device)
        self.net = self.model  # what the training step calls: the model itself, or its DDP wrapper
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.index
                                               is not None else None)
        if self.rank != 0:
            self.callbacks = []  # progress and checkpoints are rank 0's job
        if self.rank == 0:
            check_free_space(self.out_dir, checkpoint_bytes(self.model.num_params(), self.config.weight_snapshots))
        self.optimizer = self._make_optimizer()
        self.state = TrainState()
        self.weight_snaps = SnapshotRecorder(snapshot_schedule(self.config.steps, self.config.weight_snapshots))
        self.stop_requested = False
        self.converged = False  # a warm run whose bars all hold stops before config.steps

    @property
    def step(self) -> int:
        return self.state.step

    @property
    def finished(self) -> bool:
        """The run has done its work: every step, or (warm) until its bars held."""
        return self.state.step >= self.config.steps or self.converged

    def _corpus_progress(self, done: int, total: int) -> None:
        for cb in self.callbacks:
            cb.on_corpus(self, done, total)

    def request_stop(self) -> None:
        """Ask the loop to stop after the current step (it writes a resumable checkpoint first)."""
        self.stop_requested = True

    def _make_optimizer(self) -> torch.optim.Optimizer:
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": self.config.weight_decay}, {"params": no_decay, "weight_decay": 0}]
        return torch.optim.AdamW(groups, lr=self.config.lr, betas=(0.9, 0.95))

    def run(self) -> Checkpoint:
        """Train to the end (or until a stop is requested) and return the checkpoint written."""
        threads = torch.get_num_threads()
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        try:
            if self.rank != 0:
                return self._run()
            with FolderLock(self.out_dir, "a training run"):  # a second run into this folder is refused, naming us
                return self._run()
        finally:
            torch.set_num_threads(threads)  # a run must not change the thread count of its host (the dashboard)

    def _run(self) -> Checkpoint:
        self._maybe_resume()
        if self.state.step == 0 and self.rank == 0:
            clear_fitted_files(self.out_dir)  # a fresh run: a lens or features file of ours fits earlier weights
        for cb in self.callbacks:
            cb.on_train_start(self)
        self.model.train()
        t0 = time.perf_counter() - self.state.seconds
        last_write = time.monotonic()
        c0 = time.process_time() - self.state.cpu_seconds
        snap_at = set(self.config.snapshot_steps())
        if self.rank == 0 and self.warm and not self.warm.history:
            with one_thread():
                self.warm.check(self)  # where the run starts from: the bars before any step (it never stops here)
        while not self.finished and not self.stop_requested:
            step = self.state.step
            if step in snap_at and step not in self.state.snapshot_steps:
                self._snapshot(step)
            self._weight_snapshot(step)
            loss = self._train_step(step)
            self.state.step = step + 1
            self.state.seconds = time.perf_counter() - t0
            self.state.cpu_seconds = time.process_time() - c0
            for cb in self.callbacks:
                cb.on_step_end(self, step + 1, loss)
            if self.rank == 0 and self.warm and self.state.step % self.config.eval_every == 0:
                with one_thread():
                    self.converged = self.warm.check(self)  # the bars, measured cheaply; the full evaluation follows
            if self.rank == 0 and (self.state.step % self.config.eval_every == 0 or self.finished) \
                    and not (self.warm and not self.finished):
                if self.finished:
                    self.phase("evaluation")
                self._evaluate()
            due = (self.state.step % self.config.checkpoint_every == 0
                   or time.monotonic() - last_write >= self.config.checkpoint_seconds)  # whichever comes first
            if self.rank == 0 and due and not self.finished:
                self._write(final=False)
                last_write = time.monotonic()
        done = self.finished
        with one_thread():  # the end-of-training work, the callbacks' included: measures on small batches
            if done and self.state.step not in self.state.snapshot_steps:
                self._snapshot(self.state.step)
            if done:
                self._weight_snapshot(self.state.step)
            if self.rank == 0:
                self._write(final=done)
            for cb in self.callbacks:
                cb.on_train_end(self)
        if self.world_size > 1:
            torch.distributed.barrier()  # the others wait for rank 0's final checkpoint
        return load_checkpoint(self.out_dir)

    def _train_step(self, step: int) -> float:
        # the batch depends on (seed, step[, rank]) only, so a resumed run sees the batches it would have seen;
        # with N processes each takes 1/N of the batch, so the global batch and the schedule stay the same
        key = [self.config.seed, step] + ([self.rank] if self.world_size > 1 else [])
        size = max(1, self.config.batch_size // self.world_size)
        x, y = self.data.batch(np.random.default_rng(key), size, self.model_config.block_size)
        for g in self.optimizer.param_groups:
            g["lr"] = self.config.lr_at(step)
        _, loss = self.net(x.to(self.device), y.to(self.device))
        tie = self.config.inflection_tie and self.tie_pairs.shape[1]  # a world without plurals has nothing to tie
        total = loss + self.config.inflection_tie * self._tie_loss() if tie else loss
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return loss.item()

    def _tie_loss(self) -> torch.Tensor:
        """Mean 1 - cosine between the embeddings of a word and its inflected form ('cat' / 'cats', 'eats' / 'eat'):
        the world says they are one word, so their points should sit together on the word map."""
        e = self.model.transformer.wte.weight
        i, j = self.tie_pairs.to(e.device)
        return (1 - torch.nn.functional.cosine_similarity(e[i], e[j], dim=-1)).mean()

    def _snapshot(self, step: int) -> None:
        self.state.snapshots.append(self.model.transformer.wte.weight.detach().cpu().numpy().copy())
        if self.config.landscape_grid:
            # kept as float16 values, as the resume file stores them: a resumed run then fits the same path plane
            vec = parameters_to_vector(self.model.parameters()).detach().cpu().numpy()
            self.state.weights.append(vec.astype(np.float16))
        self.state.snapshot_steps.append(step)

    def _weight_snapshot(self, step: int) -> None:
        """The whole model and its measures at the scheduled steps (rank 0's job: the weights are the same)."""
        if self.rank == 0 and self.weight_snaps.due(step):
            if self.finished:
                self.phase("the last weight snapshot and its measures")
            live = Checkpoint(model=self.model, tokenizer=self.tokenizer, world=self.world, held_out=self.held_out,
                              train_config={}, metrics={})
            with one_thread():
                self.weight_snaps.record(live, step)

    def _evaluate(self) -> None:
        self.model.eval()
        final = self.finished  # the control pairs are measured once, at the end
        with one_thread():
            quality = evaluate_quality(self.model, self.tokenizer, self.world, self.held_out, controls=final)
            record = {"step": self.state.step, "seconds": round(self.state.seconds, 2),
                      "tokens": self.state.step * self.config.batch_size * self.model_config.block_size,
                      "val_loss": sentence_loss(self.model, self.tokenizer, self.val_sentences), **quality.to_dict()}
            if self.heldout:  # a world that holds nothing out has no held-out loss to report
                record["heldout_loss"] = sentence_loss(self.model, self.tokenizer, self.heldout)
        self.model.train()
        self.state.log.append(record)
        for cb in self.callbacks:
            cb.on_eval(self, record)

    def _write(self, final: bool) -> None:
        metrics = dict(self.state.log[-1]) if self.state.log else {}
        metrics.update(complete=final, steps_done=self.state.step, train_seconds=round(self.state.seconds, 1),
                       train_cpu_seconds=round(self.state.cpu_seconds, 1),
                       corpus_tokens=int(len(self.data.tokens)), parameters=self.model.num_params())
        if self.warm:
            metrics["warm_start"] = self.warm.summary(converged=self.converged)
        if final:
            self.phase("writing the checkpoint")
        self._save(metrics, final)
        for cb in self.callbacks:
            cb.on_checkpoint(self, self.out_dir)
        if final and self.config.landscape_grid:  # after the model is saved and usable: a second commit adds them
            self.phase("loss landscapes")
            self._save(metrics, final, landscape=self._landscapes())

    def _save(self, metrics: dict[str, Any], final: bool, landscape: bytes | None = None) -> None:
        try:
            save_checkpoint(self.out_dir, model=self.model, tokenizer=self.tokenizer, world_data=self.world_data,
                            held_out=self.held_out, train_config=self._config_record(), metrics=metrics,
                            snapshots=self.state.snapshots, snapshot_steps=self.state.snapshot_steps,
                            log=self.state.log, landscape=landscape,
                            resume=None if final else self._resume_blobs(), extra=self._weight_snapshot_blobs())
        except (OSError, InputError) as e:
            kept = ("the last checkpoint written there is intact" if (self.out_dir / CONFIG).is_file()
                    else "no checkpoint was written there")
            raise CheckpointError(f"{self.out_dir}: cannot write the checkpoint at step {self.state.step} "
                                  f"({getattr(e, 'strerror', None) or e}); {kept}") from None

    def phase(self, phase: str) -> None:
        """Tell the callbacks that a piece of end-of-training work begins (a callback's own work too)."""
        release_freed_memory()
        for cb in self.callbacks:
            cb.on_phase(self, phase)

    def _weight_snapshot_blobs(self) -> dict[str, bytes]:
        raw = self.weight_snaps.to_bytes()
        return {WEIGHT_SNAPSHOTS: raw} if raw else {}

    def _landscapes(self) -> bytes:
        """Loss landscapes around the final weights (random plane and the training path's PCA plane)."""
        batch = eval_batch(self.world, self.tokenizer, self.model_config.block_size)
        n = self.config.landscape_grid
        kinds = [random_loss_landscape(self.model, batch, n=n, seed=self.config.seed)]
        if len(self.state.weights) >= 3:
            kinds.append(path_loss_landscape(self.model, batch, self.state.weights,
                                             self.state.snapshot_steps, n=n))
        return landscapes_bytes(kinds)

    def _config_record(self) -> dict[str, Any]:
        return {**asdict(self.config), "world_file": self.world_path.name}

    def _resume_blobs(self) -> dict[str, bytes]:
        """The optimizer state, the weight snapshots and the step: what resuming needs beyond the checkpoint."""
        opt = self.optimizer.state_dict()
        tensors = {f"{i}.{k}": v.contiguous() for i, s in opt["state"].items() for k, v in s.items()}
        meta = {"step": self.state.step, "seconds": self.state.seconds, "cpu_seconds": self.state.cpu_seconds,
                "train_config": self._config_record(),
                "model_config": self.model_config.to_dict(), "world_hash": self.world.content_hash}
        blobs = {"optimizer.safetensors": torch_save_bytes(tensors), "state.json": json.dumps(meta).encode()}
        if self.state.weights:
            blobs["weights.safetensors"] = np_save({"w": np.stack(self.state.weights)})
        return blobs

    def _maybe_resume(self) -> None:
        """Continue an interrupted run in out_dir (its config.json names the resume files and their hashes)."""
        if not (self.out_dir / CONFIG).is_file():
            return
        cfg = read_config(self.out_dir)
        resume = {n: self.out_dir / RESUME_DIR / n for n in ("optimizer.safetensors", "state.json")}
        keys = {n: f"{RESUME_DIR}/{n}" for n in resume}
        metrics = cfg.get("metrics", {})
        if metrics.get("complete") or not all(k in cfg["files"] for k in keys.values()):
            return
        files = {n: committed_file(self.out_dir, k, cfg["files"][k]) for n, k in keys.items()}
        meta = resume_state(files["state.json"])
        same = (meta["train_config"] == self._config_record() and meta["model_config"] == self.model_config.to_dict()
                and meta["world_hash"] == self.world.content_hash and metrics.get("steps_done") == meta["step"])
        if not same:
            raise CheckpointError(f"{self.out_dir}: holds an interrupted run with other settings or another world; "
                                  "resume with the same settings or choose another --out folder")
        w_key = f"{RESUME_DIR}/weights.safetensors"
        w_file = committed_file(self.out_dir, w_key, cfg["files"][w_key]) if w_key in cfg["files"] else None
        self._check_resume_files(files["optimizer.safetensors"], w_file, len(cfg.get("snapshot_steps", [])))
        ckpt = load_checkpoint(self.out_dir)
        self.model.load_state_dict(ckpt.model.state_dict())
        self._load_optimizer(files["optimizer.safetensors"])
        w = list(np_load(w_file.read_bytes())["w"].astype(np.float16)) if w_file is not None else []
        self.state = TrainState(step=meta["step"], snapshots=list(ckpt.snapshots()),
                                snapshot_steps=list(ckpt.snapshot_steps), weights=w, log=ckpt.train_log(),
                                seconds=meta["seconds"], cpu_seconds=meta.get("cpu_seconds", 0.0))
        if WEIGHT_SNAPSHOTS in cfg["files"]:
            self.weight_snaps.restore(committed_file(self.out_dir, WEIGHT_SNAPSHOTS, cfg["files"][WEIGHT_SNAPSHOTS]))

    def _check_resume_files(self, optimizer: Path, weights: Path | None, n_snapshots: int) -> None:
        """Every tensor of the resume files named, shaped and typed as this model's, before any is read: AdamW's
        step, exp_avg and exp_avg_sq of each parameter (float32), and one float16 vector of all the weights per
        snapshot taken; raises CheckpointError naming the file and the tensor."""
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        expected = {f"{i}.{k}": (() if k == "step" else tuple(p.shape))
                    for i, p in enumerate(params) for k in RESUME_MOMENTS}
        check_resume_tensors(optimizer, expected, RESUME_DTYPES["optimizer"])
        if weights is not None:
            n_weights = sum(p.numel() for p in params)
            check_resume_tensors(weights, {"w": (n_snapshots, n_weights)}, RESUME_DTYPES["weights"])

    def _load_optimizer(self, path: Path) -> None:
        tensors = torch_load_bytes(path.read_bytes())
        opt = self.optimizer.state_dict()
        params = [p for g in opt["param_groups"] for p in g["params"]]
        opt["state"] = {i: {k.split(".", 1)[1]: v for k, v in tensors.items() if k.split(".", 1)[0] == str(i)}
                        for i in params}
        self.optimizer.load_state_dict(opt)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


def release_freed_memory() -> None:
    """Give the pages that freed arrays leave in the C heap back to the system (glibc's malloc_trim; elsewhere
    nothing). The measures and maps free tens of MB of arrays each; without this the heap keeps them, and the
    next piece of work's arrays add to them (bench/bench_end_of_training.py prints the peak RSS)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the measures, landscapes and maps (many operations on small batches) on one torch thread
    (llmcore.model.threads.one_thread), then hand the heap they freed back to the system."""
    try:
        with torch_one_thread():
            yield
    finally:
        release_freed_memory()


def distributed_setup() -> tuple[int, int, torch.device]:
    """(rank, world size, device) from torchrun's environment; starts the process group when there are several.

    `torchrun --nproc_per_node 2 -m llmcore train ...` needs no other change: gloo on CPUs, NCCL on GPUs, one
    GPU per process (LOCAL_RANK) when there are GPUs.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device
