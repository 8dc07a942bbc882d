"""Exposure: the dashboard listens on 127.0.0.1 unless a user opens it on purpose."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llmcore.cli import _parser
from llmcore.inputs import tomllib

from .servers import free_port, running_server

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_loopback():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "127.0.0.1" and cfg["browser"]["gatherUsageStats"] is False
    assert "ADDRESS ?= 127.0.0.1" in (ROOT / "Makefile").read_text()
    assert _parser().parse_args(["dashboard"]).address == "127.0.0.1"
    assert "0.0.0.0" in (ROOT / "README.md").read_text()  # the README says how to open it to a classroom


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) that listen on a port."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                found.append(local.split(":")[0])
    return found


@pytest.mark.slow
@pytest.mark.parametrize("launch", [["streamlit", "run", "dashboard/app.py"], ["dashboard"]])
def test_a_server_started_with_the_project_config_listens_on_loopback_only(launch):
    """Both ways to start it: plain `streamlit run`, and `python -m dashboard` (`make run`, with its warm-up)."""
    port = free_port()
    cmd = [sys.executable, "-m", *launch, "--server.port", str(port)]
    with running_server(cmd, port, ROOT):
        addresses = _listening(port)
    assert addresses and all(a == "0100007F" for a in addresses), addresses  # 127.0.0.1, nothing else
