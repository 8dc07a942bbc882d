"""The tuned lens as the last phase of a training run, attached as a Trainer callback: a finished run fits it to
the weights it wrote and stores it beside them (llmcore.analysis.lens). The CLI and the dashboard's jobs attach it."""

from __future__ import annotations

from llmcore.analysis.lens import TunedLens, fit_lens, save_lens
from llmcore.model.checkpoint import load_checkpoint
from llmcore.training.trainer import TrainCallback, Trainer

PHASE = "tuned lens: a translator per depth, fitted to the model's own output"


class TunedLensCallback(TrainCallback):
    """Fits the tuned lens once a run has finished (an interrupted run has no final weights to fit it to); `lens`
    holds it afterwards, with the seconds it took (bench/bench_lens.py)."""

    def __init__(self) -> None:
        self.lens: TunedLens | None = None

    def on_train_end(self, trainer: Trainer) -> None:
        if not trainer.finished or trainer.rank != 0:
            return
        trainer.phase(PHASE)
        ckpt = load_checkpoint(trainer.out_dir)
        self.lens = fit_lens(ckpt)
        save_lens(self.lens, trainer.out_dir)
