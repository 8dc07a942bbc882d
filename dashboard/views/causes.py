"""Causes page: why the state goes where it goes. Causal tracing, the counterfactual grid, component attribution
and steering, each drawn against the maps the other pages show.

A little over 400 lines on purpose: each of the four panels' controls sits beside the sentence and chart they drive
(the figures themselves are in dashboard/figures/causes.py)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import streamlit as st

from dashboard import chart, classroom, frames, urlstate
from dashboard import glossary as glossary_words
from dashboard.figures import causes as causes_figures
from dashboard.figures import theme
from dashboard.state import (
    get_ablation,
    get_attribution,
    get_causal_trace,
    get_counterfactual_grid,
    get_map,
    get_map_book,
    get_patched_run,
    get_regions,
    get_steered_trace,
    get_steering_groups,
    get_steering_sweep,
    get_trace,
    noise_unit,
    theme_ink,
)
from dashboard.text import escape_md
from llmcore.analysis.counterfactual import counterfactual_prompt
from llmcore.analysis.interventions import (
    KINDS,
    MAX_SEEDS,
    best_restore,
    changed_positions,
    trace_lead,
    word_ids,
)
from llmcore.analysis.steering import SWEEP_ALPHAS, default_direction, group_label, nearer_centre, steer_lead
from llmcore.analysis.trace import PromptError, SamplingConfig
from llmcore.model.depths import depth_labels
from llmcore.world.types import FUNCTION_CONTEXT

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

    from llmcore.analysis.interventions import CausalTrace
    from llmcore.analysis.steering import SteeringSweep
    from llmcore.model.checkpoint import Checkpoint

SEED_PROMPT = "a dog devours pizza in"
MODES = {"prompt": "counterfactual prompt", "noise": "noise on chosen words"}
PUSH_ON = {"animal": "the animal's word", "all": "every word"}
DEFAULTS = {"c_prompt": SEED_PROMPT, "c_mode": "prompt", "c_corrupt": "", "c_noise": "animal", "c_nscale": 3.0,
            "c_seeds": 10, "c_target": "", "c_kind": "resid", "c_depth": 0, "c_pos": 2, "c_layer": "block 1",
            "c_from": "", "c_to": "", "c_sdepth": 0, "c_on": "animal", "c_alpha": 0.0}
MODE_KEYS = ("c_corrupt", "c_nscale", "c_seeds")
NOISE_SCALE = (0.1, 20.0)  # noise standard deviation, in standard deviations of the word embeddings
ALLOWED = {"c_mode": tuple(MODES), "c_nscale": NOISE_SCALE, "c_seeds": (1, MAX_SEEDS), "c_kind": KINDS,
           "c_depth": (0, 64), "c_pos": (1, 64), "c_sdepth": (0, 64), "c_on": tuple(PUSH_ON),
           "c_alpha": (0.0, max(SWEEP_ALPHAS))}
UNMEASURED_RANGE = (1.0, 2.0)  # alpha's start and end where the world has no animal sentences to measure them on
RUN_COLOURS = {"clean": "#222222", "corrupted": "#D55E00", "patched": "#0072B2", "unsteered": "#222222",
               "steered": "#009E73"}


def render() -> None:
    st.title("Causes")
    st.caption("Why the state goes where it goes: put one state of a clean run into a corrupted run (causal "
               "tracing), swap the animal or the food, weigh each head and MLP, and push the state along a "
               "direction (steering).")
    urlstate.restore_with_notice(DEFAULTS, ALLOWED)
    from dashboard.state import checkpoint_or_error

    ckpt = checkpoint_or_error()
    if ckpt is None:
        return
    for key in MODE_KEYS:  # the other mode's settings are kept while their widgets are hidden
        st.session_state[key] = st.session_state.get(key, DEFAULTS[key])
    prompt = st.text_input("Clean prompt", key="c_prompt", max_chars=500)
    mode = st.radio("Corrupt the prompt with", list(MODES), format_func=MODES.get, key="c_mode", horizontal=True,
                    help="A counterfactual prompt of the same length, or Gaussian noise on the embeddings of chosen "
                         "words averaged over several random draws (Meng et al. 2022)")
    corruption = prompt_corruption(ckpt, prompt) if mode == "prompt" else noise_corruption(ckpt, prompt)
    if corruption is None:
        urlstate.publish(list(DEFAULTS))
        return
    corrupt, target_words = corruption
    glossary(ckpt, prompt, corrupt)
    try:
        classroom.check_draws(ct_seeds(corrupt))
        classroom.check_prompt(prompt, kind="causes", key=(prompt, corrupt, target_words))
        ct = get_causal_trace(ckpt.content_hash, prompt, corrupt, target_words, _ckpt=ckpt)
    except PromptError as e:
        st.error(escape_md(str(e)))
        urlstate.publish(list(DEFAULTS))
        return
    trace_section(ckpt, prompt, corrupt, target_words, ct=ct)
    grid_section(ckpt, prompt)
    components_section(ckpt, prompt, target_words)
    steering_section(ckpt, prompt)
    urlstate.publish(list(DEFAULTS))


def glossary(ckpt: Checkpoint, prompt: str, corrupt: str | tuple) -> None:
    """The page's words in plain language, in a popover."""
    glossary_words.show(glossary_terms(ckpt, prompt, corrupt))


def glossary_terms(ckpt: Checkpoint, prompt: str, corrupt: str | tuple) -> dict[str, str]:
    """Each word of the page in plain language, with an example from this prompt and model where it has one."""
    cfg = ckpt.model.config
    changed = (f"'{corrupt}'" if isinstance(corrupt, str) else
               f"noise on word {', '.join(str(t + 1) for t in corrupt[1])}")
    terms = {
        "Clean run": f"the model reading your prompt as it is: '{prompt}'.",
        "Corruption": f"the same prompt changed so that the answer changes; here {changed}.",
        "State": f"the {cfg.n_embd} numbers the model keeps for a word at one depth: at 'embed' the word itself, after "
                 f"'block k' what the first k of the model's {cfg.n_layer} blocks have added to it.",
        "Restore (patch)": "run the corrupted prompt, but copy one state from the clean run into it. If the clean "
                           "answer comes back, that one state carried it: 0% back is nothing, 100% all of it.",
        "Head and MLP": "the two kinds of parts in a block. An attention head reads from other words; the MLP "
                        "reworks the word's own state.",
        "Attribution": "the model's score for a next word (its logit) is a sum of parts, one from each head and MLP; "
                       "attribution lists the parts.",
        "Logit": glossary_words.LOGIT,
        "Residual stream": "the word's whole state as it runs through the model: each block adds what it finds to it.",
        "Direct logit attribution": "how much each head and MLP adds, through the final norm, to the score of the "
                                    "target words: the bars add up to the model's score for them.",
        "Alpha": "how far the steering pushes: 0 is no push, 1 the whole way from one group's centre to the "
                 "other's.",
        "Final norm": glossary_words.lens_terms(ckpt)["Final norm"] + " Its bias is a fixed amount it adds, which "
                      "can push some words down on its own.",
        "Ablation": "switch a part off and see what the model loses: zero-ablated, its output replaced by zeros; "
                    "mean-ablated, by its average output over many sentences (a gentler switch-off).",
        "Steering": "add alpha × (centre of one group's states − centre of another's) to a state, then let the "
                    "model go on; alpha 1 moves the state the whole way from one centre to the other."}
    return terms


def _target_input(column: DeltaGenerator) -> tuple[str, ...]:
    target = column.text_input("Target words (comma-separated)", key="c_target", max_chars=500,
                               placeholder="the animal's habitats", help="Whose probability is traced at the next word")
    if not target:  # the grey text is the value in use, not a hint: said in words
        column.caption("In use: the habitats of the prompt's animal (type words to trace others).")
    return tuple(w.strip() for w in target.split(",") if w.strip())


def prompt_corruption(ckpt: Checkpoint, prompt: str) -> tuple[str, tuple[str, ...]] | None:
    """The counterfactual prompt (typed, or the prompt's animal swapped) and the target words; None after saying
    why there is nothing to trace."""
    auto = counterfactual_prompt(ckpt, prompt) or ""
    c1, c2 = st.columns(2)
    corrupt = c1.text_input("Corrupted prompt (same number of words)", key="c_corrupt", max_chars=500,
                            placeholder=auto or "another prompt of the same length",
                            help="Empty: the prompt's animal swapped for one that shares none of its habitats")
    if auto and not corrupt:
        c1.caption(f"In use: '{escape_md(auto)}', the prompt's animal swapped (type another to change it).")
    target_words = _target_input(c2)
    if not (corrupt or auto):
        st.info("Type a corrupted prompt of the same length: this prompt names no animal of the model's world to "
                "swap.")
        return None
    return corrupt or auto, target_words


def _noise_words(words: list[str], animals: Collection[str]) -> tuple[list[int], list[str]]:
    """The 0-based positions named by the c_noise setting ('animal', or word numbers '2,4') and the parts of it
    that name no word of the prompt."""
    raw = str(st.session_state.get("c_noise", ""))
    if raw == "animal":
        return [t for t, w in enumerate(words) if w in animals][:1], []
    picked, bad = [], []
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        ok = part.isdigit() and 1 <= int(part) <= len(words)
        (picked if ok else bad).append(int(part) - 1 if ok else part)
    return sorted(set(picked)), bad


def _pick_noise_words() -> None:
    st.session_state.c_noise = ",".join(str(t + 1) for t in sorted(st.session_state.c_noise_pick))


def noise_corruption(ckpt: Checkpoint, prompt: str) -> tuple[tuple, tuple[str, ...]] | None:
    """Gaussian noise on the embeddings of the chosen words: ('noise', positions, scale, seeds) and the target
    words; None after saying what is missing."""
    try:
        words = [ckpt.tokenizer.vocab[i] for i in word_ids(ckpt, prompt)]
    except PromptError as e:
        st.error(escape_md(str(e)))
        return None
    raw_default = st.session_state.get("c_noise") == "animal"
    picked, bad = _noise_words(words, getattr(ckpt.world, "animals", {}))
    if bad:
        st.error(escape_md(f"Words to put noise on (c_noise): {', '.join(map(str, bad))} name no word of this "
                           f"{len(words)}-word prompt; give word numbers from 1 to {len(words)}, e.g. 2 or 2,4. "
                           "Ignored."))
        st.session_state.c_noise = ",".join(str(t + 1) for t in picked)
    st.session_state.c_noise_pick = picked
    st.pills("Words to put noise on", list(range(len(words))), selection_mode="multi", key="c_noise_pick",
             format_func=lambda t: f"{t + 1}: {words[t]}", on_change=_pick_noise_words)
    c1, c2, c3 = st.columns([2, 2, 3])
    unit = noise_unit(ckpt)
    scale = c1.number_input("Noise scale (× embedding std)", *NOISE_SCALE, step=0.5, key="c_nscale",
                            help=f"Standard deviation of the noise, in standard deviations of the word embeddings "
                                 f"({unit:.3f} for this model); Meng et al. use 3")
    seeds = c2.number_input("Noise draws (seeds)", 1, MAX_SEEDS, step=1, key="c_seeds",
                            help="Every probability is the mean over this many random draws")
    target_words = _target_input(c3)
    if not picked:
        st.error("Choose at least one word to put noise on." + (" This prompt names no animal of the model's world "
                 "to choose by default." if raw_default else ""))
        return None
    return ("noise", tuple(picked), float(scale) * unit, int(seeds)), target_words


def _cell(ct: CausalTrace) -> tuple[int, int, int]:
    """The (kind, depth, position) chosen in the widgets, kept inside the trace's table."""
    D, T = len(ct.depth_names), len(ct.words)
    c1, c2, c3 = st.columns([3, 2, 3])
    kind = c1.radio("Restore", KINDS, format_func=causes_figures.PLAIN_KINDS.get, key="c_kind", horizontal=True)
    lo = 0 if kind == "resid" else 1
    st.session_state.c_depth = min(max(int(st.session_state.c_depth), lo), D - 1)
    st.session_state.c_pos = min(max(int(st.session_state.c_pos), 1), T)
    depth = c2.select_slider("at depth", list(range(lo, D)), format_func=lambda d: ct.depth_names[d], key="c_depth")
    pos = c3.select_slider("of the word", list(range(1, T + 1)), key="c_pos",
                           format_func=lambda t: f"{t}: {ct.words[t - 1]}")
    return KINDS.index(kind), depth, pos - 1


def _pick_cell() -> None:
    """A click on a heatmap cell chooses that (kind, depth, word): the map redraws the patched run."""
    point = chart.clicked("causal")
    cell = frames.clicked_cell(point) if point else None
    if cell is not None and not (cell[0] != "resid" and cell[1] == 0):
        st.session_state.c_kind, st.session_state.c_depth, st.session_state.c_pos = cell
        st.session_state.c_layer = point.get("y", st.session_state.get("c_layer"))  # the map at that depth


def trace_lead_sentence(ckpt: Checkpoint, prompt: str, corrupt: str | tuple, target: tuple[str, ...], *,
                        ct: CausalTrace) -> str:
    """trace_lead for this trace: the next words of the clean, corrupted and best-patched runs."""
    t = changed_positions(ct)[0]
    best = (("resid", best_restore(ct, t)[0], t),)
    tops = [get_patched_run(ckpt.content_hash, prompt, c, target, restore=r, _ckpt=ckpt).top_word
            for c, r in ((prompt, ()), (corrupt, ()), (corrupt, best))]
    return trace_lead(ct, ckpt.world, clean_top=tops[0], corrupt_top=tops[1], patched_top=tops[2])


def trace_section(ckpt: Checkpoint, prompt: str, corrupt: str | tuple, target: tuple[str, ...], *,
                  ct: CausalTrace) -> None:
    st.subheader("Causal trace")
    st.markdown(escape_md(trace_lead_sentence(ckpt, prompt, corrupt, target, ct=ct)))
    added = ct.words[len(prompt.split()):]
    if added:  # interventions.with_articles: the run goes on to where the place word comes
        st.caption(escape_md(f"The trace reads '{' '.join(ct.words)}': the model's own next "
                             f"{'word' if len(added) == 1 else 'words'} ({', '.join(repr(w) for w in added)}) "
                             "added to both prompts, so that the next word traced is the place itself."))
    for line in frames.causal_captions(ct, advice=False):  # the lead above says what to try instead
        st.caption(escape_md(line))
    st.caption("Click a cell (or use the controls) to draw that patched run on the map below.")
    k, d, t = _cell(ct)
    chart.show(causes_figures.causal_heatmaps(ct, (k, d, t)), key="causal", on_click=_pick_cell)
    layers = ct.depth_names
    if st.session_state.get("c_layer") not in layers:
        st.session_state.c_layer = layers[min(1, len(layers) - 1)]
    layer = st.select_slider("Map of states at", layers, key="c_layer")
    depth = layers.index(layer)
    restore = ((KINDS[k], d, t),)
    runs = {"clean": get_patched_run(ckpt.content_hash, prompt, prompt, target, restore=(), _ckpt=ckpt),
            "corrupted": get_patched_run(ckpt.content_hash, prompt, corrupt, target, restore=(), _ckpt=ckpt),
            "patched": get_patched_run(ckpt.content_hash, prompt, corrupt, target, restore=restore, _ckpt=ckpt)}
    contexts = ckpt.world.contexts + [FUNCTION_CONTEXT]
    fmap = get_map(ckpt.content_hash, f"context:{layer}", "pca", 2, _ckpt=ckpt)
    regions = get_regions(ckpt.content_hash, f"context:{layer}", "pca", tuple(contexts), _fitted=fmap)
    paths = frames.run_paths([(name, r.words, r.states[depth]) for name, r in runs.items()], fmap)
    share = ct.restored[k, d, t]
    chart.show(causes_figures.causes_map(regions, paths, theme.context_colours(contexts),
                                  f"States at '{layer}' (PCA)", axis_label=fmap.axis_label,
                                  run_colours=RUN_COLOURS, ink=theme_ink()), key="causes_map")
    drawn = (f" The map draws the first of the {ct_seeds(corrupt)} noise draws; the probabilities are means over "
             "all of them." if ct.noise_positions else "")
    st.caption(f"Clean, corrupted, and patched: the corrupted run with {causes_figures.PLAIN_KINDS[KINDS[k]]} of "
               f"'{ct.words[t]}' at {ct.depth_names[d]} restored ({share:.0%} back). p({'/'.join(ct.target)}) — "
               f"clean {runs['clean'].target_prob:.3f}, corrupted {runs['corrupted'].target_prob:.3f}, "
               f"patched {runs['patched'].target_prob:.3f}.{drawn}")


def ct_seeds(corrupt: str | tuple) -> int:
    """How many noise draws a corruption averages over (1 for a counterfactual prompt)."""
    return corrupt[3] if isinstance(corrupt, tuple) else 1


def grid_section(ckpt: Checkpoint, prompt: str) -> None:
    st.subheader("Counterfactual grid")
    if not ckpt.world.animals:
        st.info("This model's world has no animals and foods, so there is no grid to ask.")
        return
    grid = get_counterfactual_grid(ckpt.content_hash, ckpt)
    st.markdown(escape_md(grid.lead()))
    words = [ckpt.world.lemma(w) for w in prompt.split()]
    new_prompt = st.session_state.get("_grid_prompt") != prompt  # a new prompt: its own animal and food again
    st.session_state._grid_prompt = prompt
    for key, names in (("c_ganimal", grid.animals), ("c_gfood", grid.foods)):  # the prompt's own, to begin with
        own = next((w for w in words if w in names), None)
        if st.session_state.get(key) not in names or (new_prompt and own is not None):
            st.session_state[key] = own or names[0]
    c1, c2 = st.columns(2)
    animal = c1.selectbox("Find an animal (column)", grid.animals, key="c_ganimal")
    food = c2.selectbox("Find a food (row)", grid.foods, key="c_gfood")
    st.markdown(escape_md(grid.cell(animal, food, ckpt.world)))
    chart.show(causes_figures.counterfactual_heatmap(grid, (animal, food)), key="grid")
    st.caption(escape_md(grid.summary()[0].upper() + grid.summary()[1:] + "."))


def components_section(ckpt: Checkpoint, prompt: str, target: tuple[str, ...]) -> None:
    st.subheader("Components")
    attr = get_attribution(ckpt.content_hash, prompt, target, ckpt)
    st.markdown(escape_md(attr.lead()))
    chart.show(causes_figures.component_bars(frames.attribution_frame(attr), "/".join(attr.target)), key="components")
    if not ckpt.held_out:
        return
    ab = get_ablation(ckpt.content_hash, ckpt)
    st.markdown(escape_md(ab.lead()))
    st.dataframe(frames.ablation_frame(ab).round(3), hide_index=True)


STEERING_KEYS = ["c_from", "c_to", "c_sdepth", "c_on", "c_alpha"]


def _animal_position(ckpt: Checkpoint, prompt: str) -> tuple[int, str] | tuple[None, None]:
    """(0-based position, word) of the prompt's first animal of the world, or (None, None)."""
    animals = getattr(ckpt.world, "animals", {})
    words = [ckpt.tokenizer.vocab[i] for i in word_ids(ckpt, prompt)]
    return next(((t, w) for t, w in enumerate(words) if w in animals), (None, None))


def _steering_controls(ckpt: Checkpoint, groups: list[str], animal: str | None) -> tuple[str, str, int, str]:
    """from, towards, depth and where to push, the direction starting where the prompt's animal is."""
    start = default_direction(ckpt.world, animal, groups)
    if st.session_state.get("_c_dir_for", "") != animal:  # a new animal: the push starts from its own group
        if "_c_dir_for" in st.session_state or "c_from" not in st.query_params:  # a link's own, on the first run
            st.session_state.c_from, st.session_state.c_to = start
        st.session_state._c_dir_for = animal
    for key, fallback in (("c_from", start[0]), ("c_to", start[1])):
        if st.session_state.get(key) not in groups:
            st.session_state[key] = fallback
    n = ckpt.model.config.n_layer
    st.session_state.c_sdepth = min(max(int(st.session_state.c_sdepth), 0), n)
    options = list(PUSH_ON) if animal else ["all"]
    if st.session_state.get("c_on") not in options:
        st.session_state.c_on = options[0]
    c1, c2, c3, c4 = st.columns(4)
    named = lambda g: group_label(ckpt.world, g)  # noqa: E731
    source = c1.selectbox("from", groups, key="c_from", format_func=named)
    to = c2.selectbox("towards", groups, key="c_to", format_func=named)
    labels = depth_labels(n)
    depth = c3.select_slider("at depth", list(range(n + 1)), key="c_sdepth", format_func=labels.__getitem__)
    on = c4.radio("push", options, format_func=PUSH_ON.get, key="c_on",
                  help="The animal's word alone, or every word of the prompt and of the completion")
    return source, to, depth, on


def _alpha(sweep: SteeringSweep | None, direction: tuple) -> float:
    """The alpha slider, from 0 to the end of the measured range, starting (for each new direction) at the
    measured default; a link's own alpha is kept on the first run."""
    start, end = (sweep.default, sweep.maximum) if sweep is not None else UNMEASURED_RANGE
    if st.session_state.get("_c_alpha_for") != direction:
        if st.session_state.get("_c_alpha_for") is not None or "c_alpha" not in st.query_params:
            st.session_state.c_alpha = start
        st.session_state._c_alpha_for = direction
    st.session_state.c_alpha = min(max(float(st.session_state.c_alpha), 0.0), end)
    return st.slider("alpha (how far to push)", 0.0, end, step=0.25, key="c_alpha",
                     help="adds alpha × (centre of 'towards' − centre of 'from') to the state; 1 = the whole way "
                          "from one centre to the other")


@st.fragment
def steering_section(ckpt: Checkpoint, prompt: str) -> None:
    """Its own fragment: moving the alpha slider reruns and redraws only this panel."""
    st.subheader("Steering")
    groups = get_steering_groups(ckpt.content_hash, ckpt)
    if len(groups) < 2:
        st.info("Fewer than two sub-contexts of this model have reference states, so there is nothing to steer "
                "between.")
        return
    try:
        pos, animal = _animal_position(ckpt, prompt)
    except PromptError as e:
        st.error(escape_md(str(e)))
        return
    source, to, sdepth, on = _steering_controls(ckpt, groups, animal)
    sweep = get_steering_sweep(ckpt.content_hash, source, to, sdepth, on == "animal", _ckpt=ckpt)
    alpha = _alpha(sweep, (source, to, sdepth, on))
    positions = (pos,) if on == "animal" else None
    try:
        plain = get_trace(ckpt.content_hash, prompt, SamplingConfig(), ckpt)
        steered = get_steered_trace(ckpt.content_hash, prompt, source, to, depth=sdepth, alpha=float(alpha),
                                    positions=positions, _ckpt=ckpt)
    except PromptError as e:
        st.error(escape_md(str(e)))
        return
    layer = steered.layer_names[sdepth]
    nearer = (nearer_centre(ckpt, steered.hidden[pos, sdepth], (source, to), depth=sdepth,
                            reference=get_map_book(ckpt.content_hash, ckpt).states) if positions else None)
    named = lambda g: group_label(ckpt.world, g) if g else g  # noqa: E731
    st.markdown(escape_md(steer_lead(word=animal if positions else None, source=named(source), target=named(to),
                                     alpha=alpha, depth_name=layer, plain=plain.completion,
                                     steered=steered.completion, nearer=named(nearer))))
    fmap = get_map(ckpt.content_hash, f"context:{layer}", "pca", 2, _ckpt=ckpt)
    regions = get_regions(ckpt.content_hash, f"context:{layer}", "pca", tuple(plain.context_names), _fitted=fmap)
    name = f"steered, alpha {alpha:g}"
    paths = frames.run_paths([(run, words, states) for run, t in (("unsteered", plain), (name, steered))
                              for states, words in [frames.path_states(t, sdepth)]], fmap)
    chart.show(causes_figures.causes_map(regions, paths, theme.context_colours(plain.context_names),
                                  f"States at '{layer}' (PCA)", axis_label=fmap.axis_label,
                                  run_colours={"unsteered": theme_ink(), name: RUN_COLOURS["steered"]},
                                  ink=theme_ink()),
               key="steer_map")
    st.caption(escape_md(sweep.summary(to) if sweep is not None else
                         f"This model's world has no animal sentences to measure how far a push stays grammatical "
                         f"on; the slider runs to {UNMEASURED_RANGE[1]:g}."))
    urlstate.publish(STEERING_KEYS)
