"""The `llmcore` command line (also `python -m llmcore`): train, generate, corpus, info, maps, trace-causes, lens,
features, dashboard.

Over 400 lines on purpose: each command's flags sit beside its handler, so the whole command line reads in
one file; every handler is short and imports its own work when it runs (a `--help` loads no torch).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from llmcore.analysis.features_command import add_features
from llmcore.inputs import port
from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, REPO_ROOT, CheckpointError
from llmcore.world.load import DEFAULT_WORLD
from llmcore.world.types import MAX_SENTENCES, WorldError

if TYPE_CHECKING:
    from llmcore.analysis.trace import GenerationTrace
    from llmcore.model.checkpoint import Checkpoint
    from llmcore.training.config import TrainConfig

USER_ERRORS = (CheckpointError, WorldError, ValueError, OSError)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # inside the try: a reader that went away (`| head`) is not an error
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141  # 128 + SIGPIPE, as a shell reports it
    except USER_ERRORS as e:
        print(f"llmcore {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"llmcore {args.command}: interrupted", file=sys.stderr)
        return 130


def output_file(name: str) -> Path:
    """A file path the user gave for writing, checked before any work: a name, not a folder, link or special file
    (a FIFO, a device: a rename would replace it), in a folder that exists and can be written."""
    from llmcore.files import check_write_target

    if not name.strip():
        raise ValueError("the output file name is empty; give a file to write")
    path = Path(name)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a file name, e.g. {path / 'out.txt'}")
    if not path.parent.is_dir():
        raise ValueError(f"the folder {path.parent} does not exist; create it first or write elsewhere")
    if not os.access(path.parent, os.W_OK):
        raise ValueError(f"{path}: the folder {path.parent} cannot be written; write elsewhere")
    return check_write_target(path)


def write_output(path: Path, write: Callable[[Path], object]) -> None:
    """Run `write(path)`; a failure is reported with the user's path, not a temporary file's name."""
    try:
        write(path)
    except OSError as e:
        raise ValueError(f"{path}: cannot write it ({e.strerror or type(e).__name__})") from None


def sentence_count(text: str) -> int:
    """--sentences: a whole number in the range a world's corpus may have."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= n <= MAX_SENTENCES:
        raise argparse.ArgumentTypeError(f"{n} is out of range; use 1 to {MAX_SENTENCES:,}")
    return n


def seed_number(text: str) -> int:
    """--seed: a whole number from 0 to 2**63-1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= n < 2**63:
        raise argparse.ArgumentTypeError(f"{n} is out of range; use 0 to 2**63-1")
    return n


def port_number(text: str) -> int:
    try:
        return port(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmcore", description="Train, trace and inspect small word-level GPTs.")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_generate, _add_corpus, _add_info, _add_maps, _add_trace_causes, _add_lens,
                add_features, _add_dashboard):
        add(sub)
    return p


def _add_train(sub: argparse._SubParsersAction) -> None:
    from llmcore.model.config import GPTConfig
    from llmcore.training.config import TrainConfig
    from llmcore.training.warmstart import WARM_DEFAULTS

    t = sub.add_parser("train", help="train a model on a world file and write a checkpoint folder")
    t.add_argument("--world", default=str(DEFAULT_WORLD), help="world file (TOML or JSON)")
    t.add_argument("--out", required=True, help="checkpoint folder to write (an interrupted run there resumes)")
    t.add_argument("--overwrite", action="store_true", help="replace a finished checkpoint in --out")
    t.add_argument("--from", dest="warm_from", metavar="CHECKPOINT", help="warm start: train from this model when "
                   "the world adds or changes a few of its entries (its shape is kept; the run stops when the quality "
                   "bars hold, --steps at most; defaults: " + ", ".join(f"{k}={v}" for k, v in WARM_DEFAULTS.items())
                   + ")")
    for cls in (GPTConfig, TrainConfig):
        for f in fields(cls):
            if f.name in ("vocab_size", "bias"):
                continue
            t.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None, dest=f.name,
                           help=f"default {f.default}")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)


def _add_generate(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("generate", help="complete a prompt and show each step's candidates and sub-context")
    g.add_argument("prompt", help="words of the model's world, e.g. 'a dog devours pizza in'")
    g.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint folder (default: the bundled "
                   "model) or a local Hugging Face model folder")
    g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy, always the likeliest word (default); "
                   "higher samples more freely, up to 100")
    g.add_argument("--top-k", type=int, default=None, help="sample only from the k likeliest words (default: leave "
                   "the option out for no cut)")
    g.add_argument("--top-p", type=float, default=1.0, help="sample only from the likeliest words that together hold "
                   "this probability, in (0, 1] (default 1: no cut)")
    g.add_argument("--seed", type=seed_number, default=0,
                   help="random seed for sampling (default 0); same seed, same words")
    g.add_argument("--max-words", type=int, default=12, help="stop after this many words (1-64, default 12); "
                   "generation also stops at '.'")
    g.add_argument("--step", type=int, default=None, help="use the weights of the snapshot at this training step "
                   "(`llmcore info` lists them; default: the trained model)")
    g.add_argument("--lens", choices=("logit", "tuned"), default=None, help="also show what each depth predicts, "
                   "read by the logit lens (the final norm and the head) or the tuned lens (a translator per depth "
                   "first; `llmcore lens` fits it), and the depth where each step's word is settled")
    g.add_argument("--json", action="store_true", help="print the trace summary as JSON")
    g.add_argument("--save", help="also save the full trace (.npz: every layer, lens, attention)")
    g.set_defaults(func=cmd_generate)


def _add_corpus(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("corpus", help="write the training sentences of a world to a file")
    c.add_argument("--world", default=str(DEFAULT_WORLD), help="world file (default: the bundled world)")
    c.add_argument("--out", required=True, help="text file to write, one sentence per line")
    c.add_argument("--seed", type=seed_number, default=0,
                   help="corpus seed (default 0, as the bundled model was trained)")
    c.add_argument("--sentences", type=sentence_count, default=None,
                   help=f"1 to {MAX_SENTENCES:,} (default: the world's [corpus] sentences)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_corpus)


def _add_info(sub: argparse._SubParsersAction) -> None:
    i = sub.add_parser("info", help="describe a checkpoint folder")
    i.add_argument("checkpoint", nargs="?", default=str(DEFAULT_CHECKPOINT),
                   help="checkpoint folder (default: the bundled model)")
    i.add_argument("--json", action="store_true", help="print everything as JSON")
    i.set_defaults(func=cmd_info)


def _add_maps(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("maps", help="fit (or check) the cached 2D/3D maps of a checkpoint")
    m.add_argument("checkpoint", nargs="?", default=str(DEFAULT_CHECKPOINT))
    m.add_argument("--methods", default="pca,umap,tsne,lda", help="comma-separated: pca, umap, tsne, lda (the story "
                   "map); the default view is measured over these methods' 2D maps")
    m.add_argument("--dims", default="2,3", help="comma-separated: 2, 3")
    m.add_argument("--workers", type=int, default=None, help="processes fitting the UMAP and t-SNE maps (default: "
                   "the cores this process may use, at most 4; 1 fits everything here, one map at a time)")
    m.add_argument("--watch-only", action="store_true", help="only the Watch training maps: every weight "
                   "snapshot's context maps aligned to the final one (`llmcore train` writes them; this adds them "
                   "to a checkpoint saved without them)")
    m.set_defaults(func=cmd_maps)


def _add_dashboard(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("dashboard", help="open the Streamlit dashboard")
    d.add_argument("--address", default="127.0.0.1", help="bind address: an IP address or host name of this machine "
                   "(default 127.0.0.1, this machine only; 0.0.0.0 opens it to your network, with a warning)")
    d.add_argument("--port", type=port_number, default=8501, help="1 to 65535 (default 8501)")
    d.add_argument("--classroom", action="store_true", help="classroom mode: visitors from other machines explore "
                   "every page within limits but cannot train, upload, edit worlds or write files; this machine "
                   "keeps everything (also LLM_LANDSCAPE_CLASSROOM=1)")
    d.set_defaults(func=cmd_dashboard)


def cmd_train(args: argparse.Namespace) -> int:
    from llmcore.maps.callbacks import MapCacheCallback
    from llmcore.model.config import GPTConfig
    from llmcore.training.config import TrainConfig
    from llmcore.training.folder import check_training_folder, has_complete_checkpoint
    from llmcore.training.lens_phase import TunedLensCallback
    from llmcore.training.trainer import TqdmCallback, Trainer

    out = check_training_folder(args.out)  # before any work: a bad --out is found now, not after training
    if has_complete_checkpoint(out) and not args.overwrite:
        raise CheckpointError(f"{out} already holds a finished checkpoint; pass --overwrite or choose another --out")
    pick = lambda cls: {f.name: getattr(args, f.name) for f in fields(cls)  # noqa: E731
                        if getattr(args, f.name, None) is not None}
    rank = int(os.environ.get("RANK", "0"))  # under torchrun, only rank 0 reports
    base, train_config = None, TrainConfig(**pick(TrainConfig))
    if args.warm_from:
        base, train_config = _warm_base(args, pick(GPTConfig), pick(TrainConfig))
    lens = TunedLensCallback()
    trainer = Trainer(out, args.world, GPTConfig(**pick(GPTConfig)), train_config,
                      callbacks=[MapCacheCallback(), lens] + ([] if args.quiet or rank else [TqdmCallback()]),
                      warm_from=base)
    ckpt = trainer.run()
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    if rank:
        return 0
    m = ckpt.metrics
    habitat = (f"habitat {m['habitat_mass']:.3f}" if "habitat_mass" in m
               else "habitat: nothing to measure (the world holds no pairs out)")
    print(f"wrote {out} after {m['steps_done']} steps in {m['train_seconds']} s: val loss {m.get('val_loss', 0):.3f}, "
          f"{habitat}, diet {m.get('diet_share', 0):.3f}, neighbours {m.get('neighbour_purity', 0):.3f}")
    if "warm_start" in m:
        print(_warm_summary(m["warm_start"], m["steps_done"]))
    if lens.lens is not None:
        r = lens.lens.report
        print(f"tuned lens fitted in {lens.lens.seconds:.1f} s: KL to the output at '{r.layer_names[0]}' "
              f"{r.kl_tuned[0]:.3f} (logit lens {r.kl_logit[0]:.3f}); `llmcore lens {out}` shows every depth")
    return 0


def _warm_base(args: argparse.Namespace, model_flags: dict, train_flags: dict) -> tuple[Checkpoint, TrainConfig]:
    """The base checkpoint of `train --from` and the run's TrainConfig (warm defaults under the user's flags)."""
    from llmcore.model.checkpoint import load_checkpoint
    from llmcore.training.config import TrainConfig
    from llmcore.training.warmstart import WARM_DEFAULTS

    if model_flags:
        given = ", ".join("--" + k.replace("_", "-") for k in model_flags)
        raise ValueError(f"--from keeps the model's shape; leave out {given}")
    return load_checkpoint(args.warm_from), TrainConfig(**{**WARM_DEFAULTS, **train_flags})


def _warm_summary(warm: dict, steps: int) -> str:
    """One paragraph on a warm run: the base, what changed, and whether the bars held."""
    new = f"; new words: {', '.join(warm['new_words'][:8])}" if warm["new_words"] else ""
    last = warm["checks"][-1] if warm["checks"] else {}
    held = (f"every bar held at step {steps}" if warm["bars_held"]
            else f"stopped at step {steps} with bars failing: {', '.join(last.get('failing', []))}")
    base = ", ".join(f"{k} {v:.3f}" for k, v in warm["base_bars"].items())
    return (f"warm start from {warm['from']}: {len(warm['changed'])} changed entries ({', '.join(warm['changed'][:8])})"
            f"{new}; {held}; the base model's bars: {base}")


def cmd_generate(args: argparse.Namespace) -> int:
    from llmcore.analysis.trace import SamplingConfig, trace_generation
    from llmcore.loader import any_checkpoint

    sampling = SamplingConfig(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                              max_new_words=args.max_words)
    save = output_file(args.save) if args.save else None
    ckpt = any_checkpoint(args.checkpoint, step=args.step)
    trace = trace_generation(ckpt, args.prompt, sampling)
    if save:
        write_output(save, trace.save)
    if args.json:
        print(json.dumps(trace.summary(), indent=1))
        return 0
    for n in trace.notices:
        print(f"note: {n}")
    print(f"{' '.join(trace.prompt_words)} \033[1m{trace.completion}\033[0m" if sys.stdout.isatty() else trace.text)
    print("  step: word read (read: its sub-context) → next word, its probability | next: sub-context holding most "
          "next-word probability | top candidates")
    world = ckpt.world
    for i in range(len(trace)):
        if i == trace.boundary:
            print("  ---- the prompt ends; from here the model chooses the next word ----")
        cands = "  ".join(f"{c} {p:.2f}" for c, p in trace.candidates(i)[:5])
        ctx = trace.next_context(i)
        read = f"{trace.words[i]} ({world.label(trace.words[i])[0]})"
        print(f"  step {i + 1:>2}: {read:<22} → {trace.next_words[i]:<10} {trace.next_probs[i]:.2f} | {ctx:<9} "
              f"{trace.context_probs[i].max():.2f} | {cands}")
    if args.lens:
        _print_lens(ckpt, trace, args.lens)
    return 0


def _add_lens(sub: argparse._SubParsersAction) -> None:
    ln = sub.add_parser("lens", help="fit (if missing) a checkpoint's tuned lens and print, per depth, how far the "
                        "logit lens and the tuned lens are from the model's output (KL on held-back sentences)")
    ln.add_argument("checkpoint", nargs="?", default=str(DEFAULT_CHECKPOINT),
                    help="checkpoint folder (default: the bundled model)")
    ln.add_argument("--refit", action="store_true", help="fit again even if the folder holds a lens for these weights")
    ln.add_argument("--json", action="store_true", help="print the table as JSON")
    ln.set_defaults(func=cmd_lens)


def cmd_lens(args: argparse.Namespace) -> int:
    from llmcore.analysis.lens import ensure_lens
    from llmcore.loader import any_checkpoint

    ckpt = any_checkpoint(args.checkpoint)
    lens, path, fitted = ensure_lens(ckpt, refit=args.refit)
    r = lens.report
    if args.json:
        print(json.dumps({"file": str(path), "fitted_now": fitted, "seconds": round(lens.seconds, 2),
                          "checkpoint": lens.checkpoint, **r.to_dict()}, indent=1))
        return 0
    print(f"{'fitted' if fitted else 'read'} {path} ({'in' if fitted else 'fitted in'} {lens.seconds:.1f} s, on "
          f"{r.n_train:,} positions; measured on {r.n_eval:,} positions of held-back sentences)")
    print("  KL(final ‖ lens) in nats, per depth: lower means the depth's reading is closer to the model's output")
    print(f"  {'depth':<10} {'logit lens':>11} {'tuned lens':>11}")
    for name, a, b, t in zip(r.layer_names, r.kl_logit, r.kl_tuned, r.translated):
        print(f"  {name:<10} {a:>11.4f} {b:>11.4f}" + ("" if t else "  (read as it is: no translator)"))
    return 0


def _print_lens(ckpt: Checkpoint, trace: GenerationTrace, lens_name: str) -> None:
    """Each step's top word at every depth by the chosen lens, and the depth from which it is settled."""
    from llmcore.analysis.lens import load_lens, settled_phrase, trace_readings

    tuned = load_lens(ckpt) if lens_name == "tuned" else None
    if lens_name == "tuned" and tuned is None:
        raise ValueError(f"{ckpt.path} has no tuned lens; fit it with `llmcore lens {ckpt.path}`")
    r = trace_readings(trace, lens=tuned, ckpt=ckpt)
    print(f"  {lens_name} lens: the top word at each depth ({', '.join(r.layer_names)}) and where it is settled")
    for i in range(len(r.settled)):
        tops = " ".join(trace.vocab[j] for j in r.top_ids[i, :, 0])
        print(f"  step {i + 1:>2}: {trace.words[i]:<12} {tops}  ({settled_phrase(r, i)})")


def cmd_corpus(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from llmcore.files import atomic_write
    from llmcore.world.load import generate_corpus, load_world

    out = output_file(args.out)
    world = load_world(args.world)
    bar = None if args.quiet else tqdm(desc="corpus", unit="sentence", unit_scale=True, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    sentences = generate_corpus(world, args.seed, args.sentences, progress if bar is not None else None)
    if bar is not None:
        bar.close()
    write_output(out, lambda p: atomic_write(p, ("\n".join(sentences) + "\n").encode()))
    print(f"wrote {len(sentences):,} sentences, {sum(len(s.split()) for s in sentences):,} tokens to {args.out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from llmcore.loader import any_checkpoint
    from llmcore.training.snapshots import generalisation_step, snapshot_metrics

    ck = any_checkpoint(args.checkpoint)
    snaps = snapshot_metrics(ck)
    c = ck.model.config
    info = {"path": str(ck.path), "content_hash": ck.content_hash, "parameters": ck.model.num_params(),
            "model_config": c.to_dict(), "vocab_size": len(ck.tokenizer), "world_hash": ck.world.content_hash,
            "sub_contexts": ck.world.contexts, "held_out": [list(p) for p in ck.held_out],
            "snapshots": len(ck.snapshot_steps), "metrics": ck.metrics,
            "weight_snapshots": [m.to_dict() for m in snaps], "generalisation_step": generalisation_step(snaps)}
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"{ck.path}  ({ck.content_hash})")
    print(f"  model     {c.n_layer} layers x {c.n_embd} wide, {c.n_head} heads, context {c.block_size} words, "
          f"{info['parameters']:,} parameters, vocabulary {len(ck.tokenizer)}")
    print(f"  world     {', '.join(ck.world.contexts)}  (hash {ck.world.content_hash})")
    print(f"  held out  {len(ck.held_out)} (animal, food) pairs: "
          + ", ".join(f"{a}+{f}" for a, f in ck.held_out))
    keys = ("steps_done", "train_seconds", "val_loss", "heldout_loss", "habitat_mass", "habitat_top1",
            "diet_share", "neighbour_purity")
    print("  metrics   " + "  ".join(f"{k}={ck.metrics[k]:.4g}" for k in keys if k in ck.metrics))
    _print_snapshots(snaps)
    return 0


def _print_snapshots(snaps: list) -> None:
    """The weight snapshots (`generate --step N` uses one) with their measures, one line each."""
    from llmcore.training.snapshots import GENERALISED_TOP1, generalisation_step

    if not snaps:
        print("  snapshots none of the whole model (trained before they were saved); `generate --step` needs them")
        return
    forms = "plain forms of the held-out prompts" if snaps[-1].held_out_forms == "plain" else "every held-out form"
    print(f"  snapshots {len(snaps)} of the whole model; held-out habitat probability ({forms}), top-1, probability "
          "on the food's own places, diet share, neighbour purity, k-NN separability per depth")
    print(f"  {'step':>6} {'habitat':>8} {'top1':>6} {'food pl':>8} {'diet':>6} {'nn':>6}  separability "
          f"({', '.join(snaps[-1].layer_names)})")
    for m in snaps:
        print(f"  {m.step:>6} {m.habitat_mass:>8.3f} {m.habitat_top1:>6.3f} {m.food_place_mass:>8.3f} "
              f"{m.diet_share:>6.3f} {m.neighbour_purity:>6.3f}  {' '.join(f'{x:.2f}' for x in m.separability)}")
    step = generalisation_step(snaps)
    print(f"  generalisation appears at step {step} (first snapshot with held-out top-1 >= {GENERALISED_TOP1:.0%})"
          if step is not None else f"  no snapshot reaches held-out top-1 >= {GENERALISED_TOP1:.0%}")


def cmd_maps(args: argparse.Namespace) -> int:
    import time

    from llmcore.files import FolderLock
    from llmcore.loader import any_checkpoint
    from llmcore.maps.methods import method_names

    methods = [x.strip() for x in args.methods.split(",") if x.strip()]
    if not methods or any(m not in method_names(from_states=True) for m in methods):
        raise ValueError(f"--methods {args.methods!r}: use a comma-separated list of "
                         f"{', '.join(method_names(from_states=True))}")
    dims = [x.strip() for x in args.dims.split(",") if x.strip()]
    if not dims or any(d not in ("2", "3") for d in dims):
        raise ValueError(f"--dims {args.dims!r}: use 2, 3 or 2,3")
    dims = [int(d) for d in dims]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = args.workers if args.workers is not None else min(4, cores)
    if not 1 <= workers <= 64:
        raise ValueError(f"--workers {args.workers}: use a number of processes from 1 to 64")
    ckpt = any_checkpoint(args.checkpoint)
    t0 = time.perf_counter()
    say = lambda msg: print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", flush=True)  # noqa: E731
    folder = maps_folder(ckpt, say)
    check_maps_folder(folder)  # before any work: a FIFO where a cache goes would be found only when written
    waiting = lambda pid: say(f"waiting for process {pid}, which is computing maps into {folder}; its maps will be "  # noqa: E731
                              "reused")
    with FolderLock(folder, "llmcore maps", wait=True, on_wait=waiting):
        return _compute_maps(ckpt, folder, say=say, methods=methods, dims=dims, workers=workers,
                             watch_only=args.watch_only)


def check_maps_folder(folder: Path) -> None:
    """Refuse a maps folder (or its traces/ and results/) holding a link, FIFO, socket or device where `llmcore
    maps` reads or writes: named, before any work (a FIFO would hang a read; a link is never written through)."""
    from llmcore.inputs import file_kind

    for sub in (folder, folder / "traces", folder / "results"):
        if file_kind(sub, follow=False) != "a folder":
            continue
        for entry in sorted(sub.iterdir()):
            kind = file_kind(entry, follow=False)
            if kind not in ("a regular file", "a folder"):
                raise ValueError(f"{entry}: is {kind}; `llmcore maps` reads and writes only regular files in "
                                 f"{folder}: move it away, or name another checkpoint")


def maps_folder(ckpt: Checkpoint, say: Callable[[str], None]) -> Path:
    """Where `llmcore maps` writes: the named checkpoint's own maps/ folder when it can be written and is not part of
    an installed package (the user named it), else the user cache (said so)."""
    from llmcore.files import is_installed
    from llmcore.maps.store import default_cache_dir
    from llmcore.model.checkpoint import MAPS_DIR, is_hf_folder

    own = ckpt.path / MAPS_DIR if ckpt.path is not None and not is_hf_folder(ckpt.path) else None
    if own is not None and not is_installed(own) and os.access(own if own.is_dir() else ckpt.path,
                                                               os.W_OK | os.X_OK):
        return own
    why = "is part of the installed package" if own is not None and is_installed(own) else "cannot be written"
    say(f"{ckpt.path} {why}; the maps go to the user cache, {default_cache_dir(ckpt)}")
    return default_cache_dir(ckpt)


def _compute_maps(ckpt: Checkpoint, folder: Path, *, say: Callable[[str], None], methods: list[str], dims: list[int],
                  workers: int, watch_only: bool) -> int:
    import time

    from llmcore.maps.results import keep_model_results, remove_stale_results
    from llmcore.maps.store import MapBook, remove_stale_maps

    t0 = time.perf_counter()
    _watch_maps(ckpt, folder, say)
    if watch_only:
        return 0
    book = MapBook(ckpt, cache_dir=folder)
    fitted = book.precompute(methods, dims, progress=say, workers=workers)
    view = book.best_view(methods, progress=say, remeasure=True)
    kept = keep_model_results(ckpt, folder, say)
    say(f"{kept} page results computed and kept (llmcore.maps.results); the others were kept already")
    removed = remove_stale_maps(ckpt, folder) + remove_stale_results(ckpt, folder)
    if removed:
        say(f"removed {removed} map files this code no longer reads (another model's, or fitted by older code)")
    print(f"{fitted} maps fitted, the rest were cached, in {time.perf_counter() - t0:.0f} s")
    print(f"default view: {view.method} at {view.layer} ({view.score:.0%} of {view.n_states} example states fall "
          f"in their own word's region)")
    return 0


def _watch_maps(ckpt: Checkpoint, folder: Path, say: Callable[[str], None]) -> None:
    """Store the Watch training maps of a checkpoint with weight snapshots in `folder`, unless they are there
    already."""
    from llmcore.maps.watch import store_watch_maps, stored_watch_maps, watch_maps_path
    from llmcore.training.snapshots import weight_snapshot_steps

    if len(weight_snapshot_steps(ckpt)) < 2:
        say("no weight snapshots: no Watch training maps to compute")
    elif stored_watch_maps(ckpt) is not None:
        say(f"Watch training maps already stored in {watch_maps_path(ckpt)}")
    else:
        _, path = store_watch_maps(ckpt, cache_dir=folder)
        say(f"Watch training maps written to {path} ({path.stat().st_size / 1e3:.0f} kB)")


def _add_trace_causes(sub: argparse._SubParsersAction) -> None:
    tc = sub.add_parser("trace-causes", help="causal trace of a prompt: which states carry the answer, and the "
                        "components that write it")
    tc.add_argument("prompt", help="e.g. 'a dog devours pizza in'")
    tc.add_argument("--corrupt", help="a counterfactual prompt of the same length, e.g. 'an otter devours pizza in' "
                    "(default: Gaussian noise on the first animal's position, 10 seeds)")
    tc.add_argument("--target", help="comma-separated words whose probability is traced (default: the habitats of "
                    "the prompt's animal)")
    tc.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint folder or a local Hugging "
                    "Face model folder")
    tc.add_argument("--top", type=int, default=8, help="how many components to list (default 8)")
    tc.add_argument("--json", action="store_true", help="print the tables and components as JSON")
    tc.set_defaults(func=cmd_trace_causes)


def cmd_trace_causes(args: argparse.Namespace) -> int:
    from llmcore.analysis.attribution import attribute
    from llmcore.analysis.interventions import KIND_NAMES, KINDS, MIN_EFFECT, Noise, causal_trace, word_ids
    from llmcore.loader import any_checkpoint

    if not 1 <= args.top <= 1000:
        raise ValueError(f"--top must be from 1 to 1000, got {args.top}")
    ckpt = any_checkpoint(args.checkpoint)
    target = [w for w in args.target.split(",")] if args.target is not None else None
    corrupt = args.corrupt
    if corrupt is None:
        words = [ckpt.tokenizer.vocab[i] for i in word_ids(ckpt, args.prompt)]
        first = next((i for i, w in enumerate(words) if w in ckpt.world.animals), None)
        if first is None:
            raise ValueError("the prompt names no animal to put noise on; give --corrupt 'another prompt'")
        corrupt = Noise(positions=(first,))
    ct = causal_trace(ckpt, args.prompt, corrupt=corrupt, target=target)
    attr = attribute(ckpt, args.prompt, target=ct.target)
    if args.json:
        print(json.dumps({**ct.to_dict(), "target_logit": round(attr.target_logit, 4),
                          "components": [{"name": n, "logit": round(v, 4)} for n, v in attr.top(args.top)]},
                         indent=1))
        return 0
    print(f"clean: {' '.join(ct.words)}  ->  p({'|'.join(ct.target)}) = {ct.clean_prob:.3f}")
    print(f"corrupted: {ct.corruption}  ->  {ct.corrupt_prob:.3f}")
    if not ct.measurable:
        print(f"the corruption moves p by only {abs(ct.clean_prob - ct.corrupt_prob):.4f} (less than {MIN_EFFECT}): "
              "the shares below mean nothing")
    print("restored share of the target probability (0 = corrupted run, 1 = clean run), one state put back:")
    width = max(8, *(len(w) + 1 for w in ct.words))
    for k, kind in enumerate(KINDS):
        print(f"  {KIND_NAMES[kind]}")
        print(f"  {'':<10}" + "".join(f"{w:>{width}}" for w in ct.words))
        for d, name in enumerate(ct.depth_names):
            if kind == "resid" or d:
                print(f"  {name:<10}" + "".join(f"{v + 0.0:>{width}.2f}" for v in ct.restored[k, d].round(2)))
    print(f"top components, direct logit attribution to the mean target logit {attr.target_logit:.2f}:")
    for name, v in attr.top(args.top):
        print(f"  {name:<26} {v:+.3f}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from llmcore.address import check_address  # the launcher checks it again, and warns when it is open

    check_address(args.address, "--address")  # before the server starts: never Streamlit's every-interface fallback
    cmd = [sys.executable, "-m", "dashboard", "--server.address", args.address,  # dashboard/__main__.py: warm-up
           "--server.port", str(args.port), "--browser.gatherUsageStats", "false",
           *(["--classroom"] if args.classroom else [])]
    os.chdir(REPO_ROOT if (REPO_ROOT / "dashboard").is_dir() else Path.cwd())
    # Streamlit runs every rerun in a new thread; few malloc arenas keep the server's memory flat over hours
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    os.execv(sys.executable, cmd)
    return 0  # pragma: no cover


if __name__ == "__main__":
    raise SystemExit(main())
