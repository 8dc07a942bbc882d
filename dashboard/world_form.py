"""The Training page's world editor: forms that add, change or remove an animal, a food or a place, writing the
result into the page's world text (session key `world_text`); each problem is shown under its field."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from dashboard.text import escape_md
from llmcore.world import edit as we

NEW = "(a new one)"
OTHER_KIND = "another kind…"


def world_editor() -> None:
    """The form for what the teacher chose to edit, filled from the world text as it is now (read through the
    guard of every outside file: size, nesting and numbers checked before it is parsed, then validated)."""
    try:
        data = we.parse_world_text(st.session_state.world_text)
    except we.EditError as e:
        st.info(escape_md(f"The form needs a valid world file; fix it on the right (or reload the page). "
                          f"{e.errors['world']}"))
        return
    if st.session_state.get("we_notice"):
        st.success(escape_md(st.session_state.we_notice))
    what = st.radio("Edit", ["animal", "food", "place"], horizontal=True, key="we_what",
                    format_func=lambda w: {"animal": "an animal", "food": "a food", "place": "a place"}[w])
    {"animal": animal_form, "food": food_form, "place": place_form}[what](data)


def _errors(key: str) -> dict[str, str]:
    return st.session_state.get("we_errors", {}) if st.session_state.get("we_errors_for") == key else {}


def _show(errors: dict[str, str], field: str) -> None:
    if field in errors:
        st.error(escape_md(errors[field]))


def _done(out: dict, notice: str, select_key: str, name: str) -> None:
    st.session_state.world_text = we.to_toml(out)
    st.session_state.we_notice = f"{notice} The world file was rewritten from its data: comments are not kept."
    st.session_state.we_errors, st.session_state.we_errors_for = {}, None
    st.session_state[select_key] = name


def _failed(key: str, e: we.EditError) -> None:
    st.session_state.we_errors, st.session_state.we_errors_for = e.errors, key
    st.session_state.we_notice = ""


def _pick(label: str, options: list[str], select_key: str) -> str:
    if st.session_state.get(select_key) not in [NEW] + options:
        st.session_state[select_key] = NEW
    return st.selectbox(label, [NEW] + options, key=select_key)


def _name_box(choice: str, k: str) -> None:
    new = choice == NEW
    st.text_input("Name", value="" if new else choice, key=f"{k}name", disabled=not new, max_chars=we.MAX_NAME,
                  help=f"A new name: {we.NAME_RULE}, not yet a word of the world")


def _group(label: str, groups: list[str], current: str | None, key: str) -> None:
    st.selectbox(label, groups, index=groups.index(current) if current in groups else 0, key=key)


def _new_words(label: str, groups: list[str], k: str, field: str) -> None:
    c1, c2 = st.columns(2)
    c1.text_input(f"New {label} (comma-separated)", key=f"{k}{field}_new",
                  help="Each is added to the world's taxonomy in the group on the right")
    c2.selectbox("in the group", groups, key=f"{k}{field}_newgroup")


def animal_form(data: dict) -> None:
    choice = _pick("Animal", list(data.get("animals", {})), "we_animal")
    spec = data.get("animals", {}).get(choice, {})
    k, new = f"we_a_{choice}_", choice == NEW
    errors = _errors(k)
    places, foods, kinds = we.words_in(data, "locations"), we.words_in(data, "food"), we.kinds(data)
    with st.form(f"form_{k}"):
        _name_box(choice, k)
        _show(errors, "name")
        st.text_input("Plural", value=data.get("plurals", {}).get(choice, ""), key=f"{k}plural",
                      help="Empty: the regular English plural (cats, foxes, ponies)")
        _show(errors, "plural")
        where = None if new else next((g for g in we.subgroups(data, "animals")
                                       if choice in data["taxonomy"]["animals"][g]), None)
        _group("Group", we.subgroups(data, "animals"), where, f"{k}group")
        _show(errors, "group")
        c1, c2 = st.columns(2)
        options = kinds + [OTHER_KIND]
        c1.selectbox("Kind (as in 'a cat is a pet')", options,
                     index=options.index(spec["kind"]) if spec.get("kind") in options else 0, key=f"{k}kind")
        c2.text_input("Another kind", key=f"{k}kind_other", help="Used when 'another kind…' is chosen")
        _show(errors, "kind")
        st.multiselect("Habitats: where it lives", places, default=spec.get("habitats", []), key=f"{k}habitats")
        _new_words("places", we.subgroups(data, "locations"), k, "habitats")
        _show(errors, "habitats")
        st.multiselect("Diet: what it eats", foods, default=spec.get("diet", []), key=f"{k}diet")
        _new_words("foods", we.subgroups(data, "food"), k, "diet")
        _show(errors, "diet")
        st.multiselect("Drinks", foods, default=spec.get("drinks", []), key=f"{k}drinks")
        _show(errors, "drinks")
        _show(errors, "world")
        c1, c2 = st.columns(2)
        c1.form_submit_button("Save", on_click=_save_animal, args=(k, choice), key=f"{k}save")
        c2.form_submit_button("Remove", on_click=_remove, args=(k, we.remove_animal, choice, "we_animal"),
                              disabled=new, key=f"{k}remove")


def _save_animal(k: str, choice: str) -> None:
    s = st.session_state
    name = s[f"{k}name"] if choice == NEW else choice
    kind = s[f"{k}kind_other"] if s[f"{k}kind"] == OTHER_KIND else s[f"{k}kind"]
    new_words = {f: (we.split_new_words(s.get(f"{k}{f}_new", "")), s.get(f"{k}{f}_newgroup", ""))
                 for f in ("habitats", "diet")}
    try:
        out = we.set_animal(we.parse_world_text(s.world_text), name, new=choice == NEW, group=s[f"{k}group"],
                            kind=kind, habitats=s[f"{k}habitats"], diet=s[f"{k}diet"], drinks=s[f"{k}drinks"],
                            new_words=new_words, plural=s.get(f"{k}plural", "").strip() or None)
    except we.EditError as e:
        _failed(k, e)
        return
    name = name.strip().lower()
    _done(out, f"Saved the animal '{name}' in the world file: train a model to see it learned.", "we_animal", name)


def _remove(k: str, remove: Callable[[dict, str], dict], choice: str, select_key: str) -> None:
    try:
        out = remove(we.parse_world_text(st.session_state.world_text), choice)
    except we.EditError as e:
        _failed(k, e)
        return
    _done(out, f"Removed '{choice}' from the world file.", select_key, NEW)


def _name_and_group(data: dict, choice: str, k: str, context: str, errors: dict) -> None:
    """A food's or a place's name box and its group, each with its problem under it."""
    _name_box(choice, k)
    _show(errors, "name")
    where = None if choice == NEW else next(g for g in we.subgroups(data, context)
                                            if choice in data["taxonomy"][context][g])
    _group("Group", we.subgroups(data, context), where, f"{k}group")
    _show(errors, "group")


def _save_and_remove(k: str, choice: str, errors: dict, *, save: Callable[[str, str], None],
                     remove: Callable[[dict, str], dict], select_key: str) -> None:
    """The form's last problem (the world's as a whole) and its two buttons."""
    _show(errors, "world")
    c1, c2 = st.columns(2)
    c1.form_submit_button("Save", on_click=save, args=(k, choice), key=f"{k}save")
    c2.form_submit_button("Remove", on_click=_remove, args=(k, remove, choice, select_key),
                          disabled=choice == NEW, key=f"{k}remove")


def food_form(data: dict) -> None:
    foods = we.words_in(data, "food")
    choice = _pick("Food", foods, "we_food")
    k = f"we_f_{choice}_"
    errors = _errors(k)
    own = data.get("food_places", {}).get(choice, {})
    eaters = [a for a, spec in data.get("animals", {}).items() if choice in spec.get("diet", [])]
    with st.form(f"form_{k}"):
        _name_and_group(data, choice, k, "food", errors)
        st.multiselect("Eaten by", list(data.get("animals", {})), default=eaters, key=f"{k}eaten_by")
        _show(errors, "eaten_by")
        st.multiselect("Places of its own ('pizza is sold in the restaurant')", we.words_in(data, "locations"),
                       default=own.get("places", []), key=f"{k}places")
        st.text_input("Words before the place", value=own.get("verb", "is sold in the"), key=f"{k}verb")
        _show(errors, "verb")
        _show(errors, "places")
        _save_and_remove(k, choice, errors, save=_save_food, remove=we.remove_food, select_key="we_food")


def _save_food(k: str, choice: str) -> None:
    _save_word(k, choice, setter=we.set_food, what="food", select_key="we_food",
               fields={"group": "group", "eaten_by": "eaten_by", "places": "places", "verb": "verb"})


def _save_word(k: str, choice: str, *, setter: Callable[..., dict], what: str, select_key: str,
               fields: dict[str, str]) -> None:
    """Save a food or a place from its form: `fields` maps the setter's arguments to the form's keys."""
    s = st.session_state
    name = s[f"{k}name"] if choice == NEW else choice
    try:
        out = setter(we.parse_world_text(s.world_text), name, new=choice == NEW,
                     **{arg: s[f"{k}{key}"] for arg, key in fields.items()})
    except we.EditError as e:
        _failed(k, e)
        return
    name = name.strip().lower()
    _done(out, f"Saved the {what} '{name}' in the world file.", select_key, name)


def place_form(data: dict) -> None:
    places = we.words_in(data, "locations")
    choice = _pick("Place", places, "we_place")
    k = f"we_p_{choice}_"
    errors = _errors(k)
    residents = [a for a, spec in data.get("animals", {}).items() if choice in spec.get("habitats", [])]
    with st.form(f"form_{k}"):
        _name_and_group(data, choice, k, "locations", errors)
        st.multiselect("Home of", list(data.get("animals", {})), default=residents, key=f"{k}home_of")
        _show(errors, "home_of")
        _save_and_remove(k, choice, errors, save=_save_place, remove=we.remove_place, select_key="we_place")


def _save_place(k: str, choice: str) -> None:
    _save_word(k, choice, setter=we.set_place, what="place", select_key="we_place",
               fields={"group": "group", "home_of": "home_of"})
