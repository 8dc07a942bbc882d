"""Training-time overhead of the weight snapshots and their measures (issue 15: at most 10 %).

usage: python -m bench.bench_snapshots [--tiny] [--steps N] [--threads N] [--out DIR] [--compare]
Trains once with weight snapshots and reports the seconds spent taking them (weights + measures) and computing the
Watch training maps at the end, against the rest of the run: all are measured in the same process under the same
load, so the ratio is indicative on a busy machine. With --steps below the bundled run's it also projects the ratio
to the full run (the snapshots cost the same at any length).
--compare also trains without snapshots and prints both wall times side by side (noisy under load).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from llmcore.model.config import GPTConfig
from llmcore.training.config import TrainConfig
from llmcore.training.trainer import Trainer

TINY_WORLD = Path(__file__).resolve().parent.parent / "tests" / "data" / "tiny_world.toml"


def run(out: Path, tiny: bool, steps: int | None, threads: int, weight_snapshots: int) -> tuple[float, Trainer]:
    kw = dict(threads=threads, weight_snapshots=weight_snapshots)
    if tiny:
        kw.update(steps=steps or 40, batch_size=16, eval_every=20, checkpoint_every=10, n_snapshots=5,
                  warmup_steps=5, landscape_grid=5)
        trainer = Trainer(out, TINY_WORLD, GPTConfig(block_size=16, n_layer=2, n_head=2, n_embd=32), TrainConfig(**kw))
    else:
        trainer = Trainer(out, model_config=GPTConfig(), config=TrainConfig(**kw, **({"steps": steps} if steps
                                                                                        else {})))
    t0 = time.perf_counter()
    trainer.run()
    return time.perf_counter() - t0, trainer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="the tests' tiny world and model instead of the default")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="keep the checkpoint with snapshots here (default: a temp folder)")
    ap.add_argument("--compare", action="store_true", help="also train without snapshots")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(a.out) if a.out else Path(tmp) / "with"
        wall, trainer = run(out, a.tiny, a.steps, a.threads, TrainConfig().weight_snapshots)
        rec = trainer.weight_snaps
        snap, maps, n, steps = rec.seconds, rec.map_seconds, len(rec.weights), trainer.config.steps
        train = wall - snap - maps  # everything else: the steps, evaluations, landscapes, checkpoint writes
        print(f"{'tiny' if a.tiny else 'default'} model, {steps} steps: run {wall:.1f} s = training {train:.1f} s "
              f"+ {n} weight snapshots with their measures {snap:.1f} s + Watch training maps {maps:.1f} s")
        print(f"overhead {(snap + maps) / max(train, 1e-9):.1%} of the run without them (target <= 10 %)")
        full = TrainConfig().steps
        if not a.tiny and steps < full:  # the snapshots cost the same at any length; the training scales with it
            print(f"projected to the bundled {full} steps: {(snap + maps) / max(train * full / steps, 1e-9):.1%} "
                  f"(training time scaled by {full}/{steps}; snapshots and maps as measured)")
        size = (out / "weight_snapshots.safetensors").stat().st_size
        total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        print(f"weight_snapshots.safetensors {size / 1e6:.1f} MB; checkpoint folder {total / 1e6:.1f} MB")
        if a.compare:
            base, _ = run(Path(tmp) / "without", a.tiny, a.steps, a.threads, 0)
            print(f"wall time with snapshots {wall:.1f} s, without {base:.1f} s: ratio {wall / base:.2f}")

if __name__ == "__main__":
    main()
