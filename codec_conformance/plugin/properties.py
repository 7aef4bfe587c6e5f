"""Shared machinery of the additivity and homogeneity suites: Hypothesis settings from the
profile and seed, example bookkeeping, and the shrunk counterexample for the report."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np


def hypothesis_settings(sess):
    from hypothesis import HealthCheck, settings
    return settings(max_examples=sess.profile.hypothesis_examples, deadline=None, database=None,
                    derandomize=False, print_blob=False,
                    suppress_health_check=list(HealthCheck))


def run_property(sess, given_test, seed: int):
    """Run a Hypothesis test seeded with the run's seed; return (examples, error or None).

    ``given_test`` appends each evaluated example to the list it closes over; when the property
    fails, Hypothesis shrinks and replays the minimal failing example last, so the last failing
    entry is the shrunk counterexample."""
    from hypothesis import seed as hseed
    with _seed_only_generation():
        try:
            hseed(seed)(given_test)()
            return None
        except AssertionError as exc:
            return exc


@contextmanager
def _seed_only_generation():
    """Hypothesis (6.170 here) also draws, now and then, literals found in the local modules
    loaded so far; which of ours are loaded depends on what this process ran before (xdist layout,
    ``-k``, cache hits), so the examples did too: one additivity test's worst SER was 12.0 dB in
    one process and 18.5 dB under ``-n 2``. While a property runs, that pool is empty and the
    examples depend on the seed only. (Private Hypothesis API: without it, nothing is changed.)"""
    try:
        from hypothesis.internal.conjecture import providers
        get, cache, empty = providers._get_local_constants, providers.CONSTANTS_CACHE, providers.Constants()
    except (ImportError, AttributeError):
        yield
        return
    providers._get_local_constants = lambda: empty
    cache.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = get
        cache.cache.clear()


def normalise_peak(x: np.ndarray, peak_dbfs: float) -> np.ndarray:
    return (x / max(float(np.max(np.abs(x))), 1e-9) * 10 ** (peak_dbfs / 20)).astype(np.float32)
