"""Weight snapshots: the whole model at log-spaced training steps (float16), the quality measures of each, and
loading one as a normal Checkpoint.

One safetensors file holds every snapshot: tensors `<step>.<parameter>` in float16 and, in its metadata, the
steps and the measures taken at each (computed with llmcore.analysis.evaluate while training ran).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as np_save

from llmcore.analysis.evaluate import content_embeddings, held_out_breakdown, measure_diet, neighbour_purity
from llmcore.inputs import parse_json
from llmcore.model.checkpoint import WEIGHT_SNAPSHOTS, Checkpoint, CheckpointError, committed_file
from llmcore.model.gpt import GPT

GENERALISED_TOP1 = 0.95  # "generalisation appears" at the first snapshot whose held-out top-1 reaches this
HELD_OUT_FORMS = "plain"  # the held-out prompts each new snapshot measures (see measure_snapshot)
FORMS = ("plain", "all")  # the held-out prompt sets a snapshot's measures may cover
SEPARABILITY_POSITIONS = 1200  # reference positions per snapshot for the k-NN separability (half fit, half test)


def snapshot_schedule(steps: int, n: int) -> list[int]:
    """Step 0, then n-1 steps log-spaced up to `steps` (dense early, when most of the change happens)."""
    if n <= 1:
        return [steps] if n == 1 else []
    later = np.geomspace(max(1.0, steps / 80), steps, n - 1)
    return sorted({0, steps, *(int(round(s)) for s in later)})


@dataclass(kw_only=True)
class SnapshotMetrics:
    """Quality of the model at one snapshot step. separability: (L,) k-NN accuracy of each depth's sub-contexts."""

    step: int
    habitat_mass: float  # held-out prompts: probability on the animal's habitats
    habitat_top1: float  # held-out prompts: share whose likeliest location is a habitat
    food_place_mass: float  # held-out prompts: probability on the food's own places (the wrong generalisation)
    diet_share: float
    neighbour_purity: float
    separability: list[float]
    layer_names: list[str]
    held_out_forms: str = "all"  # which held-out prompts were measured: "plain" forms only, or "all" (older runs)

    def __post_init__(self) -> None:
        _check_forms(self.held_out_forms)  # read from a file: checked before it is shown anywhere

    def to_dict(self) -> dict:
        return asdict(self)


def region_separability(ckpt: Checkpoint, n_positions: int = SEPARABILITY_POSITIONS) -> tuple[list[str], list[float]]:
    """Per depth: share of held-out reference states whose k nearest states (the regions' classifier) name their
    own sub-context. Reference positions alternate between the fitted half and the tested half."""
    from llmcore.analysis.reference import SubContextClassifier, reference_states

    was_training = ckpt.model.training
    ref = reference_states(ckpt, n_positions)
    ckpt.model.train(was_training)
    labels = np.asarray(ref.contexts, str)
    fit, test = np.arange(0, len(labels), 2), np.arange(1, len(labels), 2)
    scores = []
    for i in range(len(ref.layer_names)):
        X = ref.layer(i)
        clf = SubContextClassifier().fit(X[fit], labels[fit])
        scores.append(float(np.mean(clf.predict(X[test]) == labels[test])))
    return ref.layer_names, scores


def _check_forms(value: object) -> None:
    if value not in FORMS:
        raise ValueError(f"held_out_forms must be 'plain' or 'all', not {str(value)[:40]!r}")


def measure_snapshot(ckpt: Checkpoint, step: int, *, held_out_forms: str = HELD_OUT_FORMS) -> SnapshotMetrics:
    """Every stored measure of the model as it is now, with llmcore.analysis.evaluate's functions. held_out_forms:
    "plain"
    measures the held-out pairs in their plain form only ('a dog devours pizza in the', a tenth of all forms: the
    snapshots' measures then cost a fraction of the training), "all" every form (checkpoints trained before)."""
    _check_forms(held_out_forms)  # before any work
    model = ckpt.model
    was_training = model.training
    model.eval()
    b = held_out_breakdown(model, ckpt.tokenizer, ckpt.world, ckpt.held_out, plain=held_out_forms == "plain")
    diet = measure_diet(model, ckpt.tokenizer, ckpt.world)
    _, emb, labels = content_embeddings(model, ckpt.tokenizer, ckpt.world)
    names, sep = region_separability(ckpt)
    model.train(was_training)
    mean = lambda a: float(np.mean(a)) if len(a) else 0.0  # noqa: E731
    return SnapshotMetrics(step=step, habitat_mass=mean(b.habitat_mass), habitat_top1=mean(b.top_is_habitat),
                           food_place_mass=mean(b.food_place_mass), diet_share=diet,
                           neighbour_purity=neighbour_purity(emb, labels), separability=sep, layer_names=names,
                           held_out_forms=held_out_forms)


def generalisation_step(metrics: list[SnapshotMetrics], threshold: float = GENERALISED_TOP1) -> int | None:
    """The first snapshot step whose held-out top-1 reaches the threshold, or None if none does."""
    return next((m.step for m in sorted(metrics, key=lambda m: m.step) if m.habitat_top1 >= threshold), None)


class SnapshotRecorder:
    """Collects float16 weights and measures at the scheduled steps during training; resumable from its file."""

    def __init__(self, steps: list[int]) -> None:
        self.steps = list(steps)
        self.weights: dict[int, dict[str, np.ndarray]] = {}
        self.metrics: dict[int, SnapshotMetrics] = {}
        self.seconds = 0.0  # time spent taking snapshots in this process (the benchmark reports it)
        self.map_seconds = 0.0  # time spent on the Watch training maps at the end of training (likewise)

    def due(self, step: int) -> bool:
        return step in self.steps and step not in self.weights

    def record(self, ckpt: Checkpoint, step: int) -> None:
        """Snapshot the model of `ckpt` (the trainer's live model) at `step`."""
        t0 = time.perf_counter()
        self.weights[step] = {k: v.detach().cpu().numpy().astype(np.float16)
                              for k, v in ckpt.model.state_dict().items() if k != "lm_head.weight"}
        if ckpt.model.lm_head.weight.device.type != "cpu":  # the measures run on a CPU copy (as the maps do)
            cpu = GPT(ckpt.model.config)
            cpu.load_state_dict(ckpt.model.state_dict())
            ckpt = replace(ckpt, model=cpu)
        self.metrics[step] = measure_snapshot(ckpt, step)
        self.seconds += time.perf_counter() - t0

    def to_bytes(self) -> bytes | None:
        if not self.weights:
            return None
        tensors = {f"{s}.{k}": v for s, w in self.weights.items() for k, v in w.items()}
        meta = {"steps": json.dumps(sorted(self.weights)),
                "metrics": json.dumps([self.metrics[s].to_dict() for s in sorted(self.weights)])}
        return np_save(tensors, metadata=meta)

    def restore(self, path: Path) -> None:
        """Take back the snapshots of an interrupted run (its checkpoint's committed file)."""
        steps, metrics = _read_meta(path)
        tensors = _read_tensors(path)
        self.metrics = {m.step: m for m in metrics}
        self.weights = {s: {k.split(".", 1)[1]: v for k, v in tensors.items() if k.split(".", 1)[0] == str(s)}
                        for s in steps}


def _read_meta(path: Path) -> tuple[list[int], list[SnapshotMetrics]]:
    """The steps and measures in a weight-snapshot file's metadata. `path` is a committed checkpoint file, whose
    size and header were checked before (checkpoint.committed_file)."""
    try:
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata() or {}
        return ([int(s) for s in parse_json(meta["steps"])],
                [SnapshotMetrics(**m) for m in parse_json(meta["metrics"])])
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: {WEIGHT_SNAPSHOTS} cannot be read ({e})") from None


def _read_tensors(path: Path, step: int | None = None) -> dict[str, np.ndarray]:
    """The tensors `<step>.<parameter>` of a weight-snapshot file: every step's, or only those of `step`."""
    try:
        with safe_open(path, framework="numpy") as f:
            return {k: f.get_tensor(k) for k in f.keys() if step is None or k.split(".", 1)[0] == str(step)}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: {WEIGHT_SNAPSHOTS} cannot be read ({e})") from None


def _snapshot_file(ckpt: Checkpoint) -> Path | None:
    files = getattr(ckpt, "files", {}) or {}
    if ckpt.path is None or WEIGHT_SNAPSHOTS not in files:
        return None
    return committed_file(ckpt.path, WEIGHT_SNAPSHOTS, files[WEIGHT_SNAPSHOTS])


def weight_snapshot_steps(ckpt: Checkpoint) -> list[int]:
    """Steps at which the checkpoint holds the whole model (empty for older checkpoints and foreign models)."""
    f = _snapshot_file(ckpt)
    return [] if f is None else _read_meta(f)[0]


def snapshot_metrics(ckpt: Checkpoint) -> list[SnapshotMetrics]:
    """The measures stored at every weight snapshot, oldest first (empty without snapshots)."""
    f = _snapshot_file(ckpt)
    return [] if f is None else _read_meta(f)[1]


def at_step(ckpt: Checkpoint, step: int) -> Checkpoint:
    """The checkpoint with the weights it had at a snapshot step: a new Checkpoint, its own content hash."""
    f = _snapshot_file_or_error(ckpt)
    steps, metrics = _read_meta(f)
    if step not in steps:
        raise CheckpointError(f"{ckpt.path}: no weight snapshot at step {step}; snapshots are at steps "
                              f"{', '.join(map(str, steps))}")
    return _checkpoint_at(ckpt, f, step=step, metrics=metrics, tensors=_read_tensors(f, step))


def snapshot_checkpoints(ckpt: Checkpoint) -> list[Checkpoint]:
    """Every snapshot as a Checkpoint, oldest first, from one read of the snapshot file."""
    f = _snapshot_file_or_error(ckpt)
    steps, metrics = _read_meta(f)
    tensors = _read_tensors(f)
    return [_checkpoint_at(ckpt, f, step=s, metrics=metrics, tensors=tensors) for s in steps]


def _snapshot_file_or_error(ckpt: Checkpoint) -> Path:
    f = _snapshot_file(ckpt)
    if f is None:
        raise CheckpointError(f"{ckpt.path}: holds no weight snapshots (trained before they were saved, or not "
                              "trained by llmcore); train it again to scrub through training")
    return f


def _checkpoint_at(ckpt: Checkpoint, f: Path, *, step: int, metrics: list[SnapshotMetrics],
                   tensors: dict[str, np.ndarray]) -> Checkpoint:
    """The checkpoint with one step's weights, from the snapshot file's tensors (`<step>.<parameter>`)."""
    model = GPT(ckpt.model.config)
    state = {k.split(".", 1)[1]: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()
             if k.split(".", 1)[0] == str(step)}
    state["lm_head.weight"] = state["transformer.wte.weight"]
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{f}: snapshot at step {step} does not fit the model ({e})") from None
    model.eval()
    m = next(m for m in metrics if m.step == step).to_dict()
    measured = {k: v for k, v in m.items() if isinstance(v, float)}
    info = {"snapshot_step": step, "steps_done": step, "complete": False, **measured}
    return replace(ckpt, model=model, metrics=info, content_hash=f"{ckpt.content_hash}@{step}")
