"""Story page: a guided walk in six scenes for a lesson, with Back/Next and a presenter mode."""

from __future__ import annotations

import streamlit as st
import streamlit.components.v1 as components

from dashboard import chart, classroom, figures, frames, story, urlstate
from dashboard.state import (
    METHOD_NAMES,
    checkpoint_or_error,
    contexts_of_words,
    get_best_view,
    get_corpus_check,
    get_decision,
    get_held_out_breakdown,
    get_map,
    get_map_book,
    get_trace,
)
from dashboard.text import escape_md
from llmcore.trace import PromptError, SamplingConfig

N_SCENES = 6
DEFAULTS = {"scene": 1, "presenter": False, "story_prompt": "a dog devours pizza in"}
ALLOWED = {"scene": (1, N_SCENES)}
DECISION_GRID = 50  # points along each side of scene 5's decoded plane
PRESENTER_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] {display: none;}
[data-testid="stMainBlockContainer"] p, [data-testid="stMainBlockContainer"] li {font-size: 1.6rem; line-height: 1.5;}
</style>"""
# Arrow keys press Back / Next (the component's frame shares the page's origin).
KEYS_JS = """<script>
const doc = window.parent.document;
if (!doc.__storyKeys) {
  doc.__storyKeys = true;
  doc.addEventListener('keydown', (e) => {
    if (['INPUT', 'TEXTAREA'].includes(e.target.tagName)) return;
    const label = e.key === 'ArrowRight' ? 'Next' : e.key === 'ArrowLeft' ? 'Back' : null;
    if (!label) return;
    const button = [...doc.querySelectorAll('button')].find(b => b.innerText.includes(label));
    if (button && !button.disabled) button.click();
  });
}
</script>"""


def _move(delta: int) -> None:
    st.session_state.scene = min(max(int(st.session_state.scene) + delta, 1), N_SCENES)


def navigation() -> None:
    """Back and Next (also the arrow keys) and where in the walk we are."""
    c1, c2, c3 = st.columns([1, 4, 1])
    c1.button("◀ Back", on_click=_move, args=(-1,), key="story_back", disabled=st.session_state.scene <= 1,
              use_container_width=True)
    c2.progress(st.session_state.scene / N_SCENES, text=f"Scene {st.session_state.scene} of {N_SCENES}")
    c3.button("Next ▶", on_click=_move, args=(1,), key="story_next", disabled=st.session_state.scene >= N_SCENES,
              use_container_width=True)


def build_scene(n: int, ckpt, trace) -> story.Scene:
    """Scene n (1-6) for the loaded model and the story's prompt."""
    book = get_map_book(ckpt.content_hash, ckpt)
    context_of = contexts_of_words(ckpt)
    colours = figures.context_colours(trace.context_names)
    if n == 1:
        return story.scene_embeddings(ckpt, book)
    if n == 2:
        return story.scene_loop(ckpt, book, trace)
    if n == 3:
        view = get_best_view(ckpt.content_hash, ckpt)
        return story.scene_meander(book, trace, view, context_of=context_of,
                                   method_title=METHOD_NAMES.get(view.method, view.method))
    if n == 4:
        if not ckpt.held_out:
            return story.scene_held_out(ckpt, None, None)
        return story.scene_held_out(ckpt, get_corpus_check(ckpt.content_hash, ckpt),
                                    get_held_out_breakdown(ckpt.content_hash, ckpt))
    if n == 5:  # the output depth: the head reads the next word from there (a mid-depth plane decodes as noise)
        layer = trace.layer_names[-1]
        fmap = get_map(ckpt.content_hash, f"context:{layer}", "pca", 2, _ckpt=ckpt)
        path = frames.trajectory_frame(trace, fmap, trace.layer_names.index(layer), context_of)
        d = get_decision(ckpt.content_hash, layer, ckpt, fmap, grid=DECISION_GRID)
        return story.scene_landscape(d, path, colours, vocab=ckpt.tokenizer.vocab, axis_label=fmap.axis_label)
    return story.scene_decides(trace, context_of, colours)


def render() -> None:
    urlstate.restore_with_notice(DEFAULTS, ALLOWED)
    ckpt = checkpoint_or_error()
    if ckpt is None:
        return
    presenter = st.session_state.get("presenter", False)
    if presenter:
        st.markdown(PRESENTER_CSS, unsafe_allow_html=True)  # fixed CSS of our own; no user text in it
    components.html(KEYS_JS, height=0)
    st.title("The story")
    st.text_input("Prompt of the story", key="story_prompt", max_chars=200)
    st.toggle("Presenter mode", key="presenter", help="Large type, no sidebar; ← and → go back and next")
    try:
        classroom.check_prompt(st.session_state.story_prompt)
        trace = get_trace(ckpt.content_hash, st.session_state.story_prompt, SamplingConfig(), ckpt)
    except PromptError as e:
        st.error(escape_md(str(e)))
        return
    navigation()
    n = int(st.session_state.scene)
    scene = build_scene(n, ckpt, trace)
    st.header(f"{n}. {scene.title}")
    for sentence in scene.sentences:
        st.markdown(f"- {escape_md(sentence)}")
    if scene.figure is not None:
        chart.show(scene.figure, key=f"scene{n}")
    urlstate.publish(list(DEFAULTS))
