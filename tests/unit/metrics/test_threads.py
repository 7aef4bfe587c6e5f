import os

import pytest

from codec_conformance.errors import ConformanceError
from codec_conformance.metrics.threads import cpu_budget

# ----------------------------------------------------------------------
# Thread budget per process and the longest-first order of tests under xdist.


def test_thread_budget_splits_the_cores_among_workers(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("CODEC_CONFORMANCE_THREADS", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert cpu_budget() == cores
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(2 * cores))
    assert cpu_budget() == 1  # never zero
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    assert cpu_budget() == max(1, cores // 2)
    monkeypatch.setenv("CODEC_CONFORMANCE_THREADS", "3")
    assert cpu_budget() == 3
    monkeypatch.setenv("CODEC_CONFORMANCE_THREADS", "many")
    with pytest.raises(ConformanceError, match="CODEC_CONFORMANCE_THREADS='many'"):
        cpu_budget()
