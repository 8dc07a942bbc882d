"""Runs every hostile CLI case in this process under a 2 GB address-space limit; prints one JSON line per case.

usage: python -m tests.hostile_driver TMPDIR   (tests/test_fuzz.py starts it in a subprocess)
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import time
from pathlib import Path

LIMIT_BYTES = 2 * 2**30


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))
    from llmcore.cli import main as cli
    from tests.hostile import all_cases

    tmp = Path(sys.argv[1])
    cases = all_cases(tmp)
    elsewhere = tmp / "elsewhere"  # where .resume points (see hostile.resume_link_case)
    for case in cases:
        err, t0 = io.StringIO(), time.perf_counter()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = cli(case.argv)
            except SystemExit as e:  # argparse's own errors
                code = e.code
            except BaseException as e:  # noqa: BLE001 - the point is to report anything that escapes
                code = f"{type(e).__name__}: {e}"[:300]
        seconds = round(time.perf_counter() - t0, 2)
        print(json.dumps({"name": case.name, "argv0": case.argv[0], "expected": case.code, "code": code,
                          "says": case.says, "stderr": err.getvalue()[-600:], "seconds": seconds}), flush=True)
    print(json.dumps({"name": "nothing written through .resume", "left": sorted(p.name for p in elsewhere.iterdir())}))


if __name__ == "__main__":
    main()
