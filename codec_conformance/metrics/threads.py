"""How many CPU threads this process's evaluators and codecs may use.

The CPUs this process may run on, shared among pytest-xdist workers (``-n 2`` on 2 cores gives
each worker 1 thread; one process gets all of them). ``CODEC_CONFORMANCE_THREADS`` overrides it.
Every backend that spins its own pool (torch, ONNX Runtime, CTranslate2) is sized from this, so
two workers never oversubscribe the machine and a single process does not leave cores idle.
"""
from __future__ import annotations

import os
import sys

from ..errors import ConformanceError


def cpu_budget() -> int:
    forced = os.environ.get("CODEC_CONFORMANCE_THREADS")
    if forced:
        try:
            return max(1, int(forced))
        except ValueError:
            raise ConformanceError(f"CODEC_CONFORMANCE_THREADS={forced!r}: give a whole number of threads") from None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    except ValueError:
        workers = 1
    return max(1, cores // workers)


def apply_torch_threads() -> int:
    """Size torch's intra-op pool to the budget if torch is (or is about to be) in use."""
    n = cpu_budget()
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
