"""Torch's thread count for a stretch of small operations."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread for the enclosed forward passes, then the count it had. On batches this small a second
    thread gains little, and while another process keeps a core busy every small operation waits for it: on 2 loaded
    cores a 32-sentence forward pass took 195-262 ms on 2 threads against 12-20 ms on one
    (bench/bench_end_of_training.py). The dashboard's server runs on one thread for the same reason."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
