"""The notebook widgets' redraw after a setting changed in Python, side by side with the dashboard's redraw after a
new prompt, in one run on the same machine.

usage: python -m bench.bench_notebook [--prompts 20]
Starts JupyterLab (tests/jupyter.py: a temporary HOME, no token, 127.0.0.1) with a notebook showing
`trajectory(...)`, `embeddings()` and `watch()`, opens it in Debian's Chromium, and changes each widget from a
second client of the same kernel: `w.prompt` (prompts the model has not traced before), the word map's `e.search`
(a word a time: a new ring drawn), Watch training's `t.snapshot` (the snapshots in turn, round and round). The time
is from the moment the code is sent to the moment the browser has drawn that widget's new figure (its
data-drawnAt, on the same wall clock), and, inside it, the kernel's part (until its execution reply). Then starts
the dashboard as bench/bench_dashboard.py does and times the same prompts typed into its box (Enter to every
changed chart drawn). Both use the Trajectory map at the measured default view; the dashboard keeps traces too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_dashboard import IDLE, MAP_DRAWN, MARK_MAP, PLOTLY_CALLS, launch, prompts, settled_ms
from tests.jupyter import FIGURE, open_and_run, python_value, run_python, running_jupyter, write_notebook
from tests.servers import launch_chromium

ROOT = Path(__file__).resolve().parent.parent

SEED = "a dog devours pizza in"


def p90(times: list[float]) -> float:
    return sorted(times)[max(0, int(0.9 * len(times)) - 1)]


# the notebook's widgets: what is changed in Python (the row's name) and the cell that shows the widget
WIDGETS = [("trajectory map, w.prompt",
            f"from llmnotebook import embeddings, trajectory, watch\nw = trajectory({SEED!r})\nw"),
           ("word map, e.search", "e = embeddings()\ne"), ("Watch training, t.snapshot", "t = watch()\nt")]
# the i-th widget's figure drawn at least n times (llmnotebook/widget.js counts its drawings in data-drawn)
DRAWN_NTH = f"(a) => Number((document.querySelectorAll('{FIGURE}')[a.i] || {{dataset: {{}}}}).dataset.drawn) >= a.n"


def changes(kernel, texts: list[str]) -> list[list[str]]:
    """Each widget's changes set in Python, as many as `texts`, each drawing something new: the prompts, a search
    for one word a time (escaped: the word itself, not a pattern), the snapshots in turn."""
    n = len(texts)
    run_python(kernel, "import re as _re; _words = [_re.escape(x) for x in e.frame.word]")
    n_words, steps = python_value(kernel, "len(_words)"), python_value(kernel, "t.steps")
    later = [s for s in steps if s != steps[-1]] + [steps[-1]]  # the widget starts at the last snapshot
    return [[f"w.prompt = {t!r}" for t in texts], [f"e.search = _words[{i % n_words}]" for i in range(n)],
            [f"t.snapshot = {later[i % len(later)]}" for i in range(n)]]


def redraws(page, kernel, i: int, statements: list[str]) -> tuple[list[float], list[float], list[float]]:
    """Seconds from each statement sent to the browser's redrawn i-th widget, the kernel's part of each (until its
    execution reply) and the kernel's CPU seconds in it (every thread: what it would take on idle cores). The first
    sets up the kernel's caches: not counted."""
    total, kernel_part, cpu = [], [], []
    for k, code in enumerate(statements):
        n = int(page.evaluate(f"(i) => document.querySelectorAll('{FIGURE}')[i].dataset.drawn", i))
        t0 = time.time()
        used = run_python(kernel, f"import time as _t; _c = _t.process_time(); {code}; print(_t.process_time() - _c)")
        t1 = time.time()
        page.wait_for_function(DRAWN_NTH, arg={"i": i, "n": n + 1}, timeout=60_000, polling=20)
        drawn_at = int(page.evaluate(f"(i) => document.querySelectorAll('{FIGURE}')[i].dataset.drawnAt", i)) / 1000
        if k:
            total.append(drawn_at - t0)
            kernel_part.append(t1 - t0)
            cpu.append(float(used))
    return total, kernel_part, cpu


def notebook_redraws(browser, home: Path, texts: list[str]) -> list[tuple[list[float], list[float], list[float]]]:
    """Each widget's redraws (see redraws), in the order of WIDGETS."""
    with running_jupyter(home) as lab:
        write_notebook(lab.root / "bench.ipynb", [cell for _, cell in WIDGETS])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        open_and_run(page, lab, "bench.ipynb")
        for i in range(len(WIDGETS)):
            page.wait_for_function(DRAWN_NTH, arg={"i": i, "n": 1}, timeout=180_000)
        kernel = lab.kernel()
        try:
            return [redraws(page, kernel, i, code) for i, code in enumerate(changes(kernel, texts))]
        finally:
            kernel.stop_channels()
            page.close()


def dashboard_redraws(browser, texts: list[str]) -> list[float]:
    """Seconds from Enter on a new prompt to every changed chart of the dashboard's Trajectory page drawn."""
    server, page, _ = launch([sys.executable, "-m", "dashboard"], browser)
    try:
        page.wait_for_function(IDLE, timeout=120_000)
        box, times = page.get_by_label("Prompt", exact=True), []
        for i, text in enumerate(texts):
            box.fill(text)
            page.evaluate(MARK_MAP)
            page.evaluate(PLOTLY_CALLS)
            box.press("Enter")
            page.wait_for_function(IDLE, timeout=60_000)
            page.wait_for_function(MAP_DRAWN, timeout=60_000)
            t = settled_ms(page) / 1000
            if i:
                times.append(t)
    finally:
        page.close()
        server.terminate()
        server.wait(10)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=20)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    texts = prompts(a.prompts + 2)[1:]  # the first of these warms up, the rest are timed
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = launch_chromium(p)
        try:
            widgets = notebook_redraws(browser, Path(tmp), texts)
            dash = dashboard_redraws(browser, texts)
        finally:
            browser.close()
    print(f"a setting changed in Python to the widget redrawn ({a.prompts} changes each after one not timed; prompts "
          "the model has not traced before; the bar: p90 <= 0.3 s after a prompt change):")
    print(f"  {'':36}{'p50 s':>8}{'p90 s':>8}   {'kernel p50':>10}{'kernel p90':>11}   {'kernel CPU p50':>14}")
    for (name, _), (total, kernel, cpu) in zip(WIDGETS, widgets, strict=True):
        print(f"  {'notebook ' + name:36}{statistics.median(total):8.3f}{p90(total):8.3f}   "
              f"{statistics.median(kernel):10.3f}{p90(kernel):11.3f}   {statistics.median(cpu):14.3f}")
    print(f"  {'dashboard, Enter in the prompt box':36}{statistics.median(dash):8.3f}{p90(dash):8.3f}   (its own "
          "target p90 <= 0.5 s; it also redraws the bars, lens and attention)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
