"""Classroom mode: visitors (every session whose browser is not on this machine) explore every page within
per-session limits on prompts and work, but do not train, upload, edit worlds or write files; the teacher on this
machine (localhost) keeps everything. Pages ask `blocked` before drawing such controls and `check_prompt` before
work; the launcher turns the mode on (dashboard/binding.py). Whatever a page does, nothing a visitor's page runs
writes a file (`write_refusal`, asked by llmcore.files before every write: caches are then kept in memory only) or
starts a map fit (dashboard/state.py shows the stored maps)."""

from __future__ import annotations

import ipaddress
import os
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.binding import ENV, loopback, setting
from llmcore.analysis.trace import PromptError
from llmcore.files import refuse_writes_when

MAX_PROMPT_CHARS = 200  # a visitor's prompt; the teacher's limit is llmcore.analysis.trace.MAX_PROMPT_CHARS
MAX_NEW_WORDS = 32  # words a visitor's completion may run to (the Trajectory page's word limit goes to 64)
MAX_NOISE_DRAWS = 10  # random draws a visitor's noise corruption may average over (Causes; the teacher's: 100)
# new requests a visitor's session may make per window of seconds: "prompt" traces a prompt or setting not asked for
# just before (a page's rerun with the same one is free); "causes" runs a causal trace and its attribution
RATES = {"prompt": (30, 60.0), "causes": (6, 60.0)}
RECENT = 8  # a session's last requests of each kind, free to ask again within the window (pages rerun them)


class ClassroomLimit(PromptError):
    """A visitor's request over one of classroom mode's limits; the message names the limit."""


def enabled() -> bool:
    """Whether the server runs in classroom mode; a value that is neither on nor off counts as on (fail closed: the
    launcher refuses to start with one)."""
    try:
        return setting(os.environ.get(ENV))
    except ValueError:
        return True


def peer_ip() -> str | None:
    """The address this session's browser connected from (the TCP peer, or the address a proxy on this machine
    forwarded); None where there is no connection to ask (a test's AppTest, a thread without a session)."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None or not runtime.exists():
        return None
    client = runtime.get_instance().get_client(ctx.session_id)
    remote = getattr(getattr(client, "client_context", None), "remote_ip", None)
    return remote if isinstance(remote, str) else None


def visitor() -> bool:
    """Whether classroom mode limits this session: it is on and the session's browser is not on this machine (an
    unknown peer counts as a visitor)."""
    if not enabled():
        return False
    try:
        return not loopback(ipaddress.ip_address((peer_ip() or "").split("%")[0]))
    except ValueError:
        return True


def visitor_page() -> bool:
    """Whether this thread runs a visitor's page (or fragment): the server's own threads (its warm-up, a map fit or
    a training run the teacher started) run no page and are the teacher's."""
    if not enabled():
        return False
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    return get_script_run_ctx(suppress_warning=True) is not None and visitor()


def write_refusal(path: Path) -> str | None:
    """Why `path` may not be written from this thread (a visitor's page), else None."""
    return f"{path}: {refusal('files are written')}" if visitor_page() else None


refuse_writes_when(write_refusal)


def refusal(what: str) -> str:
    """The one sentence shown in place of a control a visitor may not use: `what` happens only on the teacher's
    machine."""
    return f"This is the teacher's server in classroom mode: {what} only on the teacher's own machine."


def blocked(what: str) -> bool:
    """True, after showing the classroom sentence in their place, where this session is a visitor; the caller then
    skips the controls (`what`: what they do, e.g. 'models are uploaded')."""
    if not visitor():
        return False
    import streamlit as st

    st.info(refusal(what))
    return True


def check_prompt(prompt: str, *, words: int | None = None, kind: str = "prompt", key: object = None) -> None:
    """For a visitor, the limits on a request: the prompt's length, the completion's word limit, and the rate of
    new requests of this kind (key: what makes the request new, the prompt by default); raises ClassroomLimit."""
    if not visitor():
        return
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ClassroomLimit(f"Classroom mode: a visitor's prompt has at most {MAX_PROMPT_CHARS} characters; this one "
                             f"has {len(prompt):,}.")
    if words is not None and words > MAX_NEW_WORDS:
        raise ClassroomLimit(f"Classroom mode: a visitor's completion runs to at most {MAX_NEW_WORDS} words; lower "
                             f"the word limit from {words}.")
    budget().spend(kind, prompt if key is None else key)


def check_draws(draws: int) -> None:
    """For a visitor, the number of random draws a noise corruption averages over; raises ClassroomLimit."""
    if visitor() and draws > MAX_NOISE_DRAWS:
        raise ClassroomLimit(f"Classroom mode: a visitor's noise corruption averages over at most {MAX_NOISE_DRAWS} "
                             f"draws; lower the noise draws from {draws}.")


@dataclass
class Budget:
    """One session's recent requests: the times of the new ones of each kind (at most RATES[kind][0] in any window
    of RATES[kind][1] seconds) and the last RECENT keys asked, each free again within the window."""

    times: dict[str, deque] = field(default_factory=dict)
    recent: dict[str, OrderedDict] = field(default_factory=dict)

    def spend(self, kind: str, key: object, now: float | None = None) -> None:
        """Count a request; raises ClassroomLimit when the kind's rate is used up (then nothing is counted)."""
        limit, window = RATES[kind]
        now = time.monotonic() if now is None else now
        recent = self.recent.setdefault(kind, OrderedDict())
        paid = recent.get(key)
        if paid is not None and now - paid < window:
            recent.move_to_end(key)
            return
        times = self.times.setdefault(kind, deque())
        while times and now - times[0] >= window:
            times.popleft()
        if len(times) >= limit:
            wait = window - (now - times[0])
            raise ClassroomLimit(f"Classroom mode: a visitor makes at most {limit} new requests of this kind every "
                                 f"{window:.0f} s; try again in {max(wait, 1):.0f} s.")
        times.append(now)
        recent[key] = now
        recent.move_to_end(key)
        while len(recent) > RECENT:
            recent.popitem(last=False)


def budget() -> Budget:
    """This session's Budget (kept in its session state)."""
    import streamlit as st

    if "_classroom_budget" not in st.session_state:
        st.session_state._classroom_budget = Budget()
    return st.session_state._classroom_budget
