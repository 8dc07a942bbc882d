"""Starting a dashboard server and Debian's Chromium, for the tests and the benches alike (one way of doing each):
`dashboard_command`, `start_server` / `wait_healthy` / `stop_server` or the `running_server` context, and
`launch_chromium`. No pytest here: the benches (`python -m bench.bench_x`) use it too."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium (apt-get install -y chromium); never `playwright install`
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class ServerError(RuntimeError):
    """The dashboard did not start (a test that needs it fails with this message)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dashboard_command(port: int, *extra: str) -> list[str]:
    """`python -m dashboard` on 127.0.0.1:port, headless, as `make run` starts it (its warm-up included)."""
    return [sys.executable, "-m", "dashboard", "--server.port", str(port), "--server.address", "127.0.0.1",
            "--server.headless", "true", *extra]


def start_server(cmd: list[str], cwd: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 60, what: str = "the dashboard") -> None:
    """Wait until the server answers its health check; ServerError if it exits or never answers."""
    deadline = time.time() + timeout
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                return
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise ServerError(f"{what} did not start within {timeout:.0f} s") from None
            time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(10)


@contextmanager
def running_server(cmd: list[str], port: int, cwd: Path, env: dict | None = None,
                   timeout: float = 60) -> Iterator[subprocess.Popen]:
    """Run a command that serves the dashboard on 127.0.0.1:port, once it answers; stopped on leaving."""
    proc = start_server(cmd, cwd, env)
    try:
        wait_healthy(proc, port, timeout, what=" ".join(cmd[:6]))
        yield proc
    finally:
        stop_server(proc)


def launch_chromium(playwright):
    """Debian's Chromium, headless, through a started Playwright (sync_playwright())."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
