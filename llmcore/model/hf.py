"""Local Hugging Face causal LMs (GPT-2 style, Llama style) behind the interface the tracer and the maps use.

Needs the optional extra: `pip install llm-landscape[hf]`. Nothing is downloaded: a model is loaded from a local
folder (`save_pretrained` output) with `local_files_only=True`. Sub-contexts for a foreign vocabulary come from a
small word-list file (TOML) mapped onto the model's tokens; see llmcore/data/hf_contexts.toml.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from llmcore.inputs import InputError, decode_text, parse_toml, read_bytes
from llmcore.model.caches import ActivationCache
from llmcore.model.checkpoint import Checkpoint, CheckpointError, is_hf_folder, safetensors_header  # noqa: F401 - re-exported
from llmcore.model.depths import EMBED_HOOK, FINAL_HOOK, pattern_hook, resid_hook
from llmcore.model.gpt import TracedLM
from llmcore.model.hooks import decoder_blocks, has_submodule, hf_sites
from llmcore.model.protocols import Sites
from llmcore.model.tokenizer import Encoding
from llmcore.world.types import FUNCTION_CONTEXT, Animal

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_CONTEXTS = Path(__file__).parents[1] / "data" / "hf_contexts.toml"
MAX_CONTEXTS_BYTES = 4 << 20  # a word-list file
NORM_PATHS = ("transformer.ln_f", "model.norm", "gpt_neox.final_layer_norm", "model.final_layernorm")
_MARKS = re.compile(r"^(Ġ|▁|##)+")


def _transformers() -> ModuleType:
    try:
        import transformers
    except ImportError as e:
        raise ImportError("Hugging Face models need the 'hf' extra: pip install 'llm-landscape[hf]'") from e
    return transformers


@dataclass
class TokenTaxonomy:
    """Sub-contexts of a foreign vocabulary: word lists, matched to tokens by their text without the sub-word
    marks (Ġ, ▁, ##) and lower-cased. A llmcore.model.protocols.Labeller, as a World is; it has no animals."""

    taxonomy: dict[str, dict[str, list[str]]]
    sentences: list[str]
    source: str = ""
    animals: dict[str, Animal] = field(default_factory=dict, init=False)  # word lists name no animal prompts
    content_hash: str = field(default="", init=False)
    _lookup: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._lookup = {w.lower(): c for c, groups in self.taxonomy.items() for ws in groups.values() for w in ws}
        self.content_hash = hashlib.sha256(repr(sorted(self._lookup.items())).encode()).hexdigest()[:16]

    @property
    def contexts(self) -> list[str]:
        return list(self.taxonomy)

    def label(self, token: str) -> tuple[str, str]:
        ctx = self._lookup.get(_MARKS.sub("", token).strip().lower())
        return (ctx, ctx) if ctx else (FUNCTION_CONTEXT, FUNCTION_CONTEXT)

    def words_of(self, context: str) -> list[str]:
        return [w for ws in self.taxonomy[context].values() for w in ws]

    def reference_sentences(self, seed: int, n: int) -> list[str]:
        """The file's sentences, repeated as needed (a foreign model has no corpus of ours)."""
        return [self.sentences[i % len(self.sentences)] for i in range(min(n, 20 * len(self.sentences)))]


def load_contexts(path: str | Path = DEFAULT_CONTEXTS) -> TokenTaxonomy:
    """A word-list file: [contexts] name = [words...] and optional [reference] sentences = [...]."""
    path = Path(path)
    try:
        data = parse_toml(decode_text(read_bytes(path, MAX_CONTEXTS_BYTES)))
        contexts = data["contexts"]
        assert isinstance(contexts, dict) and contexts and all(isinstance(v, list) for v in contexts.values())
    except (OSError, ValueError, KeyError, AssertionError) as e:  # InputError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path}: not a word-list file ([contexts] name = [words]): {e}") from None
    sentences = data.get("reference", {}).get("sentences") or [" ".join(ws) for ws in contexts.values()]
    return TokenTaxonomy({c: {c: [str(w) for w in ws]} for c, ws in contexts.items()}, list(sentences), str(path))


class HFTokenizer:
    """A Hugging Face tokenizer with the word tokenizer's interface; tokens keep their sub-word marks."""

    def __init__(self, tok: PreTrainedTokenizerBase, vocab_size: int) -> None:
        self.hf = tok
        names = tok.convert_ids_to_tokens(list(range(len(tok))))
        self.vocab = [str(t) for t in names] + [f"<unused {i}>" for i in range(len(names), vocab_size)]
        self.stoi = {t: i for i, t in enumerate(self.vocab)}
        for stop in (".", "Ġ."):
            if stop in self.stoi:
                self.stoi["."] = self.stoi[stop]
                break
        self.unk_id = tok.unk_token_id if tok.unk_token_id is not None else -1

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> Encoding:
        ids = self.hf.encode(text, add_special_tokens=False)
        unknown = [self.vocab[i] for i in ids if i == self.unk_id]
        return Encoding(ids, [self.vocab[i] for i in ids], unknown)

    def encode_corpus(self, sentences: list[str]) -> list[int]:
        return [i for s in sentences for i in self.encode(s).ids]

    def decode(self, ids: list[int]) -> str:
        return self.hf.decode(ids)


class HFCache:
    """The model's own KV cache object, with the length the generation loop asks for."""

    def __init__(self) -> None:
        self.past = None

    @property
    def length(self) -> int:
        return 0 if self.past is None else int(self.past.get_seq_length())


@dataclass(frozen=True)
class HFConfig:
    """The numbers of a Hugging Face model's config under the names llmcore.model.protocols.ModelConfig reads."""

    n_layer: int
    n_head: int
    n_embd: int
    block_size: int  # the model's positions, capped at 512
    vocab_size: int
    model_type: str

    @classmethod
    def of(cls, c: PretrainedConfig) -> HFConfig:
        n_pos = getattr(c, "n_positions", None) or getattr(c, "max_position_embeddings", 1024)
        return cls(n_layer=c.num_hidden_layers, n_head=c.num_attention_heads, n_embd=c.hidden_size,
                   block_size=int(min(n_pos, 512)), vocab_size=c.vocab_size, model_type=str(c.model_type))

    def to_dict(self) -> dict:
        return asdict(self)


class HFCausalLM(TracedLM):
    """A transformers causal LM as a llmcore.model.protocols.LanguageModel: forward(idx, targets=, cache=, capture=)
    filling an ActivationCache with `embed`, `blocks.{i}.resid_post` (the last one taken before the final norm),
    `ln_f` and the attention patterns."""

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.hf = model.eval()
        self.config = HFConfig.of(model.config)
        self.lm_head = model.get_output_embeddings()
        self.final_norm = next((model.get_submodule(p) for p in NORM_PATHS if has_submodule(model, p)), None)
        if self.final_norm is None:
            raise CheckpointError(f"{type(model).__name__}: cannot find the final norm ({', '.join(NORM_PATHS)})")
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self.blocks = decoder_blocks(model)  # a plain list: the modules are registered under self.hf
        self.train(False)

    def new_cache(self) -> HFCache:
        return HFCache()

    def input_embeddings(self) -> torch.Tensor:
        return self.hf.get_input_embeddings().weight

    def sites(self) -> Sites:
        return hf_sites(self.hf, self.final_norm, self.lm_head, self.config.n_head)

    def decode_residual(self, resid: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.final_norm(resid))

    @torch.no_grad()
    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, cache: HFCache | None = None,
                capture: ActivationCache | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        seen: dict = {}
        hooks = self._capture_hooks(seen, capture is not None)
        try:
            kw = {self._cache_kw: cache.past} if cache is not None and cache.past is not None else {}
            out = self.hf(input_ids=idx, use_cache=cache is not None, output_hidden_states=capture is not None,
                          output_attentions=capture is not None, **kw)
        finally:
            for h in hooks:
                h.remove()
        if cache is not None:
            cache.past = out.get("cache", None) or out.get("past_key_values", None)
        if capture is not None:
            capture[EMBED_HOOK] = seen[EMBED_HOOK]
            for i in range(self.config.n_layer):
                capture[resid_hook(i)] = seen[i] if i < self.config.n_layer - 1 else seen["pre"]
            capture[FINAL_HOOK] = out.hidden_states[-1]
            for i, a in enumerate(out.attentions):
                capture[pattern_hook(i)] = a
        loss = None
        if targets is not None:
            loss = F.cross_entropy(out.logits.reshape(-1, out.logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return out.logits, loss

    def _capture_hooks(self, seen: dict, capture: bool) -> list:
        """Hooks that keep the final norm's input and, to capture, the residual stream as the blocks hand it on
        (after any intervention's hook)."""
        hooks = [self.final_norm.register_forward_hook(lambda m, args, out: seen.__setitem__("pre", args[0]))]
        if capture:
            hooks.append(self.blocks[0].register_forward_pre_hook(
                lambda m, args, kw: seen.__setitem__(EMBED_HOOK, args[0] if args else kw["hidden_states"]),
                with_kwargs=True))
            hooks += [b.register_forward_hook(lambda m, args, out, i=i: seen.__setitem__(
                i, out[0] if isinstance(out, tuple) else out)) for i, b in enumerate(self.blocks)]
        return hooks


FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")


def _check_weight_files(path: Path) -> None:
    """Each weights file of the folder passes the size guard, and its weights and biases are floating point:
    transformers casts a weight re-labelled I32 into the model without a word, and the model then says nonsense."""
    for f in sorted(path.glob("*.safetensors")):
        try:
            header = safetensors_header(f)
        except InputError as e:
            raise CheckpointError(f"{f}: {e}") from None
        for name, info in header.items():
            dtype = info.get("dtype") if isinstance(info, dict) else None
            if name.endswith((".weight", ".bias")) and dtype not in FLOAT_DTYPES:
                raise CheckpointError(f"{f}: tensor {name} has dtype {dtype!r}; a model's weights and biases must be "
                                      f"floating point ({', '.join(FLOAT_DTYPES)})")


def load_hf_checkpoint(path: str | Path, contexts: str | Path = DEFAULT_CONTEXTS) -> Checkpoint:
    """A local Hugging Face causal LM as a Checkpoint the tracer, the maps and the dashboard can use."""
    tf = _transformers()
    path = Path(path)
    if not is_hf_folder(path):
        raise CheckpointError(f"{path}: not a Hugging Face model folder (config.json with a model_type, weights)")
    _check_weight_files(path)
    try:
        model = tf.AutoModelForCausalLM.from_pretrained(path, local_files_only=True, attn_implementation="eager",
                                                        use_safetensors=True)
        tok = tf.AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot be loaded as a causal LM ({e})") from None
    weights = sorted(path.glob("*.safetensors"))
    digest = hashlib.sha256(b"".join(w.read_bytes()[:1 << 20] + str(w.stat().st_size).encode() for w in weights))
    adapter = HFCausalLM(model)
    return Checkpoint(model=adapter, tokenizer=HFTokenizer(tok, adapter.config.vocab_size),
                      world=load_contexts(contexts), held_out=[], train_config={},
                      metrics={"source": "huggingface", "model_type": model.config.model_type}, path=path,
                      content_hash=digest.hexdigest()[:16])
