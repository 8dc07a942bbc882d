"""Watch training in a real browser: time from moving the step slider to the redrawn page (issue 15: p50 <= 0.7 s).

usage: python -m bench.bench_training_watch CHECKPOINT [--moves 20]
CHECKPOINT must hold weight snapshots (a checkpoint trained by this llmcore). Starts the dashboard (`python -m
dashboard`, as `make run` does) on a free port with that checkpoint, drives Debian's Chromium with Playwright, opens
the Training page, waits until the snapshots are loaded once, then moves the slider one snapshot at a time with the
arrow keys and prints the median and 90th percentile of the redraw times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from bench.bench_dashboard import PLOTLY_CALLS, draw_phases, open_when_up, settled_ms
from tests.servers import dashboard_command, free_port, launch_chromium, running_server

ROOT = Path(__file__).resolve().parent.parent

DRAWN = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && "
         "document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}")
# the step the page shows, read from the path chart's drawn title: a cheap check (a text search over the page's
# large SVG would itself take much of the time it measures)
AT_STEP = """() => {{
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    const row = [...document.querySelectorAll('[data-testid="stTable"] tbody tr')]
        .find(r => r.textContent.includes('▶'));
    const title = g => String(g.layout?.title?.text ?? '').match(/Prompt's path, step (\\d+)/) ?? [];
    return plots.some(g => title(g)[1] === '{step}')
        && plots.some(g => (g.data ?? []).some(t => t.name === 'step {step}'))
        && row && row.children[0].textContent.trim() === '{step}'
        && !document.querySelector('[data-testid="stStatusWidget"]'); }}"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--moves", type=int, default=20)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from llmcore.model.checkpoint import load_checkpoint
    from llmcore.training.snapshots import weight_snapshot_steps

    steps = weight_snapshot_steps(load_checkpoint(a.checkpoint))
    if len(steps) < 2:
        raise SystemExit(f"{a.checkpoint} holds no weight snapshots; train one with `llmcore train`")
    port = free_port()
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "LLM_LANDSCAPE_CHECKPOINT": str(Path(a.checkpoint).resolve())}
    with running_server(dashboard_command(port), port, ROOT, env=env, timeout=600), sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        open_when_up(page, f"http://127.0.0.1:{port}/training", pause_s=0.2)
        page.get_by_text("The prompt's completion at every snapshot").wait_for(timeout=600_000)
        page.wait_for_function(DRAWN.format(n=7), timeout=600_000)
        print(f"first open of Watch training (server start, snapshots loaded, prompt traced): "
              f"{time.perf_counter() - t0:.1f} s")
        thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Training step").get_by_role("slider")
        page.evaluate(PLOTLY_CALLS)
        times, phases, k, direction = [], [], len(steps) - 1, -1
        for _ in range(a.moves):
            if not 0 <= k + direction < len(steps):
                direction = -direction
            k += direction
            thumb.focus()
            thumb.press("ArrowLeft" if direction < 0 else "ArrowRight")
            page.wait_for_function(AT_STEP.format(step=steps[k]), timeout=60_000)
            times.append(settled_ms(page) / 1000)  # until every changed chart is drawn
            phases.append(draw_phases(page))
        print(f"slider move to redrawn page (every changed chart drawn) over {len(times)} moves: "
              f"median {statistics.median(times):.2f} s, "
              f"p90 {sorted(times)[int(0.9 * len(times)) - 1]:.2f} s   (target median <= 0.7 s)")
        answer, span, n = (statistics.median(x) for x in zip(*phases))
        print(f"  where it goes (medians): the server's answer reaches the charts {answer:.0f} ms after the key "
              f"press; the {n:.0f} changed charts are then redrawn in place (Plotly.react) over {span:.0f} ms")
        browser.close()


if __name__ == "__main__":
    main()
