"""Maps at scale: PCA fit time, placement time and determinism (our k-NN placement vs umap-learn's transform),
and a 50,000-word map (a GPT-2-sized vocabulary, synthetic) with PCA and UMAP.

usage: python -m bench.bench_maps [--skip-umap-50k]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from llmcore.maps.projection import NeighbourPlacement, PCAProjector


def median_time(fn: Callable[[], object], repeats: int = 7) -> float:
    """The median of `repeats` timed calls of fn, after one untimed call (the warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def synthetic_vocabulary(n: int = 50_000, dim: int = 128, groups: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(groups, dim))
    return (centres[rng.integers(groups, size=n)] + rng.normal(size=(n, dim))).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-umap-50k", action="store_true")
    a = ap.parse_args()
    X = synthetic_vocabulary()
    traj = X[:20] + 0.05

    pca_fit = median_time(lambda: PCAProjector(2).fit(X))
    pca = PCAProjector(2).fit(X)
    pca_place = median_time(lambda: pca.transform(traj), 51)
    print(f"PCA fit, 50,000 x 128:                 {pca_fit * 1000:7.1f} ms   (target <= 50 ms)")
    print(f"PCA placement of a 20-step trajectory:  {pca_place * 1000:7.3f} ms   (target <= 10 ms)")

    ref = X[:6000]
    knn = NeighbourPlacement().set_reference(ref, PCAProjector(2).fit_transform(ref))
    knn_place = median_time(lambda: knn.transform(traj), 51)
    alone = np.concatenate([knn.transform(traj[i : i + 1]) for i in range(20)])
    knn_drift = float(np.abs(alone - knn.transform(np.concatenate([traj, X[6000:6500]]))[:20]).max())
    print(f"k-NN placement (UMAP/t-SNE maps), warm: {knn_place * 1000:7.3f} ms   (target <= 50 ms); "
          f"max shift alone vs in a batch of 520: {knn_drift:.1e}")

    t0 = time.perf_counter()
    import umap

    print(f"import umap:                            {time.perf_counter() - t0:7.2f} s")
    t0 = time.perf_counter()
    um = umap.UMAP(random_state=0, n_jobs=1).fit(ref)
    print(f"UMAP fit on 6,000 x 128 (incl. JIT):    {time.perf_counter() - t0:7.2f} s")
    t0 = time.perf_counter()
    single = np.concatenate([um.transform(traj[i : i + 1]) for i in range(3)])
    print(f"umap transform, first calls (JIT):      {time.perf_counter() - t0:7.2f} s")
    umap_place = median_time(lambda: um.transform(traj), 5)
    batch = um.transform(np.concatenate([traj[:3], X[6000:6500]]))[:3]
    scale = float(np.ptp(um.embedding_, axis=0).max())
    drift = float(np.abs(single - batch).max()) / scale
    ours = NeighbourPlacement().set_reference(ref, um.embedding_).transform(traj[:3])
    agree = float(np.linalg.norm(ours - batch, axis=1).max()) / scale
    print(f"umap transform of 20 points, warm:      {umap_place * 1000:7.1f} ms; shift alone vs in a batch: "
          f"{drift:.1%} of the map's width (not deterministic)")
    print(f"k-NN placement vs umap transform:       {agree:.1%} of the map's width apart")

    if not a.skip_umap_50k:
        t0 = time.perf_counter()
        umap.UMAP(random_state=0, n_jobs=1, low_memory=True, verbose=True).fit(X)
        print(f"UMAP fit on 50,000 x 128 (with progress): {time.perf_counter() - t0:7.1f} s   (target <= 60 s)")


if __name__ == "__main__":
    main()
