"""Hostile inputs for every CLI command, built in a temporary folder: nested files, wrong types, huge sizes,
sparse files, symbolic links, out-of-range flags. Used by test_fuzz.py (in process) and under a memory limit."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from llmcore.model.checkpoint import CONFIG, DEFAULT_CHECKPOINT, LANDSCAPE, SNAPSHOTS, WEIGHTS

TINY_WORLD = Path(__file__).parent / "data" / "tiny_world.toml"
DEEP = 3000  # levels: far past the interpreter's recursion limit of 1000


@dataclass
class Case:
    name: str
    argv: list[str]
    code: int  # the exit code expected: 2 for a refused input, 0 for one that must work
    says: str = ""  # a part of the error message (the rule, the key or the file)


def copy_checkpoint(dest: Path, **config_changes) -> Path:
    """A copy of the bundled checkpoint's committed files, with config.json keys replaced."""
    dest.mkdir(parents=True)
    for name in (CONFIG, WEIGHTS, SNAPSHOTS, LANDSCAPE):
        shutil.copy(DEFAULT_CHECKPOINT / name, dest / name)
    if config_changes:
        cfg = json.loads((dest / CONFIG).read_text())
        for key, value in config_changes.items():
            target = cfg
            *path, last = key.split(".")
            for k in path:
                target = target[k]
            if value is KeyError:
                target.pop(last)
            else:
                target[last] = value
        (dest / CONFIG).write_text(json.dumps(cfg))
    return dest


def relabel(path: Path, dtype: str, tensor: str) -> None:
    """Call one tensor of a safetensors file `dtype` in its header (its bytes unchanged: I32 over float32 is the same
    size) and record the file's new hash in config.json beside it, so that only the dtype check can refuse it."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header[tensor]["dtype"] = dtype
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    cfg = json.loads((path.parent / CONFIG).read_text())
    cfg["files"][path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    (path.parent / CONFIG).write_text(json.dumps(cfg))


def deep_json(levels: int = DEEP) -> str:
    return "[" * levels + "]" * levels


def tiny_world_text() -> str:
    return TINY_WORLD.read_text()


def world_with(tmp: Path, name: str, corpus_line: str) -> str:
    """The tiny world with one line set in its [corpus] table (replacing the key's line if it has one)."""
    key = corpus_line.split("=")[0].strip()
    lines = [ln for ln in tiny_world_text().splitlines() if not ln.startswith(f"{key} =")]
    text = "\n".join(lines).replace("[corpus]\n", f"[corpus]\n{corpus_line}\n", 1) + "\n"
    (tmp / name).write_text(text)
    return str(tmp / name)


def checkpoint_cases(tmp: Path) -> list[Case]:
    """config.json and weights that must be refused by info, generate and maps before any big allocation."""
    ck = {"deep": copy_checkpoint(tmp / "deep"), "float": copy_checkpoint(tmp / "float", **{"model_config.n_embd":
                                                                                             128.0}),
          "huge_block": copy_checkpoint(tmp / "huge_block", **{"model_config.block_size": 8_000_000}),
          "giant_block": copy_checkpoint(tmp / "giant_block", **{"model_config.block_size": 10**11}),
          "metrics_list": copy_checkpoint(tmp / "metrics_list", metrics=[]),
          "sparse": copy_checkpoint(tmp / "sparse"), "link": copy_checkpoint(tmp / "link"),
          "i32": copy_checkpoint(tmp / "i32"), "i16_snapshots": copy_checkpoint(tmp / "i16_snapshots"),
          "digits": copy_checkpoint(tmp / "digits")}
    relabel(ck["i32"] / WEIGHTS, "I32", "transformer.wte.weight")  # loaded silently, generated only <unk>
    relabel(ck["i16_snapshots"] / SNAPSHOTS, "I16", "wte")
    cfg = (ck["digits"] / CONFIG).read_text()  # an n_embd of 5,000 digits: Python's int() refuses over 4,300
    (ck["digits"] / CONFIG).write_text(cfg.replace('"n_embd": ', '"n_embd": ' + "9" * 5000 + ', "was": ', 1))
    cfg = (ck["deep"] / CONFIG).read_text()
    (ck["deep"] / CONFIG).write_text(cfg[:-1] + f', "extra": {deep_json()}}}')
    with open(ck["sparse"] / WEIGHTS, "r+b") as f:  # 60 GB on paper, a few MB on disk
        f.truncate(60 * 2**30)
    outside = tmp / "outside"
    outside.mkdir()
    (ck["link"] / WEIGHTS).rename(outside / WEIGHTS)
    os.symlink(outside / WEIGHTS, ck["link"] / WEIGHTS)
    return [Case("info: config.json nested 3,000 deep", ["info", str(ck["deep"])], 2, "nests deeper"),
            Case("generate: config.json nested 3,000 deep", ["generate", "a dog", "--checkpoint", str(ck["deep"])], 2,
                 "nests deeper"),
            Case("maps: config.json nested 3,000 deep", ["maps", str(ck["deep"]), "--methods", "pca"], 2,
                 "nests deeper"),
            Case("info: n_embd 128.0", ["info", str(ck["float"])], 2, "n_embd must be a whole number"),
            Case("info: block_size 8,000,000", ["info", str(ck["huge_block"])], 2, "block_size"),
            Case("generate: block_size 10**11", ["generate", "a dog", "--checkpoint", str(ck["giant_block"])], 2,
                 "block_size"),
            Case("train: metrics is a list", ["train", "--world", str(TINY_WORLD), "--out", str(ck["metrics_list"]),
                                              "--steps", "2", "--quiet"], 2, "[metrics]"),
            Case("info: sparse 60 GB weights", ["info", str(ck["sparse"])], 2, "model.safetensors"),
            Case("info: weights are a symbolic link", ["info", str(ck["link"])], 2, "symbolic link"),
            Case("generate: weights re-labelled I32", ["generate", "a dog", "--checkpoint", str(ck["i32"])], 2,
                 "tensor transformer.wte.weight has dtype 'I32'"),
            Case("info: snapshots re-labelled I16", ["info", str(ck["i16_snapshots"])], 2, "has dtype 'I16'"),
            Case("info: n_embd of 5,000 digits", ["info", str(ck["digits"])], 2, "[model_config.n_embd]"),
            Case("maps: n_embd of 5,000 digits", ["maps", str(ck["digits"]), "--methods", "pca"], 2,
                 "5,000 digits")]


def resume_link_case(tmp: Path) -> tuple[Case, Path]:
    """An interrupted run whose .resume is a link to another folder: training must refuse to write through it."""
    out, elsewhere = tmp / "resume_link", tmp / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, out / ".resume")
    return Case("train: .resume is a symbolic link", ["train", "--world", str(TINY_WORLD), "--out", str(out),
                                                      "--steps", "3", "--quiet", "--landscape-grid", "0"], 2,
                "symbolic link"), elsewhere


def world_cases(tmp: Path) -> list[Case]:
    """World files for corpus and train: nesting, types, BOM, a diet held out whole, a 25,000-animal world."""
    deep_toml = tmp / "deep.toml"
    deep_toml.write_text(tiny_world_text() + "\n[" + ".".join(["a"] * 2000) + "]\nx = 1\n")
    deep_json_world = tmp / "deep.json"
    deep_json_world.write_text('{"taxonomy": ' + deep_json() + "}")
    bom = tmp / "bom.toml"
    bom.write_bytes("\ufeff".encode() + tiny_world_text().encode())
    whole_diet = tiny_world_text().replace('held_out = [["dog", "pizza"]]', 'held_out = [["cat", "meat"], '
                                           '["cat", "sausage"], ["cat", "bread"]]')
    (tmp / "whole_diet.toml").write_text(whole_diet)
    out = str(tmp / "corpus.txt")
    corpus = lambda world: ["corpus", "--world", world, "--out", out, "--sentences", "200", "--quiet"]  # noqa: E731
    big = tmp / "big.json"
    big.write_text(json.dumps(big_world(25_000), separators=(",", ":")))
    return [Case("corpus: world with a 2,000-level table header", corpus(str(deep_toml)), 2, "nests deeper"),
            Case("train: world with a 2,000-level table header", ["train", "--world", str(deep_toml), "--out",
                                                                 str(tmp / "t1"), "--quiet"], 2, "nests deeper"),
            Case("corpus: JSON world nested 3,000 deep", corpus(str(deep_json_world)), 2, "nests deeper"),
            Case("corpus: world file with a UTF-8 BOM", corpus(str(bom)), 0),
            Case("corpus: held_out_fraction = 'x'", corpus(world_with(tmp, "f.toml", 'held_out_fraction = "x"')), 2,
                 "[corpus.held_out_fraction]"),
            Case("corpus: held_out_seed = -7", corpus(world_with(tmp, "s.toml", "held_out_seed = -7")), 2,
                 "[corpus.held_out_seed]"),
            Case("corpus: a mix weight of inf", corpus(_mix_inf(tmp)), 2, "[corpus.mix."),
            Case("corpus: a whole diet held out", corpus(str(tmp / "whole_diet.toml")), 2, "every food of cat"),
            Case("corpus: 25,000 animals", corpus(str(big)), 0),
            Case("corpus: a 5,000-digit held_out_seed", corpus(world_with(tmp, "d.toml", "held_out_seed = " +
                                                                          "9" * 5000)), 2, "5,000 digits"),
            Case("corpus: JSON world with a 5,000-digit number", corpus(_long_number_json(tmp)), 2,
                 "[corpus.sentences] is a whole number of 5,000 digits")]


def _long_number_json(tmp: Path) -> str:
    (tmp / "digits.json").write_text(json.dumps(big_world(3)).replace('"sentences": 1000', '"sentences": ' +
                                                                       "9" * 5000))
    return str(tmp / "digits.json")


def _mix_inf(tmp: Path) -> str:
    text = tiny_world_text()
    head, mix = text.split("[corpus.mix]\n", 1)
    (tmp / "mix.toml").write_text(f"{head}[corpus.mix]\neat_event = inf\n" + "\n".join(
        line for line in mix.splitlines() if not line.startswith("eat_event")) + "\n")
    return str(tmp / "mix.toml")


def flag_cases(tmp: Path) -> list[Case]:
    """Flags in range that once gave tracebacks, and flags out of range."""
    return [Case("generate: temperature 1e-38", ["generate", "a dog", "--temperature", "1e-38"], 0),
            Case("generate: top-p 1e-46", ["generate", "a dog", "--temperature", "1", "--top-p", "1e-46"], 0),
            Case("generate: temperature 5e-324, top-k 1", ["generate", "a dog", "--temperature", "5e-324", "--top-k",
                                                           "1"], 0),
            Case("generate: a prompt of only '...'", ["generate", "..."], 2, "only punctuation"),
            Case("generate: --save into /proc", ["generate", "a dog", "--save", "/proc/x.npz"], 2, "/proc/x.npz"),
            Case("corpus: --sentences 10**12", ["corpus", "--out", str(tmp / "c.txt"), "--sentences",
                                                "1000000000000"], 2, "--sentences"),
            Case("corpus: --sentences -5", ["corpus", "--out", str(tmp / "c.txt"), "--sentences", "-5"], 2,
                 "--sentences"),
            Case("train: --block-size 8,000,000", ["train", "--world", str(TINY_WORLD), "--out", str(tmp / "t2"),
                                                   "--block-size", "8000000", "--quiet"], 2, "block_size"),
            Case("train: --n-snapshots 10**9", ["train", "--world", str(TINY_WORLD), "--out", str(tmp / "t3"),
                                                "--n-snapshots", "1000000000", "--quiet"], 2, "n_snapshots"),
            Case("maps: --dims 7", ["maps", "--dims", "7"], 2, "--dims"),
            Case("dashboard: --port 99999", ["dashboard", "--port", "99999"], 2, "port")]


def all_cases(tmp: Path) -> list[Case]:
    return checkpoint_cases(tmp) + [resume_link_case(tmp)[0]] + world_cases(tmp) + flag_cases(tmp)


def big_world(n_animals: int, n_foods: int = 200) -> dict:
    """A valid world of n_animals animals, four foods each, a fifth of the pairs held out: under 2 MB as JSON."""
    import string

    def name(i: int) -> str:
        out, i = "", i + 1
        while i:
            i, r = divmod(i - 1, 26)
            out = string.ascii_lowercase[r] + out
        return out

    animals, foods = [f"x{name(i)}" for i in range(n_animals)], [f"f{name(i)}" for i in range(n_foods)]
    return {"taxonomy": {"animals": {"all": animals}, "food": {"all": foods}, "locations": {"all": ["home", "park"]}},
            "animals": {a: {"kind": "x", "habitats": ["home"], "diet": [foods[(i * 7 + k) % n_foods]
                                                                      for k in range(4)]}
                        for i, a in enumerate(animals)},
            "corpus": {"sentences": 1000, "eat_verbs": ["eats"], "held_out_fraction": 0.2,
                       "mix": {"eat_event": 1, "habitat_fact": 1}}}
