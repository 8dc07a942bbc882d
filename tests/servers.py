"""Starting a dashboard server for a test and waiting until it answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(cmd: list[str], port: int, cwd: Path, env: dict | None = None,
                   timeout: float = 60) -> Iterator[subprocess.Popen]:
    """Run a command that serves the dashboard on 127.0.0.1:port; fail the test if it never becomes healthy."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail(f"the dashboard did not start within {timeout:.0f} s: {' '.join(cmd[:6])}")
                time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)
