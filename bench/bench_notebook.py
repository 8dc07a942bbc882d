"""The notebook widget's redraw after a prompt set in Python, side by side with the dashboard's redraw after a new
prompt, in one run on the same machine.

usage: python -m bench.bench_notebook [--prompts 20]
Starts JupyterLab (tests/jupyter.py: a temporary HOME, no token, 127.0.0.1) with a notebook showing
`trajectory(...)`, opens it in Debian's Chromium, and sets `w.prompt` from a second client of the same kernel: the
time is from the moment the code is sent to the moment the browser has drawn the new figure (the widget's
data-drawnAt, on the same wall clock), and, inside it, the kernel's part (until its execution reply). Then starts
the dashboard as bench/bench_dashboard.py does and times the same prompts typed into its box (Enter to every
changed chart drawn). Both use the Trajectory map at the measured default view; prompts the model has not
traced before (both keep traces).
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
from tests.jupyter import DRAWN, FIGURE, open_and_run, run_python, running_jupyterlab, write_notebook
from tests.servers import launch_chromium

ROOT = Path(__file__).resolve().parent.parent

SEED = "a dog devours pizza in"


def p90(times: list[float]) -> float:
    return sorted(times)[max(0, int(0.9 * len(times)) - 1)]


def spread(times: list[float]) -> str:
    return f"median {statistics.median(times):.3f} s, p90 {p90(times):.3f} s over {len(times)}"


def notebook_redraws(browser, home: Path, texts: list[str]) -> tuple[list[float], list[float], list[float]]:
    """Seconds from `w.prompt = ...` sent to the browser's redrawn widget, the kernel's part of each (until its
    execution reply) and the kernel's CPU seconds in it (every thread: what it would take on idle cores)."""
    with running_jupyterlab(home) as lab:
        write_notebook(lab.root / "bench.ipynb", [f"from llmnotebook import trajectory\nw = trajectory({SEED!r})\nw"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        open_and_run(page, lab, "bench.ipynb")
        page.wait_for_function(DRAWN, arg=1, timeout=180_000)
        kernel = lab.kernel()
        total, kernel_part, cpu = [], [], []
        try:
            for i, text in enumerate(texts):  # the first sets up the kernel's caches: not counted
                n = int(page.evaluate(f"() => document.querySelector('{FIGURE}').dataset.drawn"))
                t0 = time.time()
                used = run_python(kernel, f"import time as _t; _c = _t.process_time(); w.prompt = {text!r}; "
                                          "print(_t.process_time() - _c)")
                t1 = time.time()
                page.wait_for_function(DRAWN, arg=n + 1, timeout=60_000, polling=20)
                drawn_at = int(page.evaluate(f"() => document.querySelector('{FIGURE}').dataset.drawnAt")) / 1000
                if i:
                    total.append(drawn_at - t0)
                    kernel_part.append(t1 - t0)
                    cpu.append(float(used))
        finally:
            kernel.stop_channels()
            page.close()
    return total, kernel_part, cpu


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
            total, kernel, cpu = notebook_redraws(browser, Path(tmp), texts)
            dash = dashboard_redraws(browser, texts)
        finally:
            browser.close()
    print(f"new prompt to redrawn map ({a.prompts} prompts the model has not traced before):\n"
          f"  notebook widget, w.prompt set in Python:  {spread(total)}   (target p90 <= 0.3 s)\n"
          f"    of which the kernel (trace, map, figure): {spread(kernel)}\n"
          f"    the kernel's CPU time in it:              {spread(cpu)}\n"
          f"  dashboard, Enter in the prompt box:       {spread(dash)}   (its own target p90 <= 0.5 s; it also "
          f"redraws the bars, lens and attention)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
