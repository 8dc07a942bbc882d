"""`llmcore features`: fit a checkpoint's features (`--fit FOLDER`), or list each word step's active features of a
prompt with their graded labels."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, Checkpoint


def add_features(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser("features", help="sparse-autoencoder features and trait probes: fit them (--fit FOLDER) or "
                       "list a prompt's active features with their labels graded against the world")
    f.add_argument("prompt", nargs="?", help="e.g. 'a dog devours pizza in'")
    f.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint folder (default: the bundled "
                   "model)")
    f.add_argument("--fit", metavar="FOLDER", help="fit the autoencoders and probes of this checkpoint folder and "
                   "write features.safetensors beside its model")
    f.add_argument("--depth", help="only this depth (embed, block 1, ..., final; default: every depth)")
    f.add_argument("--top", type=int, default=3, help="features listed per step and depth (1-64, default 3)")
    f.add_argument("--json", action="store_true", help="print every active feature as JSON")
    f.set_defaults(func=cmd_features)


def cmd_features(args: argparse.Namespace) -> int:
    from llmcore.model.checkpoint import load_checkpoint

    if args.fit is None and not args.prompt:
        raise ValueError("give a prompt, e.g. 'a dog devours pizza in', or --fit FOLDER to fit the features")
    if not 1 <= args.top <= 64:
        raise ValueError(f"--top must be from 1 to 64, got {args.top}")
    if args.fit is not None:
        return _fit(load_checkpoint(Path(args.fit)))
    return _show(args, load_checkpoint(Path(args.checkpoint)))


def _fit(ckpt: Checkpoint) -> int:
    from llmcore.analysis.features import fit_features, save_features

    t0 = time.perf_counter()
    say = lambda msg: print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", flush=True)  # noqa: E731
    f = fit_features(ckpt, say=say)
    path = save_features(f, ckpt.path)
    s, g = f.scores, f.grades
    live = int((s.frequency > 0).sum())
    good = int((g.f1 >= 0.8).sum())
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {f.seconds:.0f} s")
    print(f"variance explained {', '.join(f'{v:.3f}' for v in s.fve)}; L0 {s.l0.mean():.1f}; dead "
          f"{', '.join(str(int(x)) for x in s.dead)} of {f.sae.width}")
    print(f"loss {s.clean_loss:.3f} clean; spliced in: {', '.join(f'{x / s.clean_loss:.3f}x' for x in s.spliced_loss)}")
    print(f"{good} features grade F1 >= 0.8, {good / max(live, 1):.0%} of the {live} live ones; "
          f"{len(f.probes.readable())} of {len(f.probes.traits)} traits read >= 0.95 on held-back animals")
    return 0


def _show(args: argparse.Namespace, ckpt: Checkpoint) -> int:
    from llmcore.analysis.features import FeaturesError, load_features, prompt_features

    f = load_features(ckpt)
    if f is None:
        raise FeaturesError(f"{ckpt.path}: has no features yet; fit them with `llmcore features --fit {ckpt.path}`")
    names = f.sae.layer_names
    if args.depth is not None and args.depth not in names:
        raise ValueError(f"--depth {args.depth!r}: this model has {', '.join(names)}")
    pf = prompt_features(ckpt, f, args.prompt)
    if args.json:
        print(json.dumps(pf.to_dict(f), indent=1))
        return 0
    depths = [names.index(args.depth)] if args.depth else range(len(names))
    print("step: word read → next word | depth: feature #, activation, label [quality, F1 against the world]")
    for i, (w, n) in enumerate(zip(pf.words, pf.next_words)):
        print(f"step {i + 1}: {w} → {n}")
        for d in depths:
            items = [f"#{j} {v:.2f} {f.grades.label(d, j)} [{f.grades.quality(d, j)}, {f.grades.f1[d, j]:.2f}]"
                     for j, v in pf.active(i, d)[: args.top]]
            print(f"  {names[d]:<8} " + ("; ".join(items) or "(none fired)"))
    return 0
