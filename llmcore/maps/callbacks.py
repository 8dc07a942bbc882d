"""What a training run does for the maps, attached as a Trainer callback (minGPT's pattern): training imports no
map code; the CLI and the dashboard's jobs attach `MapCacheCallback`."""

from __future__ import annotations

import time

from llmcore.maps.store import clear_map_cache
from llmcore.maps.watch import store_watch_maps
from llmcore.model.checkpoint import MAPS_DIR, load_checkpoint
from llmcore.training.trainer import TrainCallback, Trainer


class MapCacheCallback(TrainCallback):
    """The map side of a training run into a folder: a fresh run removes the maps cached there for earlier weights
    (our own files only, see clear_map_cache), and a finished one stores its Watch-training maps in the folder's
    maps/ so that Watch training opens fast. Training itself imports no map code: whoever starts a run attaches this."""

    def on_train_start(self, trainer: Trainer) -> None:
        if trainer.step == 0:
            clear_map_cache(trainer.out_dir)

    def on_train_end(self, trainer: Trainer) -> None:
        if not trainer.finished or len(trainer.weight_snaps.weights) < 2:
            return
        trainer.phase("watch-training maps")
        t0 = time.perf_counter()
        store_watch_maps(load_checkpoint(trainer.out_dir), cache_dir=trainer.out_dir / MAPS_DIR)
        trainer.weight_snaps.map_seconds = time.perf_counter() - t0  # part of the snapshots' cost (bench/)
