"""Thread budget per process and the longest-first order of tests under xdist."""
import os
from types import SimpleNamespace

import pytest

from codec_conformance.data import conditions as C
from codec_conformance.errors import ConformanceError
from codec_conformance.plugin.roles import estimated_cost
from codec_conformance.metrics.threads import cpu_budget


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


def _item(name, **params):
    """A collected test of suite module ``name`` (its SUITE declares the costs)."""
    import importlib
    module = importlib.import_module(f"codec_conformance.suites.{name}")
    return SimpleNamespace(originalname=name, module=module, callspec=SimpleNamespace(params=params))


def test_expensive_tests_are_scheduled_first():
    items = [_item("test_noise_robustness", noise_metric="pesq", noise_condition=C.white(0.0)),
             _item("test_frequency_response"),
             _item("test_noise_robustness", noise_metric="wer", noise_condition=C.clean()),
             _item("test_noise_robustness", noise_metric="wer", noise_condition=C.white(-5.0)),
             _item("test_additivity"),
             _item("test_noise_robustness", noise_metric="dnsmos", noise_condition=C.clean())]
    ranked = sorted(items, key=lambda it: -estimated_cost(it))
    names = [(it.originalname, it.callspec.params.get("noise_metric")) for it in ranked]
    assert names[:3] == [("test_noise_robustness", "wer")] * 2 + [("test_noise_robustness", "dnsmos")]
    assert ranked[0].callspec.params["noise_condition"].kind == "white"  # noisy ASR decodes more
    assert names[-1] == ("test_frequency_response", None)
