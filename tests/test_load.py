"""Load: the core API from 8 threads, 8 concurrent dashboard sessions, and bit-identical repeats."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

from llmcore.trace import SamplingConfig, trace_generation

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


NO_VALUE = {"button", "download_button", "file_uploader", "bidi_component", "dataframe"}  # nothing held between runs


def widget_state(kind: str, w, held: WidgetState | None) -> WidgetState | None:
    """The value a browser holds for a widget once the server drew it: the one it held (`held`) unless the server
    set a value, else the widget's default. It sends every one back with each rerun (a widget left out of a rerun
    falls back to its default on the server). None for a widget that holds no value."""
    if held is not None and not getattr(w, "set_value", False):
        return held
    state = WidgetState(id=w.id)
    if kind == "text_input":
        state.string_value = w.value if w.set_value else w.default
    elif kind in ("radio", "selectbox"):
        if not (w.HasField("raw_value") if w.set_value else w.HasField("default")):
            return None  # nothing chosen (index=None): the browser sends no value
        state.string_value = w.raw_value if w.set_value else w.options[w.default]
    elif kind == "slider" and w.type == w.SELECT_SLIDER:
        state.string_array_value.data[:] = list(w.raw_value) if w.set_value else [w.options[int(i)] for i in w.default]
    elif kind == "slider":
        state.double_array_value.data[:] = list(w.value if w.set_value else w.default)
    elif kind == "number_input" and w.data_type == w.INT:
        state.int_value = int(w.value if w.set_value else w.default)
    elif kind == "number_input":
        state.double_value = w.value if w.set_value else w.default
    elif kind == "checkbox":
        state.bool_value = w.value if w.set_value else w.default
    else:
        assert kind in NO_VALUE, f"the load test does not know what a browser sends for a {kind}"
        return None
    return state


class Session:
    """One dashboard session spoken to over Streamlit's websocket with the messages its browser frontend sends (a
    script run with the page's query string and every widget's value, the one the user changed included) and reads
    (the page's elements, each run ending with script_finished). A real browser draws every chart of every rerun:
    eight of them on two cores spent five times the server's CPU on drawing, which the browser tests check alone."""

    def __init__(self, ws):
        self.ws, self.query, self.widgets, self.drawn, self.labels, self.errors = ws, "", {}, {}, {}, []

    async def send(self, **typed: str) -> None:
        """A script run with these text inputs (by label) set, as pressing Enter in the box sends it."""
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        for label, value in typed.items():
            self.widgets[self.labels[label]].string_value = value
        msg.rerun_script.widget_states.widgets.extend(self.widgets.values())
        await self.ws.send(msg.SerializeToString())

    async def finish(self, timeout: float = 120.0) -> list[tuple[list[str], list[str]]]:
        """The run's completion headings 'a₁ cat₂ eats₃ ┃ **fish₄ …**' as (prompt words, completion words)."""
        return await asyncio.wait_for(self._finish(), timeout)

    async def _finish(self) -> list[tuple[list[str], list[str]]]:
        headings, self.drawn = [], {}
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await self.ws.recv())
            kind = msg.WhichOneof("type")
            if kind == "page_info_changed":
                self.query = msg.page_info_changed.query_string
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                self._read(msg.delta.new_element, headings)
            elif kind == "script_finished":
                assert msg.script_finished != ForwardMsg.FINISHED_WITH_COMPILE_ERROR
                if msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                    self.widgets = self.drawn  # the browser forgets the widgets a finished run did not draw
                    return headings

    def _read(self, element, headings: list) -> None:
        kind = element.WhichOneof("type")
        if kind == "exception" or (kind == "alert" and element.alert.format == Alert.ERROR):
            self.errors.append(str(getattr(element, kind))[:500])
        elif kind == "markdown" and element.markdown.body.startswith("#### ") and "┃" in element.markdown.body:
            plain = lambda text: [re.sub(r"\\(.)", r"\1", w).rstrip("₀₁₂₃₄₅₆₇₈₉") for w in  # noqa: E731
                                  text.replace("**", "").split()]
            left, _, right = element.markdown.body[5:].partition("┃")
            headings.append((plain(left), plain(right)))
        elif getattr(widget := getattr(element, kind), "id", "") and (
                state := widget_state(kind, widget, self.widgets.get(widget.id))):
            self.drawn[state.id] = state
            self.labels[widget.label] = state.id


async def _eight_sessions(url: str, pid: int, expected: dict[str, list[str]]) -> list[float]:
    from bench.bench_dashboard import rss_mb

    stream = url.replace("http://", "ws://") + "/_stcore/stream"
    async with contextlib.AsyncExitStack() as stack:
        sessions = [Session(await stack.enter_async_context(connect(stream, max_size=None,
                                                                    subprotocols=["streamlit"])))
                    for _ in range(8)]
        for s in sessions:  # each opens the default page, as a new browser tab does
            await s.send()
        await asyncio.gather(*(s.finish() for s in sessions))
        rss = []
        for round_ in range(25):
            sent = [PROMPTS[(round_ * 8 + i) % len(PROMPTS)] for i in range(8)]
            for s, prompt in zip(sessions, sent):  # every session sends its prompt before any answer is awaited
                await s.send(Prompt=prompt)
            shown = await asyncio.gather(*(s.finish() for s in sessions))
            for headings, prompt in zip(shown, sent):
                assert (prompt.split(), expected[prompt]) in headings, (prompt, headings)
            if round_ in (4, 24):
                rss.append(rss_mb(pid))
        for s in sessions:
            assert not s.errors, s.errors
    return rss


@pytest.mark.slow
def test_eight_concurrent_dashboard_sessions(server, ckpt):
    expected = {p: trace_generation(ckpt, p).completion.split() for p in PROMPTS}  # greedy: one answer per prompt
    t0 = time.perf_counter()
    rss = asyncio.run(_eight_sessions(server, server.pid, expected))
    print(f"8 sessions x 25 prompts in {time.perf_counter() - t0:.0f} s")
    print(f"server RSS after 5 rounds {rss[0]:.0f} MB, after 25 rounds {rss[1]:.0f} MB")
    assert rss[1] <= 1.10 * rss[0], rss  # memory stays flat
