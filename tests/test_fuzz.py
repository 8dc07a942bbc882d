"""Bad input, fuzzed with hypothesis: only the project's own clear errors come out; nothing crashes or hangs.

Cases per run (hypothesis max_examples): tokenizer 400, prompts 300, sampling settings 400, world files 200,
CLI 60; round 2: nested TOML worlds 120, nested JSON (worlds, scenarios, traces, HF folders) 120, nested
config.json 150, model-config numbers 200, train-config numbers 200, extreme sampling floats 400, links inside
checkpoints 20 (every name, to a file or a folder); round 3: long whole numbers in JSON and TOML 150, re-labelled
tensors 60, new names in the world editor 200 — 2,980 in all; and the 36 hostile CLI cases of tests/hostile.py
under a 2 GB address-space limit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmcore.analysis.trace import MAX_NEW_WORDS, PromptError, SamplingConfig, trace_generation
from llmcore.cli import main as cli
from llmcore.inputs import MAX_DEPTH, text_depth
from llmcore.training.config import TrainConfig
from llmcore.world.load import world_from_dict
from llmcore.world.types import WorldError


def fast(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30), st.none(),
                    st.booleans(), st.text(max_size=5))


@fast(400)
@given(st.text(max_size=2000))
def test_tokenizer_takes_any_text(ckpt, text):
    enc = ckpt.tokenizer.encode(text)
    assert len(enc.ids) == len(enc.words) and all(0 <= i < len(ckpt.tokenizer) for i in enc.ids)
    assert set(enc.unknown) <= set(enc.words)


@fast(300)
@given(st.one_of(st.text(max_size=300), st.text(alphabet="abcdefghijklmnopqrstuvwxyz .\n\t\x00", max_size=400),
                 st.lists(st.sampled_from(["a", "dog", "eats", "pizza", "in", "the", ".", "zebra", "\u202e"]),
                          max_size=80).map(" ".join)))
def test_any_prompt_gives_a_trace_or_a_clear_error(ckpt, prompt):
    try:
        t = trace_generation(ckpt, prompt, SamplingConfig(max_new_words=3))
    except PromptError as e:
        assert str(e)
        return
    assert 1 <= t.n_steps <= 3 and len(t.prompt_words) <= ckpt.model.config.block_size
    assert math.isclose(float(t.context_probs.sum(1).min()), 1.0, abs_tol=1e-3)


@fast(400)
@given(temperature=NUMBERS, top_k=NUMBERS, top_p=NUMBERS, seed=NUMBERS, words=NUMBERS)
def test_sampling_settings_are_checked(ckpt, temperature, top_k, top_p, seed, words):
    try:
        s = SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, max_new_words=words)
    except PromptError as e:
        assert str(e)
        return
    t = trace_generation(ckpt, "a cat", s)
    assert 1 <= t.n_steps <= min(int(words), MAX_NEW_WORDS)


WORLD_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
                            lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                            max_leaves=20)


@fast(200)
@given(st.one_of(WORLD_VALUES, st.fixed_dictionaries({"taxonomy": WORLD_VALUES, "animals": WORLD_VALUES,
                                                     "corpus": WORLD_VALUES})))
def test_broken_worlds_give_world_errors(data):
    try:
        world_from_dict(data, "fuzz.toml")
    except WorldError as e:
        assert str(e).startswith("fuzz.toml: [")


@fast(60)
@given(st.lists(st.one_of(st.text(max_size=12), st.sampled_from(["--temperature", "--top-k", "--top-p", "--seed",
                                                                 "--max-words", "nan", "-1", "1e309", "0"])),
                max_size=6))
def test_cli_generate_exits_0_or_2(capsys, args):
    try:
        code = cli(["generate", "a dog"] + args)
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    assert code in (0, 2)
    err = capsys.readouterr().err
    assert "Traceback" not in err


# ---- round 2: nesting in every JSON/TOML entry point, extreme sampling floats, links, non-integer config numbers

OPEN = {"list": ("[", "]"), "dict": ('{"k": ', "}")}
TOML_FORMS = ("inline_array", "inline_table", "header", "dotted_key")


@st.composite
def nested_json(draw) -> str:
    """JSON text nested up to 20,000 levels (far past the recursion limit), lists and objects mixed."""
    depth = draw(st.one_of(st.integers(1, 40), st.integers(900, 20_000)))
    kinds = draw(st.lists(st.sampled_from(list(OPEN)), min_size=1, max_size=3))
    seq = [kinds[i % len(kinds)] for i in range(depth)]
    leaf = draw(st.sampled_from(["1", '"x"', "null", "[]", "{}", "1e999", "NaN"]))
    return "".join(OPEN[k][0] for k in seq) + leaf + "".join(OPEN[k][1] for k in reversed(seq))


@st.composite
def nested_toml(draw) -> str:
    """A TOML snippet nested up to 5,000 levels: inline arrays or tables, a dotted table header, or a dotted key."""
    depth, form = draw(st.one_of(st.integers(1, 40), st.integers(900, 5000))), draw(st.sampled_from(TOML_FORMS))
    if form == "inline_array":
        return "x = " + "[" * depth + "1" + "]" * depth
    if form == "inline_table":
        return "x = " + "{a = " * depth + "1" + "}" * depth
    if form == "header":
        return "[" + ".".join(["a"] * depth) + "]\nx = 1"
    return ".".join(["a"] * depth) + " = 1"


def _world_text() -> str:
    return (Path(__file__).parent / "data" / "tiny_world.toml").read_text()


@fast(120)
@given(snippet=nested_toml(), where=st.sampled_from(["end", "start"]))
def test_nested_toml_worlds_give_world_errors(tmp_path, snippet, where):
    from dashboard.jobs import validate_world_text
    from llmcore.world.load import load_world

    text = _world_text() + "\n" + snippet + "\n" if where == "end" else snippet + "\n" + _world_text()
    (tmp_path / "w.toml").write_text(text)
    for check in (lambda: load_world(tmp_path / "w.toml"), lambda: validate_world_text(text, "w.toml")):
        try:
            check()
        except WorldError as e:
            assert str(e).startswith(("w.toml: [", f"{tmp_path / 'w.toml'}: ["))


@fast(120)
@given(nested_json())
def test_nested_json_worlds_scenarios_and_traces_give_clear_errors(tmp_path, text):
    from dashboard.views.trajectory import scenario_from_json
    from llmcore.analysis.trace import GenerationTrace
    from llmcore.model.checkpoint import is_hf_folder
    from llmcore.world.load import load_world

    (tmp_path / "w.json").write_text(text)
    (tmp_path / "config.json").write_text(text)
    with contextlib.suppress(WorldError):
        load_world(tmp_path / "w.json")
    with contextlib.suppress(ValueError):
        scenario_from_json(text.encode())
    with contextlib.suppress(ValueError):
        GenerationTrace.from_json(text)
    assert is_hf_folder(tmp_path) in (True, False)


@pytest.fixture(scope="module")
def ckpt_folder(tmp_path_factory):
    """A copy of the bundled checkpoint whose config.json the tests rewrite (weights hard-linked, not copied)."""
    from llmcore.model.checkpoint import CONFIG, DEFAULT_CHECKPOINT, WEIGHTS

    folder = tmp_path_factory.mktemp("fuzz") / "ck"
    folder.mkdir()
    os.link(DEFAULT_CHECKPOINT / WEIGHTS, folder / WEIGHTS)
    return folder, json.loads((DEFAULT_CHECKPOINT / CONFIG).read_text())


CONFIG_PLACES = ("extra", "metrics", "train_config", "world", "world.extra", "model_config", "vocab", "held_out",
                 "files", "snapshot_steps")


@fast(150)
@given(text=nested_json(), place=st.sampled_from(CONFIG_PLACES))
def test_nested_config_json_gives_checkpoint_errors(ckpt_folder, text, place):
    from llmcore.model.checkpoint import CONFIG, CheckpointError, load_checkpoint

    folder, cfg = ckpt_folder
    raw = json.dumps({**cfg, "files": {"model.safetensors": cfg["files"]["model.safetensors"]}})
    marker = json.dumps("@@")
    key, _, sub = place.partition(".")
    edited = json.loads(raw)
    if sub:
        edited[key][sub] = "@@"
    else:
        edited[key] = "@@"
    (folder / CONFIG).write_text(json.dumps(edited).replace(marker, text, 1))
    try:
        load_checkpoint(folder)  # shallow values where anything goes ("extra", "metrics") may load
    except CheckpointError as e:
        assert str(folder) in str(e)
    else:
        assert text_depth(text) <= MAX_DEPTH and place in ("extra", "metrics", "train_config", "world.extra")


CONFIG_NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30), st.none(),
                           st.booleans(), st.text(max_size=4), st.integers(0, 4096).map(float),
                           st.integers(1, 64).map(np.int64), st.floats(0, 1).map(np.float32))


@fast(200)
@given(key=st.sampled_from(["vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias"]),
       value=CONFIG_NUMBERS)
def test_non_integer_model_config_numbers(ckpt_folder, key, value):
    from llmcore.model.checkpoint import CONFIG, CheckpointError, load_checkpoint
    from llmcore.model.config import GPTConfig

    folder, cfg = ckpt_folder
    try:
        GPTConfig(**{key: value})
    except ValueError as e:
        assert key in str(e) or "n_embd" in str(e) or "parameters" in str(e)
    edited = {**cfg, "files": {"model.safetensors": cfg["files"]["model.safetensors"]},
              "model_config": {**cfg["model_config"], key: value.item() if isinstance(value, np.generic) else value}}
    (folder / CONFIG).write_text(json.dumps(edited))
    try:
        load_checkpoint(folder)
    except CheckpointError as e:
        assert str(folder) in str(e)


@fast(200)
@given(key=st.sampled_from([f.name for f in dataclasses.fields(TrainConfig)]),
       value=CONFIG_NUMBERS)
def test_non_integer_train_config_numbers(key, value):
    from llmcore.training.config import TrainConfig

    try:
        TrainConfig(**{key: value})
    except ValueError as e:
        assert key in str(e) or "lr" in str(e)


EXTREME_POSITIVE = st.one_of(st.floats(5e-324, 1e-30), st.floats(1e-30, 100.0), st.sampled_from([5e-324, 1e-308,
                                                                                                  1e-45, 1e-38]))


@fast(400)
@given(temperature=EXTREME_POSITIVE.filter(lambda t: t <= 100), top_p=st.one_of(st.floats(5e-324, 1.0),
                                                                                st.just(1.0)),
       top_k=st.one_of(st.none(), st.integers(1, 200)), scale=st.sampled_from([1.0, 1e4, 1e-4]),
       numpy=st.booleans(), seed=st.integers(0, 2**63 - 1))
def test_extreme_valid_sampling_values_stay_finite(ckpt, temperature, top_p, top_k, scale, numpy, seed):
    import torch

    from llmcore.analysis.trace import pick_token

    cast = (np.float32 if temperature > 1e-37 else np.float64) if numpy else float
    s = SamplingConfig(temperature=cast(temperature), top_p=np.float64(top_p) if numpy else top_p,
                       top_k=np.int64(top_k) if numpy and top_k else top_k, seed=seed)
    logits = torch.from_numpy(_LOGITS) * scale
    token = pick_token(logits, s, torch.Generator().manual_seed(seed % 2**32))
    assert 0 <= token < len(_LOGITS)
    if top_k == 1 or s.temperature < 1e-30 or s.top_p < 1e-30:
        assert token == int(np.argmax(_LOGITS))


_LOGITS = np.random.default_rng(0).normal(size=160).astype(np.float32) * 3


LINK_NAMES = ("config.json", "model.safetensors", "snapshots.safetensors", "landscape.safetensors", ".resume",
              ".resume/state.json", ".resume/optimizer.safetensors", "model.safetensors.new", "train_log.jsonl", "maps")


@fast(40)
@given(name=st.sampled_from(LINK_NAMES), to_folder=st.booleans())
def test_links_inside_checkpoints_are_refused(tiny_ckpt, tmp_path_factory, name, to_folder):
    from llmcore.model.checkpoint import CheckpointError, read_config, save_checkpoint

    tmp = tmp_path_factory.mktemp("link")
    out, outside = tmp / "out", tmp / "outside"
    save_checkpoint(out, model=tiny_ckpt.model, tokenizer=tiny_ckpt.tokenizer, world_data=tiny_ckpt.world_dict,
                    held_out=tiny_ckpt.held_out, train_config={}, metrics={},
                    resume={"state.json": b"{}", "optimizer.safetensors": b""})
    outside.mkdir()
    (outside / "victim").write_bytes(b"keep")
    target = outside if to_folder else outside / "victim"
    shutil.rmtree(out / name) if (out / name).is_dir() else (out / name).unlink(missing_ok=True)
    (out / name).symlink_to(target)
    with pytest.raises(CheckpointError, match="symbolic link"):
        save_checkpoint(out, model=tiny_ckpt.model, tokenizer=tiny_ckpt.tokenizer, world_data=tiny_ckpt.world_dict,
                        held_out=tiny_ckpt.held_out, train_config={}, metrics={},
                        resume={"state.json": b"{}", "optimizer.safetensors": b""})
    with pytest.raises(CheckpointError, match="symbolic link"):
        read_config(out)  # what loading and resuming read first
    assert sorted(p.name for p in outside.iterdir()) == ["victim"] and (outside / "victim").read_bytes() == b"keep"


@pytest.mark.slow
def test_every_cli_command_with_hostile_input_under_a_2_gb_memory_limit(tmp_path):
    """tests/hostile.py's cases, run by tests/hostile_driver.py in a subprocess limited by RLIMIT_AS to 2 GB."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "tests.hostile_driver", str(tmp_path)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    cases, links = results[:-1], results[-1]
    assert len(cases) >= 30 and {c["argv0"] for c in cases} >= {"train", "generate", "corpus", "info", "maps",
                                                                 "dashboard"}
    for c in cases:
        assert c["code"] == c["expected"], c
        assert "Traceback" not in c["stderr"] and c["says"] in c["stderr"], c
        if c["expected"] == 2:  # one line naming the rule (argparse adds its usage lines before it)
            assert c["stderr"].strip().splitlines()[-1].startswith(f"llmcore {c['argv0']}: error: "), c
    assert links["left"] == [], "training wrote through the .resume link"


# ---- round 3: long whole numbers anywhere in JSON and TOML, re-labelled tensors, new names in the world editor

KEYS = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)


@fast(150)
@given(path=st.lists(st.one_of(KEYS, st.integers(0, 2)), max_size=5),
       digits=st.one_of(st.integers(1, 120), st.integers(4200, 6000)), negative=st.booleans())
def test_long_whole_numbers_are_refused_naming_their_key(path, digits, negative):
    """A whole number of more than MAX_DIGITS digits, wherever it sits in JSON or TOML, is an InputError naming its
    key and the rule (Python's int() gives a bare ValueError from 4,301 digits); shorter ones parse."""
    from llmcore.inputs import MAX_DIGITS, InputError, parse_json, parse_toml

    number = ("-" if negative else "") + "9" * digits
    value: object = "@@"
    for step in reversed(path):  # an index: a list with the value at that place
        value = [0] * step + [value] if isinstance(step, int) else {step: value}
    text = json.dumps(value).replace('"@@"', number)
    where = ".".join(map(str, path))
    if digits <= MAX_DIGITS:
        assert parse_json(text) is not None
    else:
        with pytest.raises(InputError, match=rf"{digits:,} digits; at most {MAX_DIGITS}") as e:
            parse_json(text)
        assert (f"[{where}]" if path else "the value") in str(e.value)
    keys = [k for k in path if isinstance(k, str)] or ["x"]
    toml = f"{'.'.join(keys)} = {number}\n"
    if digits <= MAX_DIGITS:
        assert parse_toml(toml) is not None
    else:
        with pytest.raises(InputError, match=rf"{digits:,} digits; at most {MAX_DIGITS}") as e:
            parse_toml(toml)
        assert f"[{'.'.join(keys)}]" in str(e.value) or "line 1 " in str(e.value)


@pytest.fixture(scope="module")
def weights_folder(tmp_path_factory):
    """A copy of the bundled checkpoint's config.json and weights (a real copy: the tests rewrite the weights)."""
    from llmcore.model.checkpoint import CONFIG, DEFAULT_CHECKPOINT, WEIGHTS

    folder = tmp_path_factory.mktemp("dtypes") / "ck"
    folder.mkdir()
    cfg = json.loads((DEFAULT_CHECKPOINT / CONFIG).read_text())
    cfg["files"] = {WEIGHTS: cfg["files"][WEIGHTS]}
    (folder / CONFIG).write_text(json.dumps(cfg))
    raw = (DEFAULT_CHECKPOINT / WEIGHTS).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return folder, json.loads(raw[8:8 + n]), raw[8 + n:]


DTYPES = ["BOOL", "U8", "I8", "U16", "I16", "F16", "BF16", "U32", "I32", "F32", "U64", "I64", "F64", "F8_E4M3"]


@fast(60)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), reshape=st.sampled_from(["same", "reversed", "grown"]))
def test_relabelled_tensors_are_refused_or_load_as_they_are(weights_folder, data, dtype, reshape):
    """Any tensor of model.safetensors given any dtype and a shape of the same or another size in its header (the
    hash in config.json updated to match): it loads only as float32 of the config's shape, else CheckpointError
    naming the file and the tensor."""
    import hashlib

    from llmcore.model.checkpoint import CONFIG, WEIGHTS, CheckpointError, load_checkpoint

    folder, header, body = weights_folder
    name = data.draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
    shape = list(header[name]["shape"])
    new = {"same": shape, "reversed": shape[::-1], "grown": shape[:-1] + [shape[-1] + 1]}[reshape]
    edited = {**header, name: {**header[name], "dtype": dtype, "shape": new}}
    text = json.dumps(edited).encode()
    blob = len(text).to_bytes(8, "little") + text + body
    (folder / WEIGHTS).unlink(missing_ok=True)
    (folder / WEIGHTS).write_bytes(blob)
    cfg = json.loads((folder / CONFIG).read_text())
    cfg["files"][WEIGHTS] = hashlib.sha256(blob).hexdigest()
    (folder / CONFIG).write_text(json.dumps(cfg))
    try:
        load_checkpoint(folder, lazy=True)
    except CheckpointError as e:
        assert str(folder / WEIGHTS) in str(e) and (f"tensor {name} " in str(e) or "header" in str(e)), str(e)
    else:
        assert dtype == "F32" and new == shape


@fast(200)
@given(what=st.sampled_from(["animal", "food", "place"]), name=st.one_of(
    st.text(max_size=40), st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=20, max_size=30),
    st.sampled_from(["dog", "Dog", " dog ", "pizza", "yard", "cats", "the", "DOG\n"])))
def test_a_new_world_entry_is_added_or_refused_never_replacing_one(what, name):
    """Whatever is typed as a new entry's name, the world editor either adds a word that was not there, of 1 to
    MAX_NAME letters a-z, leaving every existing animal as it was, or refuses with errors by field."""
    from llmcore.world import edit as we
    from llmcore.world.load import DEFAULT_WORLD

    data = we.parse_world_text(DEFAULT_WORLD.read_text())
    context = {"animal": "animals", "food": "food", "place": "locations"}[what]
    groups = we.subgroups(data, context)
    dog = data["animals"][next(iter(data["animals"]))]
    try:
        if what == "animal":
            out = we.set_animal(data, name, group=groups[0], kind=dog["kind"], habitats=dog["habitats"],
                                diet=dog["diet"], drinks=[], new=True)
        elif what == "food":
            out = we.set_food(data, name, group=groups[0], eaten_by=[], places=[], new=True)
        else:
            out = we.set_place(data, name, group=groups[0], home_of=[], new=True)
    except we.EditError as e:
        assert e.errors and all(isinstance(v, str) and v for v in e.errors.values())
        return
    word = name.strip().lower()
    assert word not in we.words_in(data, context) and word in we.words_in(out, context)
    assert 1 <= len(word) <= we.MAX_NAME and word.isascii() and word.isalpha()
    assert all(out["animals"][a] == spec for a, spec in data["animals"].items())
