"""The model's shape: GPTConfig, checked before any tensor exists (a config from a file must not allocate
gigabytes before it fails), and read without torch (a checkpoint's config and files are checked before its
weights are loaded)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TypeVar

from llmcore.inputs import bounded, check_bounded, number_in_range

_Config = TypeVar("_Config")
MAX_PARAMS = 100_000_000  # 400 MB of float32 weights; the bundled model has under a million


@dataclass
class GPTConfig:
    """The model's shape, nanoGPT's names."""

    vocab_size: int = bounded(160, 1, 200_000)
    """Words the model knows (training sets it from the corpus)."""
    block_size: int = bounded(32, 1, 2048)
    """The most words it reads at once (the context window)."""
    n_layer: int = bounded(4, 1, 48)
    """Transformer blocks."""
    n_head: int = bounded(4, 1, 64)
    """Attention heads per block."""
    n_embd: int = bounded(128, 1, 4096)
    """The residual stream's width: every word's state is a point in this many dimensions."""
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self) -> None:
        # checked before any tensor exists: a config from a file must not allocate gigabytes before it fails
        check_bounded(self)
        self.dropout = number_in_range(self.dropout, "dropout", 0.0, 0.9)
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias must be true or false, got {self.bias!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if self.param_count() > MAX_PARAMS:
            raise ValueError(f"this config makes {self.param_count():,} parameters; at most {MAX_PARAMS:,} are "
                             "allowed")

    def param_count(self) -> int:
        """Parameters the model will have (tied embedding and head counted once), computed without building it."""
        C, b = self.n_embd, int(self.bias)
        # two layer norms, attention (qkv + projection), MLP (up + down)
        block = 2 * (C + C * b) + (4 * C * C + 4 * C * b) + (8 * C * C + 5 * C * b)
        return (self.vocab_size + self.block_size) * C + self.n_layer * block + C + C * b

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """The state dict's tensor shapes (the tied head left out), computed without building the model: a model
        on torch's meta device would cost seconds of one-time setup on the dashboard's first page."""
        C, V = self.n_embd, self.vocab_size
        layers = {"ln_1": (C,), "attn.c_attn": (3 * C, C), "attn.c_proj": (C, C), "ln_2": (C,),
                  "mlp.c_fc": (4 * C, C), "mlp.c_proj": (C, 4 * C)}
        shapes = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (self.block_size, C)}
        for i in range(self.n_layer):
            for name, shape in layers.items():
                shapes[f"transformer.h.{i}.{name}.weight"] = shape
                if self.bias:
                    shapes[f"transformer.h.{i}.{name}.bias"] = shape[:1]
        shapes["transformer.ln_f.weight"] = (C,)
        if self.bias:
            shapes["transformer.ln_f.bias"] = (C,)
        return shapes

    @classmethod
    def from_dict(cls, d: dict) -> GPTConfig:
        return from_dict(cls, d)

    def to_dict(self) -> dict:
        return asdict(self)


def from_dict(cls: type[_Config], d: dict) -> _Config:
    """Build a config dataclass, rejecting unknown keys so that typos fail loudly."""
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"{cls.__name__} got unknown keys {sorted(unknown)}; known keys are {sorted(known)}")
    return cls(**d)
