"""Checkpoint folders: model.safetensors + config.json (+ snapshots, log), written atomically, validated on load.

Over 400 lines on purpose: the folder's format is one contract, written and read (with every check of a
file handed in) side by side, so that the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load as np_load_bytes
from safetensors.numpy import save as np_save_bytes

from llmcore import inputs
from llmcore.files import atomic_write, remove_own_file, remove_temp_leftovers
from llmcore.model.config import GPTConfig
from llmcore.model.protocols import Labeller, LanguageModel, ModelConfig
from llmcore.model.tokenizer import Tokenizer
from llmcore.world.load import world_from_dict
from llmcore.world.types import FUNCTION_CONTEXT, WorldError

if TYPE_CHECKING:
    from llmcore.model.gpt import GPT

FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
SNAPSHOTS = "snapshots.safetensors"
LOG = "train_log.jsonl"
LANDSCAPE = "landscape.safetensors"
RESUME_DIR = ".resume"
MAPS_DIR = "maps"  # the maps fitted for this checkpoint (llmcore.maps): shipped with it, or a cache
PENDING = ".new"  # suffix of a file written in full but not yet committed
RESUME_FILES = ("optimizer.safetensors", "state.json", "weights.safetensors")
WEIGHT_SNAPSHOTS = "weight_snapshots.safetensors"  # whole-model snapshots (llmcore.training.snapshots)
LENS = "lens.safetensors"  # the tuned lens fitted to these weights (llmcore.analysis.lens)
FEATURES = "features.safetensors"  # the autoencoders and probes fitted to them (llmcore.analysis.features)
FITTED_FILES = {LENS: "tuned_lens", FEATURES: "features"}  # file -> the metadata key that marks it as ours
REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_checkpoint() -> Path:
    """checkpoints/default of a source tree, or the copy an installed wheel carries next to the llmcore package
    (site-packages/llmcore_checkpoints/default)."""
    source = REPO_ROOT / "checkpoints" / "default"
    installed = REPO_ROOT / "llmcore_checkpoints" / "default"
    return installed if not (source / "config.json").is_file() and (installed / "config.json").is_file() else source


DEFAULT_CHECKPOINT = _default_checkpoint()
MAX_CONFIG_BYTES = 5_000_000


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the folder and the problem."""


@dataclass(kw_only=True)
class Checkpoint:
    """A loaded model with everything needed to read it: vocabulary, world, held-out pairs, metrics. `model` may
    be given as `Weights` (a checked weights file): it is read into a model when `model` is first used."""

    model: LanguageModel  # our GPT, or a Hugging Face model behind llmcore.model.hf
    tokenizer: Tokenizer
    world: Labeller  # a World, or word lists for a foreign vocabulary
    held_out: list[tuple[str, str]]
    train_config: dict[str, Any]
    metrics: dict[str, Any]
    path: Path | None = None
    content_hash: str = ""
    snapshot_steps: list[int] = field(default_factory=list)
    world_dict: dict[str, Any] = field(default_factory=dict, repr=False)
    files: dict[str, str] = field(default_factory=dict, repr=False)  # file name -> SHA-256 from config.json

    def __post_init__(self) -> None:
        self._model_lock = threading.Lock()

    @property
    def model_config(self) -> ModelConfig:
        """The model's shape (layers, heads, width, context), read without loading lazy weights."""
        return self.__dict__["_model"].config

    def _file(self, name: str) -> Path | None:
        """The committed copy of one of the checkpoint's files, or None if the checkpoint has none."""
        if self.path is None or name not in self.files:
            return None
        return committed_file(self.path, name, self.files[name])

    def context_matrix(self) -> tuple[list[str], np.ndarray]:
        """Sub-context names (taxonomy order, then 'grammar') and a (vocab, G) 0/1 matrix of word membership."""
        if not hasattr(self, "_context_matrix"):
            names = self.world.contexts + [FUNCTION_CONTEXT]
            m = np.zeros((len(self.tokenizer), len(names)), np.float32)
            for i, w in enumerate(self.tokenizer.vocab):
                m[i, names.index(self.world.label(w)[0])] = 1.0
            self._context_matrix = (names, m)
        return self._context_matrix

    def world_data(self) -> dict[str, Any]:
        """The world as parsed from its file (stored in config.json)."""
        return self.world_dict

    @property
    def name(self) -> str:
        return self.path.name if self.path else "(in memory)"

    def snapshots(self) -> np.ndarray:
        """Input-embedding matrices saved during training, (n_snapshots, vocab, n_embd) float32."""
        f = self._file(SNAPSHOTS)
        if f is None:
            return np.zeros((0, len(self.tokenizer), self.model_config.n_embd), np.float32)
        data = np_load_bytes(f.read_bytes())
        return data["wte"].astype(np.float32)

    def loss_landscapes(self) -> dict[str, LossLandscape]:
        """Loss landscapes computed at the end of training, by kind ('random', 'pca'); empty if none."""
        f = self._file(LANDSCAPE)
        return {} if f is None else load_landscapes(f)

    def train_log(self) -> list[dict[str, Any]]:
        """Evaluation records written during training, oldest first (a log that cannot be read counts as none)."""
        log = None if self.path is None else self.path / LOG
        if log is None or log.is_symlink() or not log.is_file() or log.stat().st_size > MAX_CONFIG_BYTES:
            return []
        try:
            records = [inputs.parse_json(line) for line in log.read_text().splitlines() if line.strip()]
        except (ValueError, UnicodeDecodeError):
            return []
        return [r for r in records if isinstance(r, dict)]


@dataclass(frozen=True)
class Weights:
    """A checkpoint's weights file, checked against its config (names and shapes in its header, its SHA-256 in
    config.json), read into a model when the model is first used: torch is imported then, not at the load."""

    config: GPTConfig
    path: Path

    def load(self) -> GPT:
        from llmcore.model.gpt import GPT

        model = GPT(self.config)
        _load_weights(model, self.path)
        return model.eval()


def _get_model(self: Checkpoint) -> LanguageModel:
    model = self.__dict__["_model"]
    if isinstance(model, Weights):
        with self._model_lock:  # two sessions may ask at once: one load
            model = self.__dict__["_model"]
            if isinstance(model, Weights):
                model = self.__dict__["_model"] = model.load()
    return model


def _set_model(self: Checkpoint, model: LanguageModel | Weights) -> None:
    self.__dict__["_model"] = model


Checkpoint.model = property(_get_model, _set_model, doc="the model (read from its Weights on first use)")


@dataclass(kw_only=True)
class LossLandscape:
    """Training loss on a plane of weight space. alphas: (n,), betas: (m,), loss: (m, n) with loss[j, i] at
    θ* + alphas[i]·d1 + betas[j]·d2; centre_loss: the loss at θ*. For kind 'pca' the plane is spanned by the first
    two principal directions of the saved weight snapshots and path: (T, 2) are those snapshots on it, with
    path_loss: (T,) and path_steps: (T,); `explained` is the variance share of the two directions.
    Computed by llmcore.maps.landscape; stored in a checkpoint's landscape.safetensors (landscapes_bytes)."""

    kind: str
    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray
    centre_loss: float
    path: np.ndarray
    path_loss: np.ndarray
    path_steps: np.ndarray
    explained: np.ndarray

    def __post_init__(self) -> None:
        if self.loss.shape != (len(self.betas), len(self.alphas)):
            raise ValueError(f"loss grid {self.loss.shape} does not match {len(self.betas)} x {len(self.alphas)}")
        if self.path.shape != (len(self.path_loss), 2) or len(self.path_steps) != len(self.path_loss):
            raise ValueError("path, path_loss and path_steps must describe the same snapshots")


def landscapes_bytes(landscapes: list[LossLandscape]) -> bytes:
    """Loss landscapes as one safetensors file (arrays, with the centre loss in the metadata)."""
    tensors, kinds = {}, {}
    for ls in landscapes:
        for k, v in asdict(ls).items():
            if isinstance(v, np.ndarray):
                tensors[f"{ls.kind}.{k}"] = np.ascontiguousarray(v)
        kinds[ls.kind] = {"centre_loss": ls.centre_loss}
    # one metadata key: safetensors writes its metadata map in a random order, so several keys would make the
    # bytes (and the file's hash) differ between two runs that computed the same landscapes
    return np_save_bytes(tensors, metadata={"landscapes": json.dumps(kinds)})


def load_landscapes(path: Path) -> dict[str, LossLandscape]:
    """Loss landscapes saved with a checkpoint, by kind ('random', 'pca'); `path` is a committed file, whose size
    and header were checked (committed_file)."""
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    parse = inputs.parse_json  # metadata is outside input too: nesting checked before parsing
    kinds = parse(meta["landscapes"]) if "landscapes" in meta else {k: parse(m) for k, m in meta.items()}
    out = {}
    for kind, m in kinds.items():  # files before the single key held one metadata key per kind
        arrays = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(kind + ".")}
        out[kind] = LossLandscape(kind=kind, centre_loss=m["centre_loss"], **arrays)
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(path: str | Path, *, model: GPT, tokenizer: Tokenizer, world_data: dict, held_out: list,
                    train_config: dict, metrics: dict, snapshots: list[np.ndarray] | None = None,
                    snapshot_steps: list[int] | None = None, log: list[dict] | None = None,
                    landscape: bytes | None = None, resume: dict[str, bytes] | None = None,
                    extra: dict[str, bytes] | None = None) -> Path:
    """Write a checkpoint folder so that a crash at any moment leaves a loadable one.

    Every file is first written in full as `<name>.new`; writing config.json, which records the SHA-256 of each
    file, is the commit; then the `.new` files are renamed into place. Whenever the process dies, config.json
    matches either the files in place or their `.new` versions, and loading picks whichever matches.
    `resume` holds the trainer's state files (under .resume/), committed in the same step; None removes them.
    `extra`: further files by name (the weight snapshots), committed alike.
    """
    path = Path(path)
    if path.is_dir():  # a link inside the folder would send these writes elsewhere
        check_links(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    from safetensors.torch import save as torch_save_bytes

    blobs = {WEIGHTS: torch_save_bytes(state)}
    if snapshots:
        blobs[SNAPSHOTS] = np_save_bytes({"wte": np.stack(snapshots).astype(np.float16)})
    if landscape is not None:
        blobs[LANDSCAPE] = landscape
    for name, data in (resume or {}).items():
        blobs[f"{RESUME_DIR}/{name}"] = data
    blobs.update(extra or {})
    _write_pending(path, blobs)
    config = {
        "format_version": FORMAT_VERSION, "model_config": model.config.to_dict(), "vocab": tokenizer.vocab,
        "world": world_data, "world_hash": world_from_dict(world_data).content_hash,
        "held_out": [list(p) for p in held_out], "train_config": train_config, "metrics": metrics,
        "snapshot_steps": list(snapshot_steps or []),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in blobs.items()},
    }
    try:
        atomic_write(path / CONFIG, json.dumps(config, indent=1).encode())  # the commit point
    except BaseException:
        _remove_pending(path, blobs)
        raise
    for name in blobs:
        os.replace(path / (name + PENDING), path / name)
    for name in (LANDSCAPE, WEIGHT_SNAPSHOTS):
        if name not in blobs:  # a landscape or snapshots of other weights must not stay behind
            remove_own_file(path / name)
    if resume is None:
        _remove_resume(path)
    if log is not None:
        atomic_write(path / LOG, "".join(json.dumps(r) + "\n" for r in log).encode())
    return path


def _write_pending(path: Path, blobs: dict[str, bytes]) -> None:
    """Write every blob as `<name>.new`; if one fails (a full disk), none of them is left behind."""
    for folder in {path, path / RESUME_DIR}:
        remove_temp_leftovers(folder)  # what an earlier, interrupted write left
    try:
        for name, data in blobs.items():
            atomic_write(path / (name + PENDING), data)
    except BaseException:
        _remove_pending(path, blobs)
        raise


def _remove_pending(path: Path, blobs: dict[str, bytes]) -> None:
    for name in blobs:
        remove_own_file(path / (name + PENDING))


def _remove_resume(path: Path) -> None:
    """Delete the trainer's resume files (only those names), and .resume/ itself once it is empty."""
    for name in RESUME_FILES:
        for suffix in ("", PENDING):
            remove_own_file(path / RESUME_DIR / (name + suffix))
    remove_temp_leftovers(path / RESUME_DIR)
    try:
        (path / RESUME_DIR).rmdir()
    except OSError:  # absent, or holding files that are not ours
        pass


def committed_file(path: Path, name: str, digest: str) -> Path:
    """The copy of a checkpoint file whose content matches config.json: in place, or a `.new` one that a crash
    left before its rename. Raises CheckpointError if neither matches. Sizes are checked before hashing."""
    problem = None
    for candidate in (path / name, path / (name + PENDING)):
        if candidate.is_symlink():
            raise CheckpointError(f"{candidate}: is a symbolic link; a checkpoint may hold only plain files")
        if not candidate.is_file():
            continue
        problem = _size_problem(candidate)
        if problem is None and sha256_file(candidate) == digest:
            return candidate
    if not (path / name).is_file():
        raise CheckpointError(f"{path}: {name} is missing")
    raise CheckpointError(f"{path / name}: " + (problem or f"content does not match the hash in {CONFIG}; the file "
                                                "is truncated, corrupt or from another checkpoint"))


_HEADERS: dict[tuple, dict[str, Any]] = {}


def safetensors_header(path: Path) -> dict[str, Any]:
    """inputs.safetensors_header, parsed once per version of a file (a load checks a file's size, then its tensors
    against the config); the header returned is shared, never to be changed."""
    st = path.stat()
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _HEADERS:
        if len(_HEADERS) >= 64:
            _HEADERS.clear()
        _HEADERS[key] = inputs.safetensors_header(path)
    return _HEADERS[key]


def _size_problem(path: Path) -> str | None:
    """Why a file is too big to hash or (for safetensors) not the size its header declares; None if it is fine."""
    try:
        if path.suffix == ".safetensors":
            safetensors_header(path)
        elif path.stat().st_size > inputs.MAX_FILE_BYTES:
            raise inputs.InputError(f"is larger than {inputs.MAX_FILE_BYTES:,} bytes")
    except inputs.InputError as e:
        return str(e)
    return None


def check_links(path: Path) -> None:
    """Refuse symbolic links among the entries a checkpoint folder may hold (its files, their pending copies,
    .resume/ and what is in it, the maps/ cache), so that neither writing nor reading follows one out of it."""
    names = [CONFIG, LOG, RESUME_DIR, "maps", *FITTED_FILES]
    names += [n + s for n in (WEIGHTS, SNAPSHOTS, LANDSCAPE) for s in ("", PENDING)]
    names += [f"{RESUME_DIR}/{n}{s}" for n in RESUME_FILES for s in ("", PENDING)]
    try:
        inputs.check_no_links(path, names)
    except inputs.InputError as e:
        raise CheckpointError(str(e)) from None


def read_config(path: Path) -> dict[str, Any]:
    """config.json of a checkpoint folder, checked for version and required keys."""
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such checkpoint folder; train one with `llmcore train --out {path}`")
    check_links(path)
    cfg_path = path / CONFIG
    if not cfg_path.is_file():
        raise CheckpointError(f"{path}: {CONFIG} is missing; this is not a complete checkpoint")
    if cfg_path.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{cfg_path}: is larger than {MAX_CONFIG_BYTES:,} bytes; refusing to read it")
    try:
        cfg = inputs.parse_json(inputs.decode_text(cfg_path.read_bytes()))
    except (UnicodeDecodeError, inputs.InputError) as e:
        raise CheckpointError(f"{cfg_path}: {e}; the checkpoint is corrupt") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{cfg_path}: must hold a JSON object")
    version = cfg.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{cfg_path}: format_version {version!r} is not supported (this llmcore reads "
                              f"version {FORMAT_VERSION}); retrain with `llmcore train --out {path}` (add --world "
                              "FILE for your own world)")
    missing = [k for k in ("model_config", "vocab", "world", "held_out", "files") if k not in cfg]
    if missing:
        raise CheckpointError(f"{cfg_path}: missing keys {missing}")
    _check_types(cfg, cfg_path)
    allowed = {WEIGHTS, SNAPSHOTS, LANDSCAPE, WEIGHT_SNAPSHOTS} | {f"{RESUME_DIR}/{n}" for n in RESUME_FILES}
    for name in cfg["files"]:
        if name not in allowed:
            raise CheckpointError(f"{cfg_path}: refers to {name!r}; only {WEIGHTS}, {SNAPSHOTS}, {LANDSCAPE} "
                                  f"and {WEIGHT_SNAPSHOTS} are allowed")
    return cfg


CONFIG_TYPES = {"model_config": dict, "vocab": list, "world": dict, "held_out": list, "files": dict,
                "metrics": dict, "train_config": dict, "snapshot_steps": list}


def _check_types(cfg: dict, cfg_path: Path) -> None:
    """Each key of config.json has the type its readers expect (optional keys may be absent)."""
    for key, kind in CONFIG_TYPES.items():
        if key in cfg and not isinstance(cfg[key], kind):
            raise CheckpointError(f"{cfg_path}: [{key}] must be a {'table (JSON object)' if kind is dict else 'list'}"
                                  f", got {type(cfg[key]).__name__}")
    if not all(isinstance(v, str) for v in cfg["files"].values()):
        raise CheckpointError(f"{cfg_path}: [files] must map file names to SHA-256 hex digests")
    if not all(inputs.is_whole(s) and 0 <= s <= 10**8 for s in cfg.get("snapshot_steps", [])):
        raise CheckpointError(f"{cfg_path}: [snapshot_steps] must list whole numbers of steps")


def _check_held_out(held_out: Any, world: Labeller, tokenizer: Tokenizer, where: Path) -> None:
    """The held-out list must name (animal, food) pairs of the checkpoint's own world and vocabulary."""
    if not isinstance(held_out, list):
        raise CheckpointError(f"{where}: held_out must be a list of [animal, food] pairs")
    for pair in held_out:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(w, str) for w in pair)):
            raise CheckpointError(f"{where}: held_out entry {pair!r} is not an [animal, food] pair")
        animal, food = pair
        if animal not in world.animals or food not in tokenizer.stoi:
            raise CheckpointError(f"{where}: held_out pair {pair!r} names an animal or food that is not in the "
                                  "checkpoint's world; the checkpoint is inconsistent")


def is_hf_folder(path: str | Path) -> bool:
    """True for a folder written by `save_pretrained` (config.json with a model_type, and weights)."""
    p = Path(path)
    if not (p / "config.json").is_file():
        return False
    try:
        if (p / "config.json").stat().st_size > 5_000_000:
            return False
        data = inputs.parse_json(inputs.decode_text((p / "config.json").read_bytes()))  # nesting checked first
    except (ValueError, OSError):
        return False
    return isinstance(data, dict) and "model_type" in data and "format_version" not in data


def load_checkpoint(path: str | Path = DEFAULT_CHECKPOINT, *, lazy: bool = False) -> Checkpoint:
    """Load and validate a checkpoint folder; any problem raises CheckpointError naming it (for the weights at a
    training step, pass the result to llmcore.training.snapshots.at_step). lazy: everything is checked but the weights
    are read into the model when it is first used (torch imported then), so that a caller that needs only the
    vocabulary, the world or the maps does without torch; a weights file that then fails to read raises
    CheckpointError there."""
    path = Path(path)
    cfg = read_config(path)
    try:
        config = GPTConfig.from_dict(cfg["model_config"])
        tokenizer = Tokenizer(cfg["vocab"])
        world = world_from_dict(cfg["world"], f"{path / CONFIG}:world")
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path / CONFIG}: {e}") from None
    if config.vocab_size != len(tokenizer):
        raise CheckpointError(f"{path}: model_config.vocab_size is {config.vocab_size} but the vocabulary has "
                              f"{len(tokenizer)} words; the checkpoint is inconsistent")
    _check_held_out(cfg["held_out"], world, tokenizer, path / CONFIG)
    if WEIGHTS not in cfg["files"]:
        raise CheckpointError(f"{path / CONFIG}: records no hash for {WEIGHTS}")
    weights = committed_file(path, WEIGHTS, cfg["files"][WEIGHTS])
    _check_declared_size(weights, config)
    tensor_checks = {SNAPSHOTS: _check_snapshots, WEIGHT_SNAPSHOTS: _check_weight_snapshots}
    for name in (SNAPSHOTS, LANDSCAPE, WEIGHT_SNAPSHOTS):
        if name in cfg["files"]:
            committed = committed_file(path, name, cfg["files"][name])
            if name in tensor_checks:  # names, shapes and dtypes against the config, before any tensor is read
                tensor_checks[name](committed, config)
    model = Weights(config, weights)
    return Checkpoint(model=model if lazy else model.load(), tokenizer=tokenizer, world=world,
                      held_out=[tuple(p) for p in cfg["held_out"]], train_config=cfg.get("train_config", {}),
                      metrics=cfg.get("metrics", {}), path=path,
                      content_hash=cfg["files"][WEIGHTS][:16], snapshot_steps=cfg.get("snapshot_steps", []),
                      world_dict=cfg["world"], files=cfg["files"])


WEIGHT_DTYPES = ("F32",)  # the model's weights: what save_checkpoint writes and the model computes in
SNAPSHOT_DTYPES = ("F16", "F32")  # embedding and whole-model snapshots: float16 (float32 read too)
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
               "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8}
DTYPE_NAMES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64"}


def tensor_problem(info: Any, shape: list[int], dtypes: tuple[str, ...]) -> str | None:
    """Why one tensor's header entry is not a tensor of this shape and one of these dtypes, with data of exactly
    that many bytes (a weight re-labelled I32 is refused here, before any tensor is read); None if it is."""
    if not isinstance(info, dict):
        return "has no dtype, shape and data_offsets"
    if info.get("shape") != list(shape):
        return f"has shape {info.get('shape')}, the config needs {tuple(shape)}"
    dtype = info.get("dtype")
    if dtype not in dtypes:
        allowed = " or ".join(f"{DTYPE_NAMES.get(d, d)} ({d})" for d in dtypes)
        return f"has dtype {dtype!r}; it must be {allowed}"
    offsets = info.get("data_offsets")
    size = math.prod(shape) * DTYPE_BYTES[dtype]  # the shape is the config's: whole numbers
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] and offsets[1] - offsets[0] == size):
        return f"has data_offsets {offsets!r}; a {dtype} tensor of shape {tuple(shape)} takes {size:,} bytes"
    return None


def _check_tensors(path: Path, header: dict, expected: dict[str, tuple[int, ...]], dtypes: tuple[str, ...]) -> None:
    """The tensors of a safetensors header are exactly `expected` (name -> shape), each of one of `dtypes`."""
    declared = {k: t for k, t in header.items() if k != "__metadata__"}
    if set(declared) != set(expected):
        diff = sorted(set(declared) ^ set(expected))[:5]
        raise CheckpointError(f"{path}: tensor names do not match the model config (e.g. {diff})")
    for k, shape in expected.items():
        if (problem := tensor_problem(declared[k], list(shape), dtypes)) is not None:
            raise CheckpointError(f"{path}: tensor {k} {problem}")


def _check_declared_size(weights: Path, config: GPTConfig) -> None:
    """The weights file's header must name the config's tensors with their shapes, as float32 of the right byte
    size; checked before any tensor is made (the expected shapes are computed from the config, which allocates
    nothing)."""
    _check_tensors(weights, safetensors_header(weights), config.parameter_shapes(), WEIGHT_DTYPES)


MAX_SNAPSHOTS = 200  # TrainConfig.n_snapshots allows at most this many


def _check_snapshots(snapshots: Path, config: GPTConfig) -> None:
    """The embedding snapshots must be (n <= MAX_SNAPSHOTS, vocab, n_embd) float16 or float32, so reading them
    stays bounded and gives numbers."""
    header = safetensors_header(snapshots)
    t = header.get("wte")
    shape = t.get("shape") if isinstance(t, dict) else None
    if not (isinstance(shape, list) and len(shape) == 3 and shape[1:] == [config.vocab_size, config.n_embd]
            and inputs.is_whole(shape[0]) and 0 < shape[0] <= MAX_SNAPSHOTS):
        raise CheckpointError(f"{snapshots}: must hold 'wte' of shape (1 to {MAX_SNAPSHOTS}, {config.vocab_size}, "
                              f"{config.n_embd}), got {shape}")
    _check_tensors(snapshots, header, {"wte": tuple(shape)}, SNAPSHOT_DTYPES)


def _check_weight_snapshots(path: Path, config: GPTConfig) -> None:
    """Whole-model snapshots: tensors `<step>.<parameter>` (the config's parameters, the tied head left out), every
    step holding all of them, float16 or float32, at most MAX_SNAPSHOTS steps."""
    header = safetensors_header(path)
    shapes = config.parameter_shapes()
    steps = {k.split(".", 1)[0] for k in header if k != "__metadata__"}
    if len(steps) > MAX_SNAPSHOTS or not all(s.isdigit() and len(s) <= 9 for s in steps):
        raise CheckpointError(f"{path}: tensors must be named <step>.<parameter>, for at most {MAX_SNAPSHOTS} "
                              f"steps; got {len(steps)} prefixes, e.g. {sorted(steps)[:3]}")
    _check_tensors(path, header, {f"{s}.{k}": shape for s in steps for k, shape in shapes.items()}, SNAPSHOT_DTYPES)


def _load_weights(model: GPT, weights: Path) -> None:
    from safetensors.torch import load as torch_load_bytes

    try:
        state = torch_load_bytes(weights.read_bytes())
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{weights}: cannot be read as safetensors ({e})") from None
    expected = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    if set(state) != set(expected):
        diff = sorted(set(state) ^ set(expected))[:5]
        raise CheckpointError(f"{weights}: tensor names do not match the model config (e.g. {diff})")
    for k, want in expected.items():  # checked in the header before (a file changed since is caught here)
        if state[k].shape != want.shape or state[k].dtype != want.dtype:
            raise CheckpointError(f"{weights}: tensor {k} is {state[k].dtype} of shape {tuple(state[k].shape)}, "
                                  f"the config needs {want.dtype} of shape {tuple(want.shape)}")
    state["lm_head.weight"] = state["transformer.wte.weight"]
    model.load_state_dict(state, strict=True)


__all__ = ["Checkpoint", "CheckpointError", "WorldError", "load_checkpoint", "save_checkpoint", "atomic_write"]
