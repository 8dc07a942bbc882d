"""Peak memory of `llmcore train` (issue 28, item 4): bounded by what the run trains, not by a timer.

The run and a process that only loads the libraries `llmcore train` loads are measured apart (their own peak RSS,
from getrusage in each subprocess); what the run adds beyond the libraries must stay within a budget made of the
bytes it has to keep (weights, Adam moments, gradients, snapshots, the corpus) and a fixed allowance for the
measures' working sets (a fixed number of reference states and prompts, whatever the model's size).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import TINY_WORLD

PEAK = "import resource; print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
# everything `llmcore train` imports before its first step, and AdamW (its first use loads torch._dynamo); never
# scikit-learn, SciPy or pandas (135 MB): the run's maps and measures use llmcore.maps.linear and NumPy
LIBRARIES = ("import torch, llmcore.cli, llmcore.maps.callbacks, llmcore.training.lens_phase, "
             "llmcore.training.trainer; torch.optim.AdamW(torch.nn.Linear(4, 4).parameters())")
# the bundled model's shape on the tiny world: its ~0.8 M parameters make what scales with them show
FLAGS = ["train", "--world", str(TINY_WORLD), "--steps", "30", "--batch-size", "16", "--block-size", "16",
         "--eval-every", "30", "--landscape-grid", "5", "--threads", "1", "--quiet"]
MEASURES_MB = 160  # reference states, prompts and lens states: a fixed count of positions, not the model's size
KEPT_FACTOR = 2  # each byte the run keeps may be copied once on its way (a float32 view of a snapshot, a write)


def _peak_mb(code: str) -> int:
    out = subprocess.run([sys.executable, "-c", f"{code}\n{PEAK}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.split("PEAK")[-1])


def _kept_mb(folder) -> float:
    """The bytes the run keeps in memory: weights, gradients and two Adam moments in float32, the embedding and
    weight snapshots and the path snapshots in float16, and the corpus's token ids."""
    cfg = json.loads((folder / "config.json").read_text())
    params, m, t = cfg["metrics"]["parameters"], cfg["model_config"], cfg["train_config"]
    snapshots = t["n_snapshots"] * (params + m["vocab_size"] * m["n_embd"]) + t["weight_snapshots"] * params
    return (4 * 4 * params + 2 * snapshots + 8 * cfg["metrics"]["corpus_tokens"]) / 2**20


@pytest.mark.slow
def test_train_peak_memory_is_bounded_by_what_it_trains(tmp_path):
    out = tmp_path / "run"
    code = (f"import sys; from llmcore.cli import main; rc = main({[*FLAGS, '--out', str(out)]!r}); assert rc == 0; "
            "heavy = {'sklearn', 'scipy', 'pandas'} & {m.split('.')[0] for m in sys.modules}; assert not heavy, heavy")
    run = _peak_mb(code)
    libraries = _peak_mb(LIBRARIES)
    kept = _kept_mb(out)
    budget = MEASURES_MB + KEPT_FACTOR * kept
    assert run - libraries <= budget, (f"llmcore train peaked at {run} MB: {run - libraries} MB beyond its "
                                       f"libraries' {libraries} MB, over the budget of {budget:.0f} MB "
                                       f"({MEASURES_MB} + {KEPT_FACTOR} x {kept:.0f} MB kept)")
