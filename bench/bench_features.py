"""The Features page's server-side work under Streamlit's AppTest: the first draw (caches cleared, the features
file read, the prompt traced and encoded) and a word-step change (median and 90th percentile), side by side with
their targets; plus the library calls behind them.

usage: python -m bench.bench_features [--repeats 10]
AppTest runs the page's script as the server would, without a browser: what it measures is the server's part of
a redraw, not Chromium's painting.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from llmcore.analysis.features import load_features, prompt_features
    from llmcore.model.checkpoint import load_checkpoint
    from tests.conftest import page_script

    ckpt = load_checkpoint()
    t0 = time.perf_counter()
    f = load_features(ckpt)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    prompt_features(ckpt, f, "a dog devours pizza in")
    prompt_s = time.perf_counter() - t0
    firsts, steps = [], []
    for _ in range(args.repeats):
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_function(page_script, args=("features",), default_timeout=120)
        t0 = time.perf_counter()
        at.run()
        firsts.append(time.perf_counter() - t0)
        for step in (1, 3, 5, 2):
            t0 = time.perf_counter()
            at.slider(key="f_step").set_value(step).run()
            steps.append(time.perf_counter() - t0)
    p90 = lambda xs: sorted(xs)[max(0, int(round(0.9 * len(xs))) - 1)]  # noqa: E731
    print(f"{'measure':<44}{'median':>10}{'p90':>10}{'target':>10}")
    print(f"{'features file read (library)':<44}{load_s:>10.3f}{'':>10}{'':>10}")
    print(f"{'prompt traced and encoded (library)':<44}{prompt_s:>10.3f}{'':>10}{'':>10}")
    print(f"{'first draw, caches cleared (AppTest)':<44}{statistics.median(firsts):>10.3f}{p90(firsts):>10.3f}"
          f"{'2.0':>10}")
    print(f"{'word-step change (AppTest)':<44}{statistics.median(steps):>10.3f}{p90(steps):>10.3f}{'0.5':>10}")


if __name__ == "__main__":
    main()
