"""The dashboard's launcher (`python -m dashboard`): what it asks Streamlit for and what its warm-up leaves behind."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

from dashboard import __main__ as launcher
from dashboard import state
from llmcore.inputs import tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_the_launcher_turns_off_the_full_collection_after_every_run(monkeypatch):
    """Streamlit's default gc.collect(2) after each run costs 0.2-0.5 s with the model loaded, on every slider move:
    both the launcher's flags and the repository's config switch it off; the user's own flags come after ours."""
    seen = {}
    monkeypatch.setattr(launcher.threading, "Thread", lambda **kw: type("T", (), {"start": lambda self: None})())
    monkeypatch.setattr("streamlit.web.cli.main", lambda: seen.setdefault("argv", list(sys.argv)) and 0)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    launcher.main(["--server.port", "8599"])
    argv = seen["argv"]
    assert argv[:3] == ["streamlit", "run", str(launcher.APP)]
    flag = argv.index("--runner.postScriptGC")
    assert argv[flag + 1] == "false" and argv.index("--server.port") > flag
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False


@pytest.mark.slow
def test_the_warm_up_freezes_what_it_loaded():
    """Everything the warm-up loads lives as long as the server, so it is frozen out of later collections; and the
    server's torch runs its pages' tiny forward passes on one thread (a second spun against the browser)."""
    import torch

    threads = torch.get_num_threads()
    gc.unfreeze()
    try:
        launcher.warm_up(wait_s=0, settle_s=0)
        assert torch.get_num_threads() == 1
        ckpt = state.checkpoint_at(state.default_checkpoint_path())
        assert type(ckpt.__dict__["_model"]).__name__ == "GPT"  # the weights were read after the page's run
        assert gc.get_freeze_count() > 10_000
        frozen = gc.get_freeze_count()
        t = gc.collect(2)  # a full collection still works, and no longer walks the frozen objects
        assert t >= 0 and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
        torch.set_num_threads(threads)
