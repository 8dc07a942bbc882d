"""Training-time overhead of the weight snapshots and their measures (issue 15: at most 10 %).

usage: python bench/bench_snapshots.py [--tiny] [--steps N] [--threads N] [--out DIR] [--compare]
Trains once with weight snapshots and reports the seconds spent taking them (weights + measures) against the rest
of the run: both are measured in the same process under the same load, so the ratio holds on a busy machine.
--compare also trains without snapshots and prints both wall times side by side (noisy under load).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmcore.model import GPTConfig  # noqa: E402
from llmcore.train import TrainConfig, Trainer  # noqa: E402

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
        snap = trainer.weight_snaps.seconds
        n = len(trainer.weight_snaps.weights)
        print(f"{'tiny' if a.tiny else 'default'} model, {trainer.config.steps} steps: run {wall:.1f} s, of which "
              f"{n} weight snapshots with measures {snap:.1f} s -> overhead {snap / max(wall - snap, 1e-9):.1%} "
              f"of the run without them (target <= 10 %)")
        size = (out / "weight_snapshots.safetensors").stat().st_size
        total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        print(f"weight_snapshots.safetensors {size / 1e6:.1f} MB; checkpoint folder {total / 1e6:.1f} MB")
        if a.compare:
            base, _ = run(Path(tmp) / "without", a.tiny, a.steps, a.threads, 0)
            print(f"wall time with snapshots {wall:.1f} s, without {base:.1f} s: ratio {wall / base:.2f}")


if __name__ == "__main__":
    main()
