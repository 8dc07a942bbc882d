"""Story page: a guided walk in six scenes for a lesson: Back/Next and the keys a clicker sends, a link to each
scene, and a presenter mode for a projector (each scene's chart on the first screen, under its one-sentence
takeaway; the rest of the text folded below)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import streamlit as st

from dashboard import chart, frames, scenes, urlstate
from dashboard.figures import theme
from dashboard.state import (
    METHOD_NAMES,
    checkpoint_or_error,
    contexts_of_words,
    get_best_view,
    get_corpus_check,
    get_held_out_breakdown,
    get_lens,
    get_lens_readings,
    get_map_book,
    get_next_regions,
    get_trace,
    theme_ink,
)
from dashboard.text import escape_md
from llmcore.analysis.lens import LensError
from llmcore.analysis.trace import PromptError, SamplingConfig

if TYPE_CHECKING:
    from llmcore.analysis.trace import GenerationTrace
    from llmcore.model.checkpoint import Checkpoint

N_SCENES = 6
DEFAULTS = {"scene": 1, "presenter": False, "story_prompt": "a dog devours pizza in", "story_lens": "logit"}
LENSES = {"logit": "logit lens", "tuned": "tuned lens"}
ALLOWED = {"scene": (1, N_SCENES), "story_lens": tuple(LENSES)}
PRESENTER_PX = 16  # the smallest text on a chart in presenter mode (a projector's back row)
# In presenter mode a chart fills the window below its takeaway: its height is the window's less what stands above
# it and `below` pixels, within [min, max] (chart.js).
PRESENTER_FIT = {"below": 12, "min": 300, "max": 1100}
KEYS = "→ / PageDown / Space: next; ← / PageUp: back"
STYLE = """<style>
.st-key-story_takeaway p {font-size: 1.2rem; font-weight: 600;}
</style>"""
PRESENTER_STYLE = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"] {display: none;}
[data-testid="stMainBlockContainer"] {padding: 0.5rem 1.5rem 2rem; max-width: 100%;}
[data-testid="stMainBlockContainer"] p, [data-testid="stMainBlockContainer"] li {
  font-size: clamp(1.3rem, 1.45vw, 2.2rem); line-height: 1.4;}
.st-key-story_scene h2 {font-size: clamp(1.9rem, 2.2vw, 3.2rem); padding: 0;}
.st-key-story_takeaway p {font-size: clamp(1.45rem, 1.7vw, 2.5rem); font-weight: 600;}
.st-key-story_prompt input {font-size: clamp(1rem, 1.1vw, 1.6rem);}
</style>"""
# The keys a clicker sends press Next and Back, whatever has the focus (a button just clicked, the presenter
# switch), except in a text field and where Space has its own meaning (a switch, another button). On the page's
# own window (st.html runs it there, not in a frame), once per page load; it acts only while the Story is shown.
KEYS_JS = """<script>
(() => {
  if (window.__llmStoryKeys) return;
  window.__llmStoryKeys = true;
  const NEXT = new Set(["ArrowRight", "PageDown", " "]);
  const BACK = new Set(["ArrowLeft", "PageUp"]);
  const typing = (el) => !!el && (el.isContentEditable || ["TEXTAREA", "SELECT"].includes(el.tagName) ||
    (el.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(el.type)));
  const ours = (el) => !!el && !!el.closest && !!el.closest(".st-key-story_next, .st-key-story_back");
  const ownSpace = (el) => !!el && el !== document.body && !ours(el) &&
    (el.type === "checkbox" || el.type === "radio" || el.tagName === "BUTTON" || el.getAttribute("role") === "switch");
  window.addEventListener("keydown", (e) => {
    if (!/\\/story\\/?$/.test(location.pathname) || e.altKey || e.ctrlKey || e.metaKey) return;
    const el = document.activeElement;
    const next = NEXT.has(e.key);
    if ((!next && !BACK.has(e.key)) || typing(el) || (e.key === " " && ownSpace(el))) return;
    e.preventDefault();
    e.stopPropagation();
    const button = document.querySelector(`.st-key-story_${next ? "next" : "back"} button`);
    if (button && !button.disabled) button.click();
  }, true);
})();
</script>"""


def _move(delta: int) -> None:
    st.session_state.scene = min(max(int(st.session_state.scene) + delta, 1), N_SCENES)


def controls(presenter: bool) -> None:
    """The prompt, the presenter switch, Back / where we are / Next and the link to this scene: one line in
    presenter mode; otherwise the prompt, then the switch and the link (a row that wraps), then Back and Next."""
    n = int(st.session_state.scene)
    if presenter:
        prompt, mode, back, where, nxt, link = st.columns([3.2, 2.1, 1, 1.5, 1, 1], vertical_alignment="center")
    else:
        prompt = st.container()
        mode = link = st.container(horizontal=True, vertical_alignment="center")
        back, where, nxt = st.columns([1, 3, 1], vertical_alignment="center")
    prompt.text_input("Prompt of the story", key="story_prompt", max_chars=200,
                      label_visibility="collapsed" if presenter else "visible", placeholder="Prompt of the story")
    mode.toggle("Presenter mode", key="presenter", help=f"Large type, no sidebar, each chart on one screen. Keys: "
                f"{KEYS}.")
    with link.popover("Link" if presenter else "Link to this scene", icon=":material/link:",
                      width="stretch" if presenter else "content",
                      help="A link that opens this scene, with this prompt and mode"):
        st.code(urlstate.link(list(DEFAULTS)), language=None, wrap_lines=True)
        st.caption("Copy it (select it, or point at it for the copy button at its right); it opens this very scene.")
    back.button("◀ Back", on_click=_move, args=(-1,), key="story_back", disabled=n <= 1, width="stretch")
    where.progress(n / N_SCENES, text=f"Scene {n} of {N_SCENES}")
    nxt.button("Next ▶", on_click=_move, args=(1,), key="story_next", disabled=n >= N_SCENES, width="stretch")


def build_scene(n: int, ckpt: Checkpoint, trace: GenerationTrace, *, presenter: bool) -> scenes.Scene:
    """Scene n (1-6) for the loaded model and the story's prompt."""
    book = get_map_book(ckpt.content_hash, ckpt)
    context_of = contexts_of_words(ckpt)
    colours = theme.context_colours(trace.context_names)
    font_px = PRESENTER_PX if presenter else 12
    if n == 1:
        return scenes.scene_embeddings(ckpt, book, ink=theme_ink())
    if n == 2:
        return scenes.scene_loop(ckpt, book, trace, font_px=font_px)
    if n == 3:
        view = get_best_view(ckpt.content_hash, ckpt)
        return scenes.scene_meander(book, trace, view, context_of=context_of, font_px=font_px,
                                   method_title=METHOD_NAMES.get(view.method, view.method))
    if n == 4:
        if not ckpt.held_out:
            return scenes.scene_held_out(ckpt, None, None)
        return scenes.scene_held_out(ckpt, get_corpus_check(ckpt.content_hash, ckpt),
                                    get_held_out_breakdown(ckpt.content_hash, ckpt),
                                    prompt=" ".join(trace.prompt_words))
    if n == 5:  # the output depth: what the head reads the next word from
        regions = get_next_regions(ckpt.content_hash, trace.layer_names[-1], ckpt)
        path = frames.trajectory_frame(trace, regions, len(trace.layer_names) - 1, context_of)
        # labels placed for the chart as drawn: a narrow column, or a projector's window beside the legend
        return scenes.scene_landscape(regions, path, colours, ink=theme_ink(), font_px=font_px,
                                     width_px=1000 if presenter else 800, height_px=580 if presenter else 620)
    return decides(ckpt, trace, context_of, colours)


def decides(ckpt: Checkpoint, trace: GenerationTrace, context_of: dict[str, str],
            colours: dict[str, str]) -> scenes.Scene:
    """Scene 6 with the lens chosen above it (lens_choice; a tuned lens that cannot be had is said, and the logit
    lens shown)."""
    lens = st.session_state.get("story_lens", "logit")
    key = trace.text + json.dumps(trace.sampling, sort_keys=True)
    try:
        readings = get_lens_readings(ckpt.content_hash, key, lens, _trace=trace, _ckpt=ckpt)
        report = get_lens(ckpt.content_hash, ckpt).report if lens == "tuned" else None
    except LensError as e:
        st.warning(f"The tuned lens cannot be used, so the logit lens is shown: {escape_md(str(e))}")
        readings, report = get_lens_readings(ckpt.content_hash, key, "logit", _trace=trace, _ckpt=ckpt), None
    return scenes.scene_decides(trace, context_of, colours, readings, report)


def lens_choice() -> None:
    """Scene 6's lens: above the scene, or under its chart in presenter mode (the title and takeaway come first on a
    projector)."""
    st.radio("Lens", list(LENSES), format_func=LENSES.get, key="story_lens", horizontal=True,
             help="logit lens: each depth's state through the final norm and the output layer; tuned lens: through a "
             "translator per depth first, fitted so each depth's reading matches the model's output")


def draw_scene(n: int, scene: scenes.Scene, presenter: bool) -> None:
    """Heading, the takeaway, the chart (or why it is not shown) with its check, then the rest of the text."""
    st.header(f"{n}. {scene.title}", anchor=False)
    st.container(key="story_takeaway").markdown(escape_md(scene.takeaway))
    figure = scene.shown
    if figure is not None:
        chart.show(theme.presenter_figure(figure, PRESENTER_PX) if presenter else figure, key=f"scene{n}",
                   fit=PRESENTER_FIT if presenter else None)
    if n == N_SCENES and presenter:
        lens_choice()
    if scene.check is not None:
        if scene.check.passed:
            st.caption(escape_md(scene.check.sentence()))
        else:
            st.warning(escape_md(scene.check.reason()))
    with st.expander("More about this scene", expanded=figure is None) if presenter else st.container():
        for sentence in scene.sentences:
            st.markdown(f"- {escape_md(sentence)}")


def render() -> None:
    urlstate.restore_with_notice(DEFAULTS, ALLOWED)
    ckpt = checkpoint_or_error()
    if ckpt is None:
        return
    presenter = bool(st.session_state.get("presenter", False))
    st.html(PRESENTER_STYLE if presenter else STYLE)  # fixed CSS of our own (style only: takes no room)
    st.sidebar.html(KEYS_JS, unsafe_allow_javascript=True)  # fixed script of our own; no user text in it
    if not presenter:
        st.title("The story")
        st.caption(f"Six scenes of how the model reads a prompt and chooses the next word. Keys: {KEYS}.")
    controls(presenter)
    try:
        trace = get_trace(ckpt.content_hash, st.session_state.story_prompt, SamplingConfig(), ckpt)
    except PromptError as e:
        st.error(escape_md(str(e)))
        return
    for notice in trace.notices:  # unknown words read as <unk>, a prompt cut to the model's window
        st.warning(escape_md(notice))
    n = int(st.session_state.scene)
    if n == N_SCENES and not presenter:
        lens_choice()
    fresh = st.session_state.get("_story_drawn") != n
    area = st.empty() if fresh else None
    if area is not None:  # a new scene: the last one goes at once, not shown (faded) while this one is computed
        area.caption(f"Drawing scene {n} of {N_SCENES}…")
    scene = build_scene(n, ckpt, trace, presenter=presenter)
    with area.container(key="story_scene") if area is not None else st.container(key="story_scene"):
        draw_scene(n, scene, presenter)
    st.session_state._story_drawn = n
    urlstate.publish(list(DEFAULTS))
