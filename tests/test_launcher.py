"""The dashboard's launcher (`python -m dashboard`): what it asks Streamlit for and what its warm-up leaves behind."""

from __future__ import annotations

import gc
import shutil
import sys
from pathlib import Path

import pytest

from dashboard import __main__ as launcher
from dashboard import state
from llmcore.inputs import tomllib

from .servers import free_port, wait_healthy
from .test_exposure import _listening

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
def test_the_warm_up_freezes_what_it_loaded(monkeypatch):
    """Everything the warm-up loads lives as long as the server, so it is frozen out of later collections; and the
    server's torch runs its pages' tiny forward passes on one thread (a second spun against the browser). The
    Training page's first draw then finds the weight snapshots, their maps and the watched prompt in the shared
    caches: reading or tracing them again would fail here."""
    import torch

    import llmcore.maps.watch
    import llmcore.training.snapshots
    from dashboard.views.watch import default_prompt
    from llmcore.model.depths import depth_labels

    threads = torch.get_num_threads()
    gc.unfreeze()
    try:
        launcher.warm_up(wait_s=0, settle_s=0)
        assert torch.get_num_threads() == 1
        ckpt = state.checkpoint_at(state.default_checkpoint_path())
        assert type(ckpt.__dict__["_model"]).__name__ == "GPT"  # the weights were read after the page's run
        assert gc.get_freeze_count() > 10_000
        for name, module in (("snapshot_checkpoints", llmcore.training.snapshots),
                             ("prompt_over_training", llmcore.maps.watch)):
            monkeypatch.setattr(module, name, lambda *a, n=name, **k: pytest.fail(f"{n} ran again"))
        layer = depth_labels(ckpt.model.config.n_layer)[-1]
        tf = state.get_training_frames(ckpt.content_hash, layer, ckpt)
        state.get_prompt_over_training(ckpt.content_hash, layer, default_prompt(ckpt), tf)
        frozen = gc.get_freeze_count()
        t = gc.collect(2)  # a full collection still works, and no longer walks the frozen objects
        assert t >= 0 and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
        torch.set_num_threads(threads)


# ---- the bind address: one rule through `python -m dashboard`, `llmcore dashboard` and `make run`


def _launch(args: list[str], environ: dict | None = None) -> tuple[list[str], str | None, dict]:
    environ = {} if environ is None else environ
    argv, warning = launcher.launch_args(args, environ)
    return argv, warning, environ


@pytest.mark.parametrize("args", [["--server.address", ""], ["--server.address="], ["--server.address"],
                                  ["--server.address", "--server.port", "8611"],  # `make run ADDRESS=`
                                  ["--server.address", "   "]])
def test_an_empty_address_is_an_error_not_every_interface(args):
    with pytest.raises(ValueError, match=r"^--server\.address: the address is empty; use 127\.0\.0\.1"):
        _launch(args)


@pytest.mark.parametrize("value", ["not a host", "bad_host", "0", "127.1", "0x7f.1", "-x", "a..b", "x" * 300,
                                   "192.0.2.1", "nosuchhost.invalid"])
def test_an_address_that_is_not_one_of_this_machine_is_an_error(value):
    """Malformed names, the resolver's numeric shorthands ('0' would bind every interface), an address this machine
    does not have (192.0.2.1: documentation range) and a name that does not resolve: each refused, naming the flag."""
    with pytest.raises(ValueError, match=r"^--server\.address: .*use 127\.0\.0\.1") as e:
        _launch(["--server.address", value])
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("value", ["127.0.0.1", "localhost", "::1"])
def test_a_loopback_address_starts_without_a_warning(value):
    argv, warning, _ = _launch(["--server.port", "8611", "--server.address", value])
    assert warning is None and argv[-2:] == ["--server.address", value] and argv.count("--server.address") == 1


@pytest.mark.parametrize("classroom", [False, True])
def test_every_interface_only_when_asked_and_with_a_warning(classroom):
    environ = {}
    argv, warning, environ = _launch(["--server.address", "0.0.0.0", *(["--classroom"] if classroom else [])],
                                     environ)
    assert argv == ["--server.address", "0.0.0.0"]  # --classroom is ours: Streamlit never sees it
    assert "0.0.0.0" in warning and "open to the network" in warning
    assert ("--classroom" in warning) is not classroom  # suggested until it is on
    assert environ.get("LLM_LANDSCAPE_CLASSROOM") == ("1" if classroom else None)


def test_no_address_anywhere_means_loopback_never_streamlits_every_interface(tmp_path, monkeypatch):
    """Run from a folder without the project's config (an installed package): 127.0.0.1, said explicitly."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.streamlit/config.toml either
    argv, warning, _ = _launch([])
    assert argv == ["--server.address", "127.0.0.1"] and warning is None


def test_an_address_from_the_environment_or_a_config_file_is_checked_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ValueError, match="^STREAMLIT_SERVER_ADDRESS: 'bad_host' is not"):
        _launch([], {"STREAMLIT_SERVER_ADDRESS": "bad_host"})
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text('[server]\naddress = ""\n')
    with pytest.raises(ValueError, match=r"^server\.address in .*config\.toml: the address is empty"):
        _launch([])
    assert _launch(["--server.address", "127.0.0.1"])[0][-1] == "127.0.0.1"  # the flag wins over the file


@pytest.mark.parametrize("value, on", [("1", True), ("true", True), ("0", False), ("", False), ("no", False)])
def test_classroom_mode_from_its_environment_variable(value, on):
    environ = {"LLM_LANDSCAPE_CLASSROOM": value}
    _launch(["--server.address", "0.0.0.0"], environ)
    assert (environ["LLM_LANDSCAPE_CLASSROOM"] in ("1", "true")) is on


def test_a_classroom_setting_that_is_neither_on_nor_off_is_an_error():
    with pytest.raises(ValueError, match="^LLM_LANDSCAPE_CLASSROOM='maybe': use 1"):
        _launch([], {"LLM_LANDSCAPE_CLASSROOM": "maybe"})


def test_classroom_mode_refuses_to_trust_every_clients_forwarded_address():
    """uvicorn trusts X-Forwarded-For from the addresses in FORWARDED_ALLOW_IPS (loopback by default): with '*' a
    visitor could send 127.0.0.1 and pass for the teacher."""
    with pytest.raises(ValueError, match=r"^FORWARDED_ALLOW_IPS='\*' trusts every client"):
        _launch(["--classroom"], {"FORWARDED_ALLOW_IPS": "127.0.0.1, *"})
    assert _launch(["--server.address", "0.0.0.0", "--classroom"], {"FORWARDED_ALLOW_IPS": "10.0.0.5"})[1]
    assert _launch(["--server.address", "0.0.0.0"], {"FORWARDED_ALLOW_IPS": "*"})[1]  # no classroom: nothing to tell


def _refused(cmd: list[str]) -> str:
    """Run an entry point that must refuse to start: exit status 2, one line on stderr, nothing listening."""
    import subprocess

    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    return r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("address", ["", "not a host"])
def test_every_entry_point_refuses_a_bad_address(address):
    """`llmcore dashboard --address`, `python -m dashboard --server.address` and `make run ADDRESS=` (its recipe as
    make prints it, run by the shell)."""
    port = str(free_port())
    says = _refused([sys.executable, "-m", "llmcore", "dashboard", "--address", address, "--port", port])
    assert says.startswith("llmcore dashboard: error: --address: ")
    says = _refused([sys.executable, "-m", "dashboard", "--server.address", address, "--server.port", port])
    assert says.startswith("python -m dashboard: error: --server.address: ")
    if address == "" and shutil.which("make"):
        import subprocess

        recipe = subprocess.run(["make", "-s", "-n", "-o", ".venv/.installed", "run", "ADDRESS=", f"PORT={port}",
                                 f"BIN={Path(sys.executable).parent}"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip().splitlines()[-1]
        assert "-m dashboard --server.address" in recipe
        assert "the address is empty" in _refused(["sh", "-c", recipe])


@pytest.mark.slow
def test_a_server_opened_to_the_network_says_so():
    """`llmcore dashboard --address 0.0.0.0`: it listens on every interface, and said so with a warning first."""
    import subprocess

    port = free_port()
    cmd = [sys.executable, "-m", "llmcore", "dashboard", "--address", "0.0.0.0", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()  # printed before the server starts
        assert first.startswith("warning: the dashboard listens on 0.0.0.0, so it is open to the network")
        assert "--classroom" in first
        wait_healthy(proc, port)
        assert "00000000" in _listening(port)  # 0.0.0.0
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_launcher_skips_streamlits_scan_of_installed_packages(monkeypatch):
    """The dashboard uses no packaged Streamlit component, so the runtime's start reads no distribution's metadata
    (skip_component_scan; the one inline component still renders: every browser test draws charts with it)."""
    import importlib.metadata

    from streamlit.components.v2.component_manager import BidiComponentManager

    from dashboard.__main__ import skip_component_scan

    def scanned():
        raise AssertionError("installed distributions were scanned")

    skip_component_scan()
    monkeypatch.setattr(importlib.metadata, "distributions", scanned)
    BidiComponentManager().discover_and_register_components(start_file_watching=False)
