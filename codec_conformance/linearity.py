"""Shared machinery of the additivity and homogeneity suites: Hypothesis settings from the
profile and seed, example bookkeeping, and the shrunk counterexample for the report."""
from __future__ import annotations

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
    try:
        hseed(seed)(given_test)()
        return None
    except AssertionError as exc:
        return exc


def normalise_peak(x: np.ndarray, peak_dbfs: float) -> np.ndarray:
    return (x / max(float(np.max(np.abs(x))), 1e-9) * 10 ** (peak_dbfs / 20)).astype(np.float32)
