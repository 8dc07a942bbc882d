"""Load: the core API from 8 threads, 8 concurrent dashboard sessions, and bit-identical repeats."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

from llmcore.analysis.trace import SamplingConfig, trace_generation

from .servers import free_port, running_server

ROOT = Path(__file__).resolve().parent.parent

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


GenerationTraceArrays = ("hidden", "next_probs", "topk_ids", "topk_probs", "context_probs", "lens_top_ids",
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
    if kind in ("text_input", "text_area"):
        state.string_value = w.value if w.set_value else w.default
    elif kind in ("radio", "selectbox"):
        if not (w.HasField("raw_value") if w.set_value else w.HasField("default")):
            return None  # nothing chosen (index=None): the browser sends no value
        state.string_value = w.raw_value if w.set_value else w.options[w.default]
    elif kind == "multiselect":
        state.string_array_value.data[:] = list(w.raw_values) if w.set_value else [w.options[int(i)] for i in w.default]
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
        self.fragments: dict[str, str] = {}  # widget id -> the fragment that drew it
        self.infos: list[str] = []  # the last run's st.info texts
        self.shown: list[str] = []  # the labels of every widget the last run drew, buttons and uploaders included

    async def send(self, *, page: str = "", moved: dict[str, float] | None = None, fragment_of: str = "",
                   **typed: str) -> None:
        """A script run with these text inputs (by label) set, as pressing Enter in the box sends it, and these
        sliders (by label) moved; `fragment_of`: the label of a widget whose fragment alone reruns, as a browser
        asks when that widget changes; `page`: the URL path of another page to open."""
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.page_name = page
        for label, value in typed.items():
            self.widgets[self.labels[label]].string_value = value
        for label, value in (moved or {}).items():
            self.widgets[self.labels[label]].double_array_value.data[:] = [value]
        if fragment_of:
            msg.rerun_script.fragment_id = self.fragments[self.labels[fragment_of]]
        msg.rerun_script.widget_states.widgets.extend(self.widgets.values())
        await self.ws.send(msg.SerializeToString())

    async def finish(self, timeout: float = 120.0) -> list[tuple[list[str], list[str]]]:
        """The run's completion headings 'a₁ cat₂ eats₃ ┃ **fish₄ …**' as (prompt words, completion words)."""
        return await asyncio.wait_for(self._finish(), timeout)

    async def _finish(self) -> list[tuple[list[str], list[str]]]:
        headings, self.drawn, self.infos, self.shown = [], {}, [], []
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await self.ws.recv())
            kind = msg.WhichOneof("type")
            if kind == "page_info_changed":
                self.query = msg.page_info_changed.query_string
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                self._read(msg.delta.new_element, headings, msg.delta.fragment_id)
            elif kind == "script_finished":
                assert msg.script_finished != ForwardMsg.FINISHED_WITH_COMPILE_ERROR
                if msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                    self.widgets = self.drawn  # the browser forgets the widgets a finished run did not draw
                    return headings
                if msg.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                    self.widgets.update(self.drawn)  # the rest of the page stays as it was
                    return headings

    def _read(self, element, headings: list, fragment: str = "") -> None:
        kind = element.WhichOneof("type")
        if kind == "exception" or (kind == "alert" and element.alert.format == Alert.ERROR):
            self.errors.append(str(getattr(element, kind))[:500])
        elif kind == "alert" and element.alert.format == Alert.INFO:
            self.infos.append(element.alert.body)
        elif kind == "markdown" and element.markdown.body.startswith("#### ") and "┃" in element.markdown.body:
            plain = lambda text: [re.sub(r"\\(.)", r"\1", w).rstrip("₀₁₂₃₄₅₆₇₈₉") for w in  # noqa: E731
                                  text.replace("**", "").split()]
            left, _, right = element.markdown.body[5:].partition("┃")
            headings.append((plain(left), plain(right)))
        elif getattr(widget := getattr(element, kind), "id", ""):
            self.shown.append(getattr(widget, "label", ""))  # a chart, say, has an id but no label
            if state := widget_state(kind, widget, self.widgets.get(widget.id)):
                self.drawn[state.id] = state
                self.labels[widget.label] = state.id
                self.fragments[state.id] = fragment


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


# ---- classroom mode: visitors and the teacher on one server (dashboard/classroom.py)

STEP = "Step (one per word read)"
TEACHER_ONLY = {"Start from a world file (TOML)", "World file (TOML)", "Model name", "Start training",  # Training
                "Open a local folder (a checkpoint or a Hugging Face model)", "Add"}  # the sidebar's Add a model


def classroom_cmd(port: int) -> list[str]:
    """A classroom server on this machine only: visitors reach it through a proxy here, which forwards their
    addresses (X-Forwarded-For, trusted from loopback alone), as a teacher's reverse proxy would."""
    return [sys.executable, "-m", "dashboard", "--classroom", "--server.port", str(port), "--server.address",
            "127.0.0.1", "--server.headless", "true"]


@pytest.fixture(scope="module")
def classroom_server():
    from .conftest import Server

    port = free_port()
    with running_server(classroom_cmd(port), port, ROOT, env={**os.environ, "MALLOC_ARENA_MAX": "2"}) as proc:
        yield Server(f"http://127.0.0.1:{port}", proc.pid)


async def _session(stack: contextlib.AsyncExitStack, url: str, visitor: int | None) -> Session:
    """A session of the teacher (visitor None: a browser on this machine) or of visitor number `visitor`, whose
    address the proxy forwards (10.0.x.y)."""
    headers = None if visitor is None else {"X-Forwarded-For": f"10.0.{visitor // 250}.{visitor % 250 + 1}"}
    ws = await stack.enter_async_context(connect(url.replace("http://", "ws://") + "/_stcore/stream", max_size=None,
                                                 subprotocols=["streamlit"], additional_headers=headers,
                                                 ping_interval=None))  # a browser sends no pings of its own
    return Session(ws)


async def _visitor_and_teacher(url: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        visitor, teacher = await _session(stack, url, 0), await _session(stack, url, None)
        for s in (visitor, teacher):
            await s.send()
            assert await s.finish()  # the first page's completion: both explore
        said = lambda s: [t for t in s.infos if "classroom mode" in t]  # noqa: E731
        assert len(said(visitor)) == 1 and not TEACHER_ONLY & set(visitor.shown)
        assert not said(teacher) and "Add" in teacher.shown
        long = " ".join(["a cat eats meat ."] * 12)
        await visitor.send(fragment_of="Prompt", Prompt=long)
        assert not await visitor.finish() and any("at most 200 characters" in e for e in visitor.errors)
        visitor.errors.clear()
        await teacher.send(fragment_of="Prompt", Prompt=long)
        assert await teacher.finish() and not teacher.errors  # traced: its completion is shown
        for s in (visitor, teacher):
            await s.send(page="training")
            await s.finish()
        assert len(said(visitor)) == 2 and not TEACHER_ONLY & set(visitor.shown) and "Prompt to watch" in visitor.shown
        assert TEACHER_ONLY <= set(teacher.shown) and not said(teacher)
        assert not visitor.errors and not teacher.errors, (visitor.errors, teacher.errors)


@pytest.mark.slow
def test_classroom_visitors_explore_but_cannot_train_or_add_models(classroom_server):
    """Over the websocket, as browsers: a visitor sees the pages with one sentence where the teacher's controls
    are, and its long prompt is refused; the teacher on this machine keeps every control and traces the prompt."""
    asyncio.run(_visitor_and_teacher(classroom_server))


@dataclass
class LoadReport:
    """Seconds from an action's message to its run's end (prompts typed, step sliders moved), the server's RSS in
    MB after the first round and after the last, the CPU seconds the server spent over the rounds (its own
    measure of the work, which other jobs on the machine change far less than the waits), and its RSS with the
    teacher's session alone open and with every session open (each having drawn the first page)."""

    prompts: list[float]
    sliders: list[float]
    rss: tuple[float, float]
    cpu_s: float = 0.0
    rss_open: tuple[float, float] = (0.0, 0.0)
    sessions: int = 2

    def per_session_mb(self) -> float:
        """The server memory one more session takes: RSS growth from one session open to all, per session."""
        return (self.rss_open[1] - self.rss_open[0]) / (self.sessions - 1)

    def p90(self) -> float:
        return float(np.percentile(self.prompts + self.sliders, 90))


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used, all its threads together (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


async def _timed(group: list[Session], actions: list[dict], times: list[float]) -> list:
    """Every session's action sent at once; each one's time until its run finished goes into `times`."""
    async def one(s: Session, action: dict):
        t0 = time.perf_counter()
        await s.send(**action)
        shown = await s.finish(timeout=600)
        times.append(time.perf_counter() - t0)
        return shown

    return await asyncio.gather(*(one(s, a) for s, a in zip(group, actions)))


async def classroom_load(url: str, pid: int, expected: dict[str, list[str]], *, sessions: int = 30,
                         rounds: int = 3) -> LoadReport:
    """The teacher and sessions-1 visitors on a classroom server, every round all typing a prompt at once (the
    prompt's fragment reruns, as in a browser) and then all moving the step slider at once: every completion equals
    the prompt run alone, every step's captions are the same in every session, no error and no exception."""
    from bench.bench_dashboard import rss_mb

    report, captions = LoadReport([], [], (0.0, 0.0), sessions=sessions), defaultdict(set)
    async with contextlib.AsyncExitStack() as stack:
        group = [await _session(stack, url, i - 1 if i else None) for i in range(sessions)]
        await group[0].send()  # the teacher's page and a prompt first, alone: the server's memory with one session,
        await group[0].finish(timeout=600)  # the model loaded
        await group[0].send(fragment_of="Prompt", Prompt=PROMPTS[-1])
        assert await group[0].finish(timeout=600)
        opened = rss_mb(pid)
        for s in group[1:]:
            await s.send()
        await asyncio.gather(*(s.finish(timeout=600) for s in group[1:]))
        report.rss_open = (opened, rss_mb(pid))
        for i, s in enumerate(group):  # every visitor, and only they, get the sentence instead of Add a model
            assert any("classroom mode" in t for t in s.infos) is (i > 0)
        rss, cpu0 = [], cpu_seconds(pid)
        for r in range(rounds):
            sent = [PROMPTS[(r * sessions + 7 * i) % len(PROMPTS)] for i in range(sessions)]
            shown = await _timed(group, [{"fragment_of": "Prompt", "Prompt": p} for p in sent], report.prompts)
            for headings, prompt in zip(shown, sent):
                assert (prompt.split(), expected[prompt]) in headings, (prompt, headings)
            steps = [1 + (r + i) % len(p.split()) for i, p in enumerate(sent)]
            await _timed(group, [{"fragment_of": STEP, "moved": {STEP: float(k)}} for k in steps], report.sliders)
            for s, prompt, k in zip(group, sent, steps):
                assert s.infos, "the step's caption"
                captions[(prompt, k)].add(tuple(s.infos))
            if r == 0:
                rss.append(rss_mb(pid))
        rss.append(rss_mb(pid))
        report.cpu_s = cpu_seconds(pid) - cpu0
        for s in group:
            assert not s.errors, s.errors
    assert all(len(c) == 1 for c in captions.values()), [c for c in captions.values() if len(c) > 1][:1]
    report.rss = (rss[0], rss[-1])
    return report


@pytest.mark.slow
def test_thirty_concurrent_classroom_sessions(classroom_server, ckpt):
    """30 sessions (29 visitors and the teacher) typing prompts and moving sliders at the same moment."""
    expected = {p: trace_generation(ckpt, p).completion.split() for p in PROMPTS}
    t0 = time.perf_counter()
    report = asyncio.run(classroom_load(classroom_server, classroom_server.pid, expected, sessions=30, rounds=2))
    print(f"30 classroom sessions x 2 rounds in {time.perf_counter() - t0:.0f} s: redraw p90 {report.p90():.2f} s "
          f"(prompts {np.percentile(report.prompts, 90):.2f} s, step slider {np.percentile(report.sliders, 90):.2f} s)")
    print(f"server RSS after the first round {report.rss[0]:.0f} MB, after the last {report.rss[1]:.0f} MB; server "
          f"CPU {report.cpu_s / 120:.2f} s an action")
    assert len(report.prompts) == len(report.sliders) == 60
    assert report.rss[1] <= 1.10 * report.rss[0], report.rss  # memory stays flat


def lan_address() -> str | None:
    """An IPv4 address of this machine other than loopback (from the kernel's table of local addresses), or None."""
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        return None
    local = {prev.split()[-1] for prev, line in zip(lines, lines[1:]) if line.strip() == "/32 host LOCAL"}
    return next((a for a in sorted(local) if not a.startswith("127.")), None)


async def _over_the_network(port: int, lan: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        visitor = await _session(stack, f"http://{lan}:{port}", None)  # a real peer that is not loopback, no proxy
        teacher = await _session(stack, f"http://127.0.0.1:{port}", None)
        for s in (visitor, teacher):
            await s.send()
            assert await s.finish() and not s.errors
        assert [t for t in visitor.infos if "classroom mode" in t] and not TEACHER_ONLY & set(visitor.shown)
        assert not [t for t in teacher.infos if "classroom mode" in t] and "Add" in teacher.shown


@pytest.mark.slow
def test_a_browser_on_another_address_is_a_visitor_without_a_proxy():
    """A classroom server on every interface: a browser reaching it through this machine's network address (a
    peer other than loopback, as a student's machine is) is a visitor; one through 127.0.0.1 is the teacher."""
    lan = lan_address()
    if lan is None:
        pytest.skip("this machine has no network address other than loopback")
    port = free_port()
    cmd = classroom_cmd(port)
    cmd[cmd.index("127.0.0.1")] = "0.0.0.0"
    with running_server(cmd, port, ROOT, env={**os.environ, "MALLOC_ARENA_MAX": "2"}):
        asyncio.run(_over_the_network(port, lan))
