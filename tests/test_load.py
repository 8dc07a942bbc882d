"""Load: the core API from 8 threads, 8 concurrent dashboard sessions, and bit-identical repeats."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from llmcore.trace import SamplingConfig, trace_generation

from .conftest import no_errors, open_in_browser, wait_charts

PROMPTS = [f"{a} {v}" for a, v in itertools.product(["a cat", "a dog", "a cow", "an otter", "a fox"],
                                                      ["eats", "devours", "drinks", "lives in the", "chases the"])]


def _run(ckpt, prompt: str, seed: int):
    t = trace_generation(ckpt, prompt, SamplingConfig(temperature=1.0, top_p=0.95, seed=seed))
    return t.completion, t.hidden, t.attention


def test_same_seed_gives_a_bit_identical_trace(ckpt):
    a = trace_generation(ckpt, "a bear", SamplingConfig(temperature=1.3, top_k=30, seed=11))
    b = trace_generation(ckpt, "a bear", SamplingConfig(temperature=1.3, top_k=30, seed=11))
    assert a.completion == b.completion
    for name in GenerationTraceArrays:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


GenerationTraceArrays = ("hidden", "prompt_hidden", "topk_ids", "topk_probs", "context_probs", "lens_top_ids",
                         "lens_context_probs", "attention")


@pytest.mark.slow
def test_eight_threads_give_the_same_results_as_one(ckpt):
    jobs = [(p, seed) for seed in range(2) for p in PROMPTS[:20]]  # 40 seeded sampled generations
    alone = [_run(ckpt, p, s) for p, s in jobs]
    threads = torch.get_num_threads()  # each worker splits its work like the main thread, so sums add up alike
    with ThreadPoolExecutor(8, initializer=torch.set_num_threads, initargs=(threads,)) as pool:
        together = list(pool.map(lambda job: _run(ckpt, *job), jobs))
    for (c1, h1, a1), (c2, h2, a2) in zip(alone, together):
        assert c1 == c2 and np.array_equal(h1, h2) and np.array_equal(a1, a2)


def _completion_shown(page, prompt: str, timeout: float = 120.0) -> list[str]:
    """The completion in the page's heading 'a₁ cat₂ eats₃ ┃ fish₄ …' once its prompt side reads `prompt`."""
    plain = lambda text: [w.rstrip("₀₁₂₃₄₅₆₇₈₉") for w in text.split()]  # noqa: E731
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for heading in page.locator("h4").all_inner_texts():
            left, _, right = heading.partition("┃")
            if right and plain(left) == prompt.split():
                return plain(right)
        page.wait_for_timeout(100)
    raise AssertionError(f"no heading for {prompt!r} within {timeout:.0f} s")


@pytest.mark.slow
@pytest.mark.browser
def test_eight_concurrent_dashboard_sessions(server, browser, ckpt):
    from bench.bench_dashboard import rss_mb

    expected = {p: trace_generation(ckpt, p).completion.split() for p in PROMPTS}  # greedy: one answer per prompt
    pages = [open_in_browser(browser, server) for _ in range(8)]
    for page, _ in pages:
        wait_charts(page, 4)
    rss = []
    t0 = time.perf_counter()
    for round_ in range(25):
        sent = []
        for i, (page, _) in enumerate(pages):  # every session sends its prompt before any answer is awaited
            prompt = PROMPTS[(round_ * 8 + i) % len(PROMPTS)]
            box = page.get_by_label("Prompt", exact=True)
            box.fill(prompt)
            box.press("Enter")
            sent.append(prompt)
        for (page, _), prompt in zip(pages, sent):
            assert _completion_shown(page, prompt) == expected[prompt]
        if round_ in (4, 24):
            rss.append(rss_mb(server.pid))
    print(f"8 sessions x 25 prompts in {time.perf_counter() - t0:.0f} s")
    for page, errors in pages:
        no_errors(page, errors)
        page.close()
    print(f"server RSS after 5 rounds {rss[0]:.0f} MB, after 25 rounds {rss[1]:.0f} MB")
    assert rss[1] <= 1.10 * rss[0], rss  # memory stays flat
