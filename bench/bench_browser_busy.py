"""The browser tests on an idle machine and beside one other busy process, side by side in one run: each test's
outcome and time. A browser test waits on the condition it asserts, never on a moment of an animation, so it must
pass in both columns (issue 25: a test that failed only under load blocked every landing).

usage: python -m bench.bench_browser_busy [--only busy] [-k EXPR]
Runs `pytest -m browser` over tests/test_browser*.py once per condition (the busy one beside a `while 1: pass`
process) and prints every test's result and seconds, the totals, and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_tests(k: str | None) -> dict[str, tuple[str, float]]:
    """Every browser test's outcome ('passed', 'failed', 'skipped', 'error') and seconds, from pytest's JUnit XML."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_browser*.py"))
        cmd = [sys.executable, "-m", "pytest", *files, "-m", "browser", "-q", "-p", "no:cacheprovider",
               f"--junitxml={report}", *(["-k", k] if k else [])]
        subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        results = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            kinds = {child.tag for child in case}
            outcome = next((o for o in ("failure", "error", "skipped") if o in kinds), "passed")
            results[case.get("name", "?")] = ({"failure": "failed"}.get(outcome, outcome), float(case.get("time", 0)))
        return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["idle", "busy"], help="run one condition only")
    ap.add_argument("-k", help="pytest -k expression: a subset of the browser tests")
    a = ap.parse_args()
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, tuple[str, float]]] = {}
    if a.only != "busy":
        results["idle"] = run_tests(a.k)
    if a.only != "idle":
        busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
        try:
            results["one busy process"] = run_tests(a.k)
        finally:
            busy.kill()
            busy.wait()
    print(f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; "
          f"{len(os.sched_getaffinity(0))} cores")
    names = sorted({n for r in results.values() for n in r})
    print(f"{'test':90} " + " ".join(f"{c:>24}" for c in results))
    for n in names:
        cells = [f"{r[n][0]} {r[n][1]:7.1f} s" if n in r else "-" for r in results.values()]
        print(f"{n[:90]:90} " + " ".join(f"{c:>24}" for c in cells))
    for c, r in results.items():
        failed = [n for n, (o, _) in r.items() if o in ("failed", "error")]
        print(f"{c}: {sum(o == 'passed' for o, _ in r.values())} passed, {len(failed)} failed "
              f"{failed if failed else ''}, {sum(t for _, t in r.values()):.0f} s")


if __name__ == "__main__":
    main()
