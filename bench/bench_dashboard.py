"""The dashboard in a real browser: cold start, time from a new prompt to the redrawn page, memory over prompts.

usage: python bench/bench_dashboard.py [--prompts 200]
Starts `streamlit run` on a free port, drives Debian's Chromium with Playwright, and prints the figures quoted
in the README: cold start (server launch to first chart drawn), median and 90th percentile time from pressing
Enter on a new prompt to the redrawn page over the first 20 prompts, and the server's RSS after 20 and after all.
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (from /proc)."""
    total = 0
    for p in [pid] + [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def prompts(n: int) -> list[str]:
    from llmcore.world import article, load_world

    w = load_world()
    verbs = list(w.recipe.eat_verbs) + ["drinks", "lives in the", "sleeps in the", "chases the"]
    combos = [f"{article(a)} {a} {v}" for a, v in itertools.product(w.animals, verbs)]
    return list(itertools.islice(itertools.cycle(combos), n))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=200)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}  # as `make run` and `llmcore dashboard` start it
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port",
                               str(port), "--server.headless", "true"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                    break
                except Exception:
                    time.sleep(0.1)
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 1",
                                   timeout=120_000)
            cold = time.perf_counter() - t0
            print(f"cold start (launch to first chart): {cold:.2f} s   (target <= 8 s)")
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4",
                                   timeout=120_000)
            box = page.get_by_label("Prompt", exact=True)
            times, rss = [], {}
            for i, prompt in enumerate(prompts(a.prompts), start=1):
                box.fill(prompt)
                t = time.perf_counter()
                box.press("Enter")
                page.get_by_text(f"{prompt} →").first.wait_for(timeout=60_000)
                page.get_by_text("Step 1: after reading").first.wait_for(timeout=60_000)
                page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && "
                                       "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4",
                                       timeout=60_000)
                times.append(time.perf_counter() - t)
                if i in (20, a.prompts):
                    rss[i] = rss_mb(server.pid)
            first = times[:20]
            print(f"new prompt to redrawn page, first 20: median {statistics.median(first):.2f} s, "
                  f"p90 {sorted(first)[int(0.9 * len(first)) - 1]:.2f} s   (target median <= 1.5 s)")
            print(f"server RSS after 20 prompts: {rss[20]:.0f} MB; after {a.prompts}: {rss[a.prompts]:.0f} MB; "
                  f"ratio {rss[a.prompts] / rss[20]:.3f}   (target <= 1.10)")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
