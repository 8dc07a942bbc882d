"""Tracing generation: shapes, determinism, sampling rules, bad input, persistence."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from llmcore.analysis.trace import GenerationTrace, PromptError, SamplingConfig, generate, trace_generation


@pytest.fixture(scope="module")
def trace(ckpt):
    return trace_generation(ckpt, "a dog devours pizza in", SamplingConfig())


def test_shapes_and_sums(trace, ckpt):
    S, P, L = trace.n_steps, len(trace.prompt_words), ckpt.model.config.n_layer + 2
    C, g = ckpt.model.config.n_embd, slice(trace.boundary, None)  # g: the steps whose next word was generated
    assert trace.hidden.shape == (P - 1 + S, L, C) and len(trace) == P - 1 + S  # one axis: every word read
    assert trace.layer_names[0] == "embed" and trace.layer_names[-1] == "final"
    np.testing.assert_allclose(trace.context_probs.sum(1), 1, atol=1e-4)
    np.testing.assert_allclose(trace.lens_context_probs.sum(-1), 1, atol=1e-4)
    np.testing.assert_allclose(trace.attention.sum(-1), 1, atol=1e-4)
    ended = trace.generated_words[-1] == "."  # it stops at the period, or at the word limit
    assert (trace.stop_reason == "period") == ended and (ended or trace.n_steps == SamplingConfig().max_new_words)
    assert "." not in trace.generated_words[:-1]
    # greedy: each word taken is the top candidate of the distribution it was drawn from
    assert (trace.topk_ids[g, 0] == trace.generated_ids).all()
    np.testing.assert_allclose(trace.next_probs[g], trace.topk_probs[g, 0], atol=1e-6)


def test_last_layer_through_head_reproduces_the_output(trace, ckpt):
    with torch.no_grad():
        logits = ckpt.model.lm_head(torch.from_numpy(trace.hidden[:, -1]))
        lens = ckpt.model.decode_residual(torch.from_numpy(trace.hidden[:, -2]))
    probs = logits.softmax(-1).numpy()
    np.testing.assert_allclose(np.take_along_axis(probs, trace.topk_ids, 1), trace.topk_probs, atol=1e-5)
    np.testing.assert_allclose(lens.softmax(-1).numpy(), probs, atol=1e-5)  # the last block's lens = output
    assert (trace.lens_top_ids[:, -1, 0] == trace.topk_ids[:, 0]).all()


def test_traced_equals_plain_generation(ckpt):
    for s in (SamplingConfig(), SamplingConfig(temperature=1.2, top_k=20, top_p=0.9, seed=5)):
        t = trace_generation(ckpt, "a cat", s)
        assert t.generated_words == generate(ckpt.model, ckpt.tokenizer, "a cat", s)


def test_sampling_is_seeded(ckpt):
    runs = [trace_generation(ckpt, "a bear", SamplingConfig(temperature=1.5, seed=s)).completion for s in (1, 1, 2, 3)]
    assert runs[0] == runs[1]
    assert len(set(runs)) > 1


def test_top_k_one_is_greedy(ckpt):
    greedy = trace_generation(ckpt, "a cow", SamplingConfig()).completion
    assert trace_generation(ckpt, "a cow", SamplingConfig(temperature=0.7, top_k=1, seed=9)).completion == greedy


def test_word_limit(ckpt):
    t = trace_generation(ckpt, "a cat", SamplingConfig(max_new_words=2))
    assert t.n_steps == 2 and t.stop_reason == "word limit"


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": -0.1}, "temperature"), ({"temperature": float("nan")}, "temperature"),
    ({"top_p": 0.0}, "top-p"), ({"top_p": 1.5}, "top-p"), ({"top_k": 0}, "top-k"),
    ({"max_new_words": 0}, "word limit"), ({"max_new_words": 10_000}, "word limit"), ({"seed": -1}, "seed"),
])
def test_bad_sampling_values(kwargs, message):
    with pytest.raises(PromptError, match=message):
        SamplingConfig(**kwargs)


def test_bad_prompts(ckpt):
    with pytest.raises(PromptError, match="empty"):
        trace_generation(ckpt, "  ,, ")
    with pytest.raises(PromptError, match="none of the words are known"):
        trace_generation(ckpt, "xylophones juggle")
    t = trace_generation(ckpt, "a xylophone eats")
    assert t.unknown_words == ["xylophone"] and "<unk>" in t.prompt_words
    assert any("xylophone" in n for n in t.notices)
    for prompt in ("...", ". ! ?", "?"):
        with pytest.raises(PromptError, match="only punctuation"):
            trace_generation(ckpt, prompt)


def test_numpy_scalars_are_accepted_as_numbers(ckpt):
    s = SamplingConfig(temperature=np.float32(0.7), top_k=np.int64(5), top_p=np.float64(0.9), seed=np.uint8(3),
                       max_new_words=np.int32(4))
    assert s == SamplingConfig(temperature=float(np.float32(0.7)), top_k=5, top_p=0.9, seed=3, max_new_words=4)
    assert all(type(v) in (int, float, bool) for v in asdict(s).values())  # JSON-friendly in the trace
    t = trace_generation(ckpt, "a cat", s, top_k=np.int64(3), lens_k=np.int16(2))
    assert t.topk_ids.shape[1] == 3 and t.lens_top_ids.shape[2] == 2
    json.dumps(t.summary())
    with pytest.raises(PromptError, match="seed"):
        SamplingConfig(seed=np.bool_(True))


@pytest.mark.parametrize("kwargs", [{"top_k": -1}, {"lens_k": -3}, {"top_k": 0}, {"lens_k": 2.5}, {"top_k": True}])
def test_trace_sizes_are_checked(ckpt, kwargs):
    with pytest.raises(PromptError, match=next(iter(kwargs))):
        trace_generation(ckpt, "a cat", **kwargs)


@pytest.mark.parametrize("temperature, top_p, top_k", [(1e-38, 1.0, None), (5e-324, 1.0, None), (1.0, 1e-46, None),
                                                       (100.0, 5e-324, None), (5e-324, 5e-324, 1), (100.0, 1.0, 1)])
def test_extreme_valid_sampling_stays_finite(ckpt, temperature, top_p, top_k):
    s = SamplingConfig(temperature=temperature, top_p=top_p, top_k=top_k, max_new_words=3, seed=1)
    t = trace_generation(ckpt, "a dog", s)
    assert t.n_steps >= 1 and np.isfinite(t.next_probs).all()
    if temperature < 1e-30 or top_p < 1e-30 or top_k == 1:  # so cold or so cut that only the likeliest word is left
        assert t.generated_words == trace_generation(ckpt, "a dog", SamplingConfig(max_new_words=3)).generated_words


def test_long_prompt_keeps_the_right_end(ckpt):
    block = ckpt.model.config.block_size
    prompt = " ".join(["a cat eats meat ."] * 10) + " a dog"
    t = trace_generation(ckpt, prompt, SamplingConfig(max_new_words=20, stop_at_period=False))
    assert len(t.prompt_words) == block and t.prompt_words[-2:] == ["a", "dog"]
    assert any(f"kept the last {block}" in n for n in t.notices)
    assert t.n_steps == 20 and t.attention_start.max() > 0  # the window slid past the context


def test_save_load_round_trip(trace, tmp_path):
    path = trace.save(tmp_path / "t.npz")
    again = GenerationTrace.load(path)
    assert again.summary() == trace.summary()
    np.testing.assert_array_equal(again.hidden, trace.hidden)
    np.testing.assert_array_equal(again.attention, trace.attention)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a readable trace"):
        GenerationTrace.load(tmp_path / "bad.npz")


def test_shape_checks_on_construction(trace):
    from dataclasses import asdict
    data = asdict(trace)
    data["hidden"] = data["hidden"][:, :2]
    with pytest.raises(ValueError, match="hidden"):
        GenerationTrace(**data)


@pytest.mark.parametrize("prompt, words", [("a dog devours pizza in", 12), (" ".join(["a cat eats meat ."] * 6), 20)])
def test_attention_and_states_match_a_full_forward_pass(ckpt, prompt, words):
    """What the KV-cached loop captured (states at every depth, attention of the newest query) is what one plain
    forward pass over each step's context window computes with explicit attention patterns."""
    from llmcore.model.caches import ActivationCache
    t = trace_generation(ckpt, prompt, SamplingConfig(max_new_words=words, stop_at_period=False))
    ids = list(t.prompt_ids) + list(t.generated_ids)
    P = len(t.prompt_ids)
    for step in range(t.n_steps):
        window, step = ids[t.attention_start[t.boundary + step]: P + step], t.boundary + step
        act = ActivationCache(attention=True)
        with torch.no_grad():
            ckpt.model(torch.tensor([window]), capture=act)
        pattern = act.attention_stack()[:, 0, :, -1]  # (n_layer, nh, T)
        np.testing.assert_allclose(t.attention[step, :, :, : len(window)], pattern.numpy(), atol=1e-5)
        assert not t.attention[step, :, :, len(window):].any()
        np.testing.assert_allclose(t.hidden[step], act.residual_stack()[0][:, 0, -1].numpy(), atol=1e-4)
    assert (t.attention_start > 0).any() == (P + t.n_steps - 1 > ckpt.model.config.block_size)


def test_every_word_read_is_a_step(trace, ckpt):
    """The prompt's own positions are steps too: their states, next-word distributions and attention are what one
    forward pass over the prompt computes, and the steps join the generation without a gap."""
    from llmcore.model.caches import ActivationCache
    P = len(trace.prompt_words)
    assert len(trace) == P - 1 + trace.n_steps and trace.boundary == P - 1
    assert trace.words == trace.prompt_words + trace.generated_words[:-1]
    assert trace.next_words[: P - 1] == trace.prompt_words[1:] and trace.next_words[P - 1:] == trace.generated_words
    act = ActivationCache(attention=True)
    with torch.no_grad():
        logits, _ = ckpt.model(torch.tensor([list(trace.prompt_ids)]), capture=act)
    probs = logits[0].softmax(-1).numpy()
    np.testing.assert_allclose(trace.hidden[:P], act.residual_stack()[0][:, 0].transpose(0, 1).numpy(), atol=1e-4)
    np.testing.assert_allclose(trace.next_probs[: P - 1], probs[np.arange(P - 1), trace.prompt_ids[1:]], atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(probs[: P - 1], trace.topk_ids[: P - 1], 1),
                               trace.topk_probs[: P - 1],
                               atol=1e-5)
    pattern = act.attention_stack()[:, 0].numpy()  # (n_layer, nh, P, P)
    for t in range(P):
        np.testing.assert_allclose(trace.attention[t, :, :, : t + 1], pattern[:, :, t, : t + 1], atol=1e-5)
        assert not trace.attention[t, :, :, t + 1:].any()
    np.testing.assert_allclose(trace.context_probs.sum(1), 1, atol=1e-4)
    assert [trace.summary()["steps"][s]["dominant_context"] for s in range(trace.n_steps)] == \
        [trace.next_context(i) for i in range(P - 1, len(trace))]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tracing_follows_the_model_to_its_device():
    """A model moved to the GPU traces there: same words (the choice is made on the CPU), same states."""
    from llmcore.analysis.reference import reference_states
    from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint

    ck = load_checkpoint(DEFAULT_CHECKPOINT)
    s = SamplingConfig(temperature=0.8, seed=3, max_new_words=6)
    cpu, cpu_ref = trace_generation(ck, "a dog devours pizza in", s), reference_states(ck, n_positions=200)
    ck.model.to("cuda")
    gpu, gpu_ref = trace_generation(ck, "a dog devours pizza in", s), reference_states(ck, n_positions=200)
    assert gpu.generated_ids.tolist() == cpu.generated_ids.tolist()
    for a, b in ((gpu.hidden, cpu.hidden), (gpu.attention, cpu.attention), (gpu.lens_top_probs, cpu.lens_top_probs),
                 (gpu_ref.states, cpu_ref.states)):
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_a_kept_trace_comes_back_with_its_candidates_and_only_for_its_own_view(ckpt, tmp_path):
    """llmcore.maps.tracecache: a trace kept beside the maps reads back equal, with every step's candidates equal to
    candidate_states; another prompt, sampling or model, a damaged file or an oversized one reads as missing."""
    from dataclasses import replace

    from llmcore.analysis.trace import candidate_states
    from llmcore.maps.tracecache import MAX_BYTES, cache_path, compute_candidates, load_trace, save_trace

    prompt, s = "a cat eats", SamplingConfig(max_new_words=4)
    t = trace_generation(ckpt, prompt, s)
    save_trace(tmp_path, ckpt, prompt, s, t, compute_candidates(ckpt, t))
    back, cands = load_trace(tmp_path, ckpt, prompt, s)
    assert back.completion == t.completion and np.array_equal(back.hidden, t.hidden)
    for step in range(len(t)):
        words, probs, states = cands.for_step(back, step)
        want = candidate_states(ckpt, t, step)
        assert words == want[0] and np.array_equal(probs, want[1]) and np.array_equal(states, want[2])
    assert load_trace(tmp_path, ckpt, "a cat drinks", s) is None
    assert load_trace(tmp_path, ckpt, prompt, SamplingConfig(max_new_words=5)) is None
    assert load_trace(tmp_path, replace(ckpt, content_hash="another model"), prompt, s) is None
    path = cache_path(tmp_path, ckpt, prompt, s)
    data = bytearray(path.read_bytes())
    data[-50:] = b"\xff" * 50  # damaged arrays: the file still parses, its hash tells
    path.write_bytes(bytes(data))
    assert load_trace(tmp_path, ckpt, prompt, s) is None
    path.write_bytes(b"\0" * (MAX_BYTES + 1))
    assert load_trace(tmp_path, ckpt, prompt, s) is None
    save_trace(tmp_path, ckpt, "a dog eats", s, t, compute_candidates(ckpt, t))
    dog = cache_path(tmp_path, ckpt, "a dog eats", s)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, dog.name])  # not ours: left alone
    save_trace(tmp_path, ckpt, "a cow eats", s, t, compute_candidates(ckpt, t))  # the folder keeps one kept trace
    cow = cache_path(tmp_path, ckpt, "a cow eats", s)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, cow.name])


def _as_format_1(trace) -> tuple[dict, dict]:
    """The header and arrays a trace had in format 1: prompt positions (prompt_*) and generation steps apart."""
    b, P = trace.boundary, trace.n_prompt
    meta = {k: getattr(trace, k) for k in ("prompt_words", "vocab", "layer_names", "context_names", "sampling",
                                           "unknown_words", "notices", "stop_reason")}
    arrays = {"prompt_ids": trace.prompt_ids, "generated_ids": trace.generated_ids,
              "prompt_hidden": trace.hidden[:P], "hidden": trace.hidden[b:], "chosen_probs": trace.next_probs[b:],
              "prompt_next_probs": trace.next_probs[:b], "attention_start": trace.attention_start[b:],
              "context_top_ids": trace.context_top_ids, "context_top_probs": trace.context_top_probs,
              "word_ids": trace.word_ids, "word_probs": trace.word_probs}
    for name in ("topk_ids", "topk_probs", "context_probs", "lens_top_ids", "lens_top_probs", "lens_context_probs",
                 "attention"):
        arrays[name], arrays[f"prompt_{name}"] = getattr(trace, name)[b:], getattr(trace, name)[:b]
    return meta, arrays


def test_trace_files_carry_a_format_and_older_ones_are_read_on_one_axis(trace, tmp_path):
    """A trace file names its format; a format-1 file (prompt positions apart) is read joined into word steps, equal
    to the trace it was written from; a format this version does not know is refused, naming the file and format."""
    import io
    import json

    from llmcore.analysis.trace import TRACE_FORMAT, GenerationTrace

    path = trace.save(tmp_path / "t.npz")
    with np.load(path) as z:
        assert json.loads(str(z["__meta__"]))["format"] == TRACE_FORMAT and "prompt_hidden" not in z.files
    meta, arrays = _as_format_1(trace)
    buf = io.BytesIO()
    np.savez_compressed(buf, __meta__=np.array(json.dumps(meta)), **arrays)
    (tmp_path / "old.npz").write_bytes(buf.getvalue())
    old = GenerationTrace.load(tmp_path / "old.npz")
    assert old.words == trace.words and old.summary() == trace.summary()
    for name in GenerationTrace._ARRAYS:
        np.testing.assert_array_equal(getattr(old, name), getattr(trace, name), err_msg=name)
    future = json.loads(trace.to_json())
    future["format"] = TRACE_FORMAT + 1
    with pytest.raises(ValueError, match=f"format {TRACE_FORMAT + 1}"):
        GenerationTrace.from_json(json.dumps(future))
    assert GenerationTrace.from_json(trace.to_json()).summary() == trace.summary()
