"""What a training run does for the maps, attached as a Trainer callback (minGPT's pattern), and clearing a training
folder's stale map caches: training imports no map code; the CLI and the dashboard's jobs attach `MapCacheCallback`."""

from __future__ import annotations

import time
from pathlib import Path

from safetensors import SafetensorError

from llmcore.files import remove_own_file, remove_temp_leftovers
from llmcore.inputs import safetensors_metadata
from llmcore.maps.results import RESULTS_DIR, is_kept_result
from llmcore.maps.store import STATES_FILE, WATCH_FILE, own_map_metadata
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


def clear_map_cache(folder: Path) -> int:
    """Remove the cache files of ours in a checkpoint folder's maps/ (a fresh training run there makes them stale):
    map files, reference states, Watch training maps, the best view and kept traces, each recognised by its name and
    content; anything else there is left alone, and maps/ is removed only if that leaves it empty. Returns how
    many files were removed."""
    from llmcore.maps.bestview import BEST_VIEW_FILE, is_best_view_file

    maps = Path(folder) / MAPS_DIR
    if not maps.is_dir() or maps.is_symlink():
        return 0
    removed = remove_temp_leftovers(maps) + remove_temp_leftovers(maps / "traces")
    for path in maps.glob("*.safetensors"):
        ours = own_map_metadata(path) is not None or (path.name in (STATES_FILE, WATCH_FILE)
                                                       and _has_checkpoint_metadata(path))
        removed += ours and remove_own_file(path)
    if is_best_view_file(maps / BEST_VIEW_FILE):
        removed += remove_own_file(maps / BEST_VIEW_FILE)
    for path in (maps / "traces").glob("*.safetensors") if (maps / "traces").is_dir() else []:
        removed += _has_checkpoint_metadata(path, field="key") and remove_own_file(path)

    removed += remove_temp_leftovers(maps / RESULTS_DIR)
    for path in (maps / RESULTS_DIR).glob("*.safetensors") if (maps / RESULTS_DIR).is_dir() else []:
        removed += is_kept_result(path) and remove_own_file(path)
    for d in (maps / "traces", maps / RESULTS_DIR, maps):
        try:
            d.rmdir()
        except OSError:  # not empty: it holds files that are not ours
            pass
    return removed


def _has_checkpoint_metadata(path: Path, field: str = "checkpoint") -> bool:
    try:
        return field in safetensors_metadata(path)
    except (SafetensorError, ValueError, OSError):
        return False
