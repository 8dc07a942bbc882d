"""Start the dashboard: `python -m dashboard [streamlit flags]` (what `make run` and `llmcore dashboard` do).

Streamlit runs a page's script only when a browser connects, so the first visitor would wait for the plotting
libraries, the model and its maps to load. Here a background thread waits until the server listens (so the browser
can start loading the page's own code at once), then loads them into the server's process-wide cache while the
browser does so; the first page's run then finds them ready. The first page needs no torch (its maps, its trace and
candidates are read from files: llmcore.maps.tracecache), so torch and the model's weights are loaded after that page
has run (about two seconds of one core that would otherwise delay it): a visitor's next prompt finds them ready;
then the other pages' views are imported (scikit-learn, SciPy and the training code among them), so that a page's
first draw does not wait for its imports.
A failure in the warm-up is not an error: the page loads the same things itself and reports any problem there.

Before any of that, the bind address is checked (dashboard/binding.py): an empty or malformed one is an error rather
than Streamlit's fallback to every interface, none set anywhere means 127.0.0.1, and one that opens the dashboard to
the network is said in a warning. `--classroom` (ours) turns classroom mode on (dashboard/classroom.py).

Streamlit's scan of installed packages for packaged components is skipped (`skip_component_scan`): the dashboard
uses none.

Garbage collection: Streamlit's default full `gc.collect(2)` after every run walks every object of torch, the model
and the maps (0.2-0.5 s, holding the GIL) after each slider move, so it is switched off (`runner.postScriptGC`),
and what the warm-up loaded is frozen out of Python's own collections (`gc.freeze`), which still run as usual.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

# One BLAS and OpenMP thread, set before NumPy loads: a page's arrays are small, and on a shared machine (another
# busy process, other sessions) a second BLAS thread spins waiting for a core. Measured on 2 cores with other jobs
# running: the Training page's Procrustes alignment of 24 snapshots took 17.4 s with two OpenBLAS threads, 0.77 s
# with one. A training run started from the browser sets its own torch threads (TrainConfig.threads).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

APP = Path(__file__).resolve().parent / "app.py"
THREAD = "dashboard-warm-up"
# Seconds between the first page's run and torch's import: meanwhile the browser still fetches the page's code from
# this server, and torch's import (about 2 s of Python) would hold the GIL against it. Measured with
# bench/bench_dashboard.py's cold start: 0 s gave 7.45-7.8 s, 3 s gave 6.1-7.1 s over three runs each.
SETTLE_S = 3.0
# The other pages' views, imported after torch (most first visited first); the Trajectory page's is imported first.
OTHER_PAGES = ("story", "embeddings", "landscape", "causes", "training", "model_card", "compare")


class _QuietWarmUp(logging.Filter):
    """Streamlit warns when a thread without a page session calls a cached function; the warm-up and the charts built
    ahead (state.built_later), threads named dashboard-*, do so on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.args and isinstance(record.args, tuple) and str(record.args[0]).startswith("dashboard-"))


def warm_up(wait_s: float = 30.0, page_wait_s: float | None = None, settle_s: float = SETTLE_S) -> None:
    """Import what the first page imports, open the model it opens with its default map and kept trace (into
    `state`'s process-wide resource cache, which every session shares); then, settle_s after a page has run (or
    after page_wait_s, wait_s by default), import torch and read the model's weights."""
    try:
        from streamlit import runtime

        deadline = time.monotonic() + wait_s  # the server first: until it listens, the browser can load nothing
        while not _serving(runtime) and time.monotonic() < deadline:
            time.sleep(0.02)
        logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_QuietWarmUp())
        from dashboard import state
        from dashboard.views import trajectory  # its figures, frames and labels modules too

        ckpt = state.checkpoint_at(state.default_checkpoint_path())
        view = state.get_best_view(ckpt.content_hash, ckpt)
        state.map_when_ready(ckpt.content_hash, f"context:{view.layer}", view.method, 2, ckpt=ckpt)
        state.PAGE_RAN.wait(wait_s if page_wait_s is None else page_wait_s)
        time.sleep(settle_s)  # the browser is still fetching the page's code from this (GIL-bound) server
        import torch

        torch.set_num_threads(1)  # a page's forward passes are tiny; a second thread only spins against the browser
        state.get_default_trace(ckpt.content_hash, trajectory.DEFAULTS["prompt"], trajectory.DEFAULT_SAMPLING, ckpt)
        ckpt.model  # noqa: B018 - reads the weights
        views = [importlib.import_module(f"dashboard.views.{page}") for page in OTHER_PAGES]  # their imports
        for view in views:  # (scikit-learn, SciPy, training: 2-4 s a page's first draw skips), then what their
            if hasattr(view, "warm"):  # first draw reads for the default model (the Training page's snapshots)
                view.warm(ckpt)
        gc.freeze()  # the libraries and the model live as long as the server: later collections skip them
    except Exception:  # noqa: BLE001 - the page repeats the work and shows its own message
        return


def _serving(runtime: ModuleType) -> bool:
    """Whether the server has started (its runtime has left the INITIAL state); cached functions called after
    this bind to the server's caches."""
    return runtime.exists() and runtime.get_instance().state.value != "INITIAL"


ADDRESS_FLAG = "--server.address"
CLASSROOM_FLAG = "--classroom"  # ours, not Streamlit's: classroom mode (dashboard/classroom.py)


def _take_flag(args: list[str], flag: str, *, value: bool) -> tuple[list[str], str | None]:
    """The arguments without `flag` (`flag X` or `flag=X` where it takes a value), and its last value: '' for a flag
    given no value (the end, or another flag, follows it), None where it is absent."""
    rest, found, i = [], None, 0
    while i < len(args):
        arg, i = args[i], i + 1
        if arg == flag:
            found = ""
            if value and i < len(args) and not args[i].startswith("--"):
                found, i = args[i], i + 1
        elif value and arg.startswith(flag + "="):
            found = arg[len(flag) + 1:]
        else:
            rest.append(arg)
    return rest, found


def _configured_address(environ: dict[str, str]) -> tuple[str, str]:
    """The address Streamlit would bind without our flag, and where it was set: $STREAMLIT_SERVER_ADDRESS, else a
    config.toml (this folder's .streamlit/ or the user's ~/.streamlit/), else 127.0.0.1 (never Streamlit's own
    default, every interface)."""
    if environ.get("STREAMLIT_SERVER_ADDRESS"):  # click ignores an empty one, as we do
        return environ["STREAMLIT_SERVER_ADDRESS"], "STREAMLIT_SERVER_ADDRESS"
    from streamlit import config

    config.get_config_options(force_reparse=True)
    value = config.get_option("server.address")
    if value is None:
        return "127.0.0.1", "the default"
    return value, f"server.address in {config.get_where_defined('server.address')}"


def launch_args(args: list[str], environ: dict[str, str]) -> tuple[list[str], str | None]:
    """Streamlit's arguments with our --classroom taken out and the checked bind address last (LLM_LANDSCAPE_CLASSROOM
    set in `environ` when classroom mode is on), and the warning to print when the address opens the dashboard to
    the network (else None); raises ValueError naming the flag, variable or file and the rule."""
    from dashboard import binding

    args, classroom = _take_flag(args, CLASSROOM_FLAG, value=False)
    on = classroom is not None or binding.setting(environ.get(binding.ENV))
    args, flag = _take_flag(args, ADDRESS_FLAG, value=True)
    value, where = (flag, ADDRESS_FLAG) if flag is not None else _configured_address(environ)
    address, open_ = binding.check_address(value, where)
    if on:
        binding.check_forwarding(environ)
        environ[binding.ENV] = "1"
    return [*args, ADDRESS_FLAG, address], binding.open_warning(address, on) if open_ else None


def skip_component_scan() -> None:
    """Streamlit's runtime reads the metadata of every installed distribution at start, looking for packaged v2
    components (165 distributions in the development environment: 0.25 s of CPU, 0.7-1.6 s of the cold start while
    another process is busy). The dashboard declares its one v2 component inline (dashboard/chart.py) and uses no
    packaged one, so the scan finds nothing for it and is skipped (a Streamlit without it is left as it is)."""
    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:
        return
    if hasattr(manifest_scanner, "scan_component_manifests"):
        manifest_scanner.scan_component_manifests = lambda max_workers=None: []


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(APP.parent.parent))  # run from a source tree without installing
    try:
        args, warning = launch_args(list(sys.argv[1:] if argv is None else argv), os.environ)
    except ValueError as e:
        print(f"python -m dashboard: error: {e}", file=sys.stderr)
        return 2
    if warning:
        print(warning, file=sys.stderr)
    threading.Thread(target=warm_up, name=THREAD, daemon=True).start()
    skip_component_scan()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), "--runner.postScriptGC", "false", *args]
    return cli.main()


if __name__ == "__main__":
    raise SystemExit(main())
