"""Packaging: a wheel whose installed llmcore finds the bundled model and whose dashboard starts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .servers import free_port, running_server

ROOT = Path(__file__).resolve().parent.parent


def _clean_copy(dest: Path) -> Path:
    """The files a fresh checkout holds (tracked, and new ones git does not ignore), copied to `dest`: setuptools
    reuses the working tree's build/lib, which keeps modules the tree no longer has, and would ship them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, timeout=60)
    if listed.returncode != 0:  # not a git checkout (an unpacked sdist, say): it holds no stale build of ours
        return ROOT
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (ROOT / name).is_file():  # a file deleted but not yet committed is listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str]:
    """The project built as a wheel from a clean copy, once for this module, with what the build printed."""
    dist, source = tmp_path_factory.mktemp("dist"), _clean_copy(tmp_path_factory.mktemp("source"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return next(dist.glob("llm_landscape-*.whl")), done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(built) -> Path:
    return built[0]


@pytest.mark.slow
def test_the_wheel_builds_without_a_warning_and_names_its_licence(built):
    """Every file the wheel ships is declared (setuptools warns of data folders left out of `packages`), the licence
    is an SPDX expression (a TOML table is deprecated) and the licence files travel in the wheel."""
    wheel, printed = built
    assert not [ln for ln in printed.splitlines() if "Warning:" in ln], printed[-3000:]
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        licences = [n for n in zf.namelist() if ".dist-info/licenses/" in n]
    assert "License-Expression: MIT" in meta.splitlines()
    assert any(n.endswith("/licenses/LICENSE") for n in licences)


def _install(wheel: Path, target: Path) -> None:
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--no-compile", "--target",
                           str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr[-2000:]


@pytest.mark.slow
def test_the_wheel_carries_the_model_and_the_dashboard(tmp_path, ckpt, wheel):
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert {"dashboard/chart.js", "dashboard/chart_labels.js", "dashboard/plotly_loader.js",
                "dashboard/plotly_light/plotly-cartesian.min.js", "dashboard/plotly_light/LICENSE",
                "llmnotebook/widget.js"} <= set(names)  # read when it starts
        assert any(n.startswith("llmcore_checkpoints/default/maps/traces/") for n in names)  # the first page's trace
    source = {n: ROOT / n.replace("llmcore_checkpoints/", "checkpoints/", 1) for n in names if ".dist-info/" not in n}
    assert not [n for n, path in source.items() if not path.is_file()]  # nothing the source tree does not hold
    _install(wheel, target)
    env = {**os.environ, "PYTHONPATH": str(target)}
    info = subprocess.run([sys.executable, "-m", "llmcore.cli", "info", "--json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr[-2000:]
    assert str(target) in info.stdout and "dog" in info.stdout  # the installed copy, not the source tree
    gen = subprocess.run([sys.executable, "-m", "llmcore.cli", "generate", "a dog devours pizza in"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    from llmcore.analysis.trace import trace_generation

    assert gen.returncode == 0, gen.stderr[-2000:]  # the installed model completes as the source tree's does
    assert gen.stdout.splitlines()[0] == trace_generation(ckpt, "a dog devours pizza in").text
    port = free_port()
    with running_server([sys.executable, "-m", "llmcore.cli", "dashboard", "--port", str(port)], port, tmp_path,
                        env=env, timeout=90):
        pass  # healthy: the installed dashboard serves


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` (Python's own __pycache__ aside) with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.slow
def test_the_installed_package_is_never_written_to(tmp_path, browser, wheel):
    """Every command and every page of an installed wheel leave the install as it was: caches go to the user cache
    folder, models to the user data folder (both set here to folders of the test's own)."""
    from .conftest import open_in_browser, wait_idle

    target = tmp_path / "site"
    _install(wheel, target)
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONDONTWRITEBYTECODE": "1",
           "LLM_LANDSCAPE_CACHE": str(tmp_path / "cache"), "LLM_LANDSCAPE_DATA": str(tmp_path / "data")}
    before = _tree(target)
    for argv in (["info"], ["generate", "a dog devours pizza in", "--json", "--save", str(tmp_path / "t.npz")],
                 ["maps", "--watch-only"]):
        done = subprocess.run([sys.executable, "-m", "llmcore.cli", *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (argv, done.stderr[-2000:])
    assert "part of the installed package" in done.stdout  # `maps` said where its files would go instead
    port = free_port()
    with running_server([sys.executable, "-m", "llmcore.cli", "dashboard", "--port", str(port)], port, tmp_path,
                        env=env, timeout=90):
        for path in ("", "story", "embeddings", "landscape", "training", "compare", "causes", "model-card"):
            page, _ = open_in_browser(browser, f"http://127.0.0.1:{port}/{path}")
            wait_idle(page, timeout=180_000)
            assert page.locator("[data-testid='stException']").count() == 0, path
            page.close()
    assert _tree(target) == before
    assert any((tmp_path / "cache").rglob("*.safetensors"))  # the caches went to the user cache folder
