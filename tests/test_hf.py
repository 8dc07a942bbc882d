"""Hugging Face causal LMs: tiny random GPT-2 and Llama models, saved locally and loaded from there (no download)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("transformers", reason="the hf extra is not installed: pip install 'llm-landscape[hf]'")

from llmcore.analysis.trace import SamplingConfig, trace_generation  # noqa: E402
from llmcore.loader import any_checkpoint  # noqa: E402
from llmcore.maps.store import MapBook  # noqa: E402
from llmcore.model.checkpoint import is_hf_folder  # noqa: E402
from llmcore.model.hf import load_contexts, load_hf_checkpoint  # noqa: E402

from .charts import charts

TEXT = load_contexts().sentences * 3


def _tokenizer(folder):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(TEXT, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<eos>"],
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>")
    fast.save_pretrained(folder)
    return len(fast)


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def hf_folder(request, tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp(request.param)
    vocab = _tokenizer(folder)
    torch.manual_seed(0)
    if request.param == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=vocab, n_positions=64,
                                           bos_token_id=1, eos_token_id=1))
    else:
        model = LlamaForCausalLM(LlamaConfig(num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                             hidden_size=32, intermediate_size=64, vocab_size=vocab,
                                             max_position_embeddings=64, bos_token_id=1, eos_token_id=1))
    model.save_pretrained(folder)
    return folder


def test_trace_a_local_model(hf_folder):
    assert is_hf_folder(hf_folder)
    ck = any_checkpoint(hf_folder)
    t = trace_generation(ck, "the cat drinks milk at", SamplingConfig(max_new_words=5, stop_at_period=False))
    L = ck.model.config.n_layer + 2
    N = len(t.prompt_ids) - 1 + 5  # one word step per word read
    assert t.hidden.shape == (N, L, 32) and t.attention.shape[:3] == (N, 2, 2)
    assert any(w.startswith("Ġ") for w in t.prompt_words)  # sub-word tokens are shown as such
    np.testing.assert_allclose(t.attention.sum(-1), 1, atol=1e-4)
    np.testing.assert_allclose(t.context_probs.sum(1), 1, atol=1e-4)
    # the last block read through the model's own final norm and head is the model's output
    assert (t.lens_top_ids[:, -2, 0] == t.topk_ids[:, 0]).all()
    assert "animals" in t.context_names and ck.world.label("Ġcat")[0] == "animals"


def test_kv_cache_matches_a_full_forward(hf_folder):
    ck = load_hf_checkpoint(hf_folder)
    ids = ck.tokenizer.encode("the dog eats meat in the street").ids
    full = ck.model(torch.tensor([ids]))[0]
    cache = ck.model.new_cache()
    first = ck.model(torch.tensor([ids[:3]]), cache=cache)[0]
    rest = [ck.model(torch.tensor([[i]]), cache=cache)[0] for i in ids[3:]]
    torch.testing.assert_close(torch.cat([first] + rest, 1), full, atol=1e-4, rtol=1e-4)


def test_maps_of_a_local_model(hf_folder):
    ck = load_hf_checkpoint(hf_folder)
    book = MapBook(ck, cache_dir=hf_folder / "maps")
    m = book.get("context:final", "pca", 2)
    assert len(m.coords) > 50 and m.quality.trustworthiness > 0.5
    assert len(book.get("words", "pca", 2).coords) == len(ck.tokenizer) - 1  # all tokens but <unk>


def test_missing_extra_or_folder_is_explained(tmp_path):
    from llmcore.model.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="not a Hugging Face model folder"):
        load_hf_checkpoint(tmp_path)


# the charts each page draws for a foreign model at its defaults; Training (no training log or snapshots), Causes (the
# default prompt names no animal of the word lists) and the model card explain instead
CHARTS = {"trajectory": ["map", "contexts", "lens", "settled", "attention"], "story": ["scene1"],
          "embeddings": ["wordmap"],
          "landscape": ["terrain", "decision"], "training": [], "compare": ["compare_map"], "causes": [],
          "features": [], "model_card": []}
PAGES = tuple(CHARTS)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_a_local_model(hf_folder, page, monkeypatch):
    """A new model kind needs one class that satisfies llmcore.model.protocols.LanguageModel: each page of the app
    runs on
    a Hugging Face folder, with no code of its own for that kind, and draws its charts."""
    import ast
    from pathlib import Path

    from .conftest import open_page

    app = ast.parse((Path(__file__).parent.parent / "dashboard" / "app.py").read_text())
    routed = next(ast.literal_eval(n.value) for n in app.body
                  if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "PAGES")
    assert {module for module, *_ in routed} == set(PAGES)  # every page the app routes is tested here
    monkeypatch.setenv("LLM_LANDSCAPE_CHECKPOINT", str(hf_folder))
    at = open_page(page)
    assert not at.exception and not at.error, (page, [e.value for e in at.exception] + [e.value for e in at.error])
    if page == "story" and not charts(at):  # an untrained model's words lie anywhere: scene 1's own check fails
        assert any("The figure is not shown" in w.value.replace("\\", "") for w in at.warning)
        return
    assert [c.key for c in charts(at)] == CHARTS[page]
    if not CHARTS[page]:  # nothing to draw for this model at the page's defaults: the page says why
        assert at.info, page


def test_the_app_opens_on_a_local_model(hf_folder, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LLM_LANDSCAPE_CHECKPOINT", str(hf_folder))
    at = AppTest.from_file(str(__import__("pathlib").Path(__file__).parent.parent / "dashboard" / "app.py"),
                           default_timeout=180).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [c.key for c in charts(at)] == CHARTS["trajectory"]


def test_both_kinds_satisfy_the_protocols(hf_folder, tiny_ckpt):
    from llmcore.model.protocols import Labeller, LanguageModel

    ck = any_checkpoint(hf_folder)
    for c in (ck, tiny_ckpt):
        assert isinstance(c.model, LanguageModel) and isinstance(c.world, Labeller)
        assert c.model.input_embeddings().shape == (c.model.config.vocab_size, c.model.config.n_embd)
        assert c.model.config.to_dict()["n_layer"] == c.model.config.n_layer
    assert not ck.world.animals  # word lists name no animal prompts: the grid and held-out measures say so
    # the loss a forward pass gives with targets is the mean next-token cross-entropy of its logits
    ids = torch.tensor([ck.tokenizer.encode("the cat drinks milk").ids])
    logits, loss = ck.model(ids[:, :-1], targets=ids[:, 1:])
    expected = torch.nn.functional.cross_entropy(logits[0], ids[0, 1:])
    assert loss == pytest.approx(float(expected), abs=1e-5)


def test_cli_reads_a_local_model(hf_folder, capsys):
    import json

    from llmcore.cli import main

    assert main(["generate", "the cat drinks milk at", "--checkpoint", str(hf_folder), "--max-words", "4",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    t = trace_generation(any_checkpoint(hf_folder), "the cat drinks milk at", SamplingConfig(max_new_words=4))
    assert out["completion"] == t.completion and len(out["steps"]) == t.n_steps
    assert main(["info", str(hf_folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_config"]["n_layer"] == 2 and info["parameters"] == any_checkpoint(hf_folder).model.num_params()
    assert main(["generate", "the cat", "--checkpoint", str(hf_folder), "--step", "3"]) == 2
    assert "no weight snapshots" in capsys.readouterr().err


def test_interventions_on_a_local_model(hf_folder):
    from llmcore.analysis.attribution import attribute
    from llmcore.analysis.interventions import causal_trace, patched_run
    from llmcore.analysis.steering import steer

    ck = load_hf_checkpoint(hf_folder)
    prompt, other = "the cat drinks milk at", "the dog drinks milk at"
    target = [ck.tokenizer.vocab[i] for i in ck.tokenizer.encode("the cat").ids]  # tokens this vocabulary has
    ct = causal_trace(ck, prompt, corrupt=other, target=target)
    T = len(ct.words)
    assert ct.restored.shape == (3, ck.model.config.n_layer + 1, T)
    everything = patched_run(ck, prompt, corrupt=other, target=target, restore=[("resid", 0, t) for t in range(T)])
    assert everything.target_prob == pytest.approx(ct.clean_prob, abs=1e-5)
    same = causal_trace(ck, prompt, corrupt=prompt, target=target)
    np.testing.assert_allclose(same.restored_prob[~np.isnan(same.restored_prob)], same.clean_prob, atol=1e-5)
    at = attribute(ck, prompt, target=target)
    assert at.values.sum() == pytest.approx(at.target_logit, abs=1e-3)
    vec = np.random.default_rng(0).normal(size=32).astype(np.float32)
    base = trace_generation(ck, prompt, SamplingConfig(max_new_words=3))
    three = SamplingConfig(max_new_words=3)
    assert steer(ck, prompt, vector=vec, depth=1, alpha=0.0, sampling=three).hidden.tobytes() == base.hidden.tobytes()
    last = len(base.prompt_words) - 1
    moved = steer(ck, prompt, vector=vec, depth=1, alpha=2.0, positions=[last], sampling=three)
    np.testing.assert_allclose(moved.hidden[last, 1] - base.hidden[last, 1], 2.0 * vec, atol=1e-4)


def test_the_causes_page_on_a_local_model(hf_folder, monkeypatch):
    from .conftest import open_page

    monkeypatch.setenv("LLM_LANDSCAPE_CHECKPOINT", str(hf_folder))
    tokens = ",".join(load_hf_checkpoint(hf_folder).tokenizer.vocab[i] for i in
                      load_hf_checkpoint(hf_folder).tokenizer.encode("the cat").ids)
    at = open_page("causes", c_prompt="the cat drinks milk at", c_corrupt="the dog drinks milk at", c_target=tokens)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [c.key for c in charts(at)] == ["causal", "causes_map", "components", "steer_map"]
    assert any("no animals and foods" in i.value for i in at.info)  # no grid to ask; said so


def test_weights_relabelled_as_integers_are_refused(hf_folder, tmp_path):
    """transformers casts an I32-labelled weight into the model silently (it then generates only <unk>): the folder's
    weights and biases must be floating point, said with the file and the tensor."""
    import json
    import shutil

    from llmcore.model.checkpoint import CheckpointError

    folder = tmp_path / "relabelled"
    shutil.copytree(hf_folder, folder)
    f = folder / "model.safetensors"
    raw = f.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    name = next(k for k in header if k.endswith(".weight"))
    header[name]["dtype"] = "I32"
    text = json.dumps(header).encode()
    f.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    with pytest.raises(CheckpointError, match=rf"model\.safetensors: tensor {name} has dtype 'I32'; .* floating point"):
        any_checkpoint(folder)
