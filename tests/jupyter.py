"""A real JupyterLab or Jupyter Notebook 7 for the notebook widgets' browser tests and bench: started on a free port
of 127.0.0.1 with no token, every Jupyter and IPython folder (HOME included) inside a folder the caller owns; a
notebook opened in Chromium and run there; Python run in its kernel from here (a second client of the same kernel),
whose widget messages reach the browser as the notebook's own would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def jupyter_env(home: Path) -> dict[str, str]:
    """The environment of a Jupyter server whose settings, runtime files and history all live under `home`."""
    dirs = {"HOME": "home", "JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime", "IPYTHONDIR": "ipython", "JUPYTERLAB_SETTINGS_DIR": "settings",
            "JUPYTERLAB_WORKSPACES_DIR": "workspaces"}
    env = {**os.environ, **{k: str(home / v) for k, v in dirs.items()}, "MALLOC_ARENA_MAX": "2"}
    for v in dirs.values():
        (home / v).mkdir(parents=True, exist_ok=True)
    return env


# the front ends: the module `python -m` starts, its app class (for its own options) and where it opens a notebook
APPS = {"lab": ("jupyterlab", "LabApp", "/lab/tree/"), "notebook": ("notebook", "JupyterNotebookApp", "/notebooks/")}


@dataclass
class Lab:
    url: str
    root: Path
    runtime: Path
    opens: str = "/lab/tree/"  # the path under url that opens a notebook of root

    def kernel(self, timeout: float = 60):
        """A client of the (one) kernel the browser started."""
        from jupyter_client import BlockingKernelClient

        deadline = time.time() + timeout
        while not (files := sorted(self.runtime.glob("kernel-*.json"))):
            if time.time() > deadline:
                raise TimeoutError("Jupyter started no kernel")
            time.sleep(0.2)
        client = BlockingKernelClient(connection_file=str(files[-1]))
        client.load_connection_file()
        client.start_channels()
        client.wait_for_ready(timeout=timeout)
        return client


@contextmanager
def running_jupyter(home: Path, app: str = "lab", timeout: float = 90) -> Iterator[Lab]:
    """JupyterLab (app "lab") or Notebook 7 ("notebook") serving `home / "notebooks"` (window.jupyterapp exposed for
    the browser's commands)."""
    module, app_class, opens = APPS[app]
    port, root = free_port(), home / "notebooks"
    root.mkdir(parents=True, exist_ok=True)
    env = jupyter_env(home)
    # Notebook 7 loads JupyterLab's server extension too: the LabApp options keep it from asking the network
    cmd = [sys.executable, "-m", module, "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
           f"--ServerApp.root_dir={root}", f"--{app_class}.expose_app_in_browser=True", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly"]
    cmd += ["--allow-root"] if os.geteuid() == 0 else []  # CI's containers run as root
    log = (home / "jupyter.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{module} did not start: {(home / 'jupyter.log').read_text()[-2000:]}"
                                       ) from None
                time.sleep(0.2)
        yield Lab(f"http://127.0.0.1:{port}", root, Path(env["JUPYTER_RUNTIME_DIR"]), opens)
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def write_notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells],
                                  metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nbformat.write(nb, path)
    return path


FIGURE = ".llm-notebook-figure"
# Drawn at least n times: the widget's figure (llmnotebook/widget.js counts its drawings in data-drawn).
DRAWN = f"(n) => [...document.querySelectorAll('{FIGURE}')].some(g => Number(g.dataset.drawn) >= n)"
# the trajectory map's path as drawn: the path trace's customdata rows are (step, word read, …)
DRAWN_WORDS = f"""() => {{ const g = document.querySelector('{FIGURE}');
  const t = g && g.data && g.data.find(t => (t.name || '').startsWith('this prompt'));
  return t ? t.customdata.map(r => String(r[1])) : null; }}"""
# the path drawn reads exactly these words
DRAWS_WORDS = f"(words) => JSON.stringify(({DRAWN_WORDS})()) === JSON.stringify(words)"


def open_and_run(page, lab: Lab, name: str, timeout_ms: float = 120_000) -> None:
    """Open a notebook of the lab's folder in the page and run all its cells (the app's own command)."""
    page.goto(f"{lab.url}{lab.opens}{name}", wait_until="domcontentloaded")
    page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')",
                           timeout=timeout_ms)
    page.wait_for_function("() => { const w = window.jupyterapp.shell.currentWidget; return w && w.sessionContext "
                           "&& w.sessionContext.session && w.sessionContext.session.kernel; }", timeout=timeout_ms)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def run_python(kernel, code: str, timeout: float = 60) -> str:
    """Run code in the kernel; its printed output (an error in it raises, with the kernel's traceback)."""
    out: list[str] = []

    def hook(msg) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))

    kernel.execute_interactive(code, timeout=timeout, output_hook=hook)
    return "".join(out)


def python_value(kernel, expr: str, timeout: float = 60):
    """An expression's value in the kernel, through JSON."""
    return json.loads(run_python(kernel, f"import json as _j; print(_j.dumps({expr}))", timeout))
