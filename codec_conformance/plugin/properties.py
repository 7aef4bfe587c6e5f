"""Shared machinery of the additivity, homogeneity and token-gain properties: Hypothesis settings
from the profile and seed, the gains they draw, example bookkeeping, and the shrunk counterexample
for the report."""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import numpy as np

from ..engine.session import ConformanceSession
from ..gate.statistics import median_interval

if TYPE_CHECKING:  # hypothesis is imported where it is used
    import hypothesis
    from hypothesis.strategies import SearchStrategy

_Fn = TypeVar("_Fn", bound=Callable[..., Any])

# The gain range of the homogeneity and token-gain properties (a -14 dBFS-peak utterance: +12 dB
# stays below clipping). Gains closer to 0 dB than TRIVIAL_GAIN_DB are never drawn: at 0 dB
# f(a x) = a f(x) holds for any codec (SER at its 120 dB cap), so such an example tests nothing;
# Hypothesis favours simple values, and with floats(-40, 12) 3 of the 6 smoke examples were 0 dB.
GAIN_MIN_DB, GAIN_MAX_DB, TRIVIAL_GAIN_DB = -40.0, 12.0, 1.0
# the range's ends, run first in every profile (explicit examples, on top of the drawn ones), on
# up to GAIN_END_ITEMS utterances: the worst case sits at an end for the reference codecs (-40 dB:
# opus, mulaw) and for a saturating one (+12 dB), and how bad it is there depends on the utterance
# (opus @ 64 kbps at -40 dB: 3.9 to 13.6 dB over the smoke corpus), so one utterance per end left
# the worst to the seed (benchmarks/bench_draw_stability.py, docs/statistics.md)
GAIN_ENDS_DB = (GAIN_MIN_DB, GAIN_MAX_DB)
GAIN_END_ITEMS = 16  # the smoke corpus's size: every smoke utterance


def gains_db() -> SearchStrategy[float]:
    """Hypothesis strategy of a gain in dB: [-40, -1] or [1, 12] (each half drawn as often; each
    shrinks within itself, the union towards the attenuations). A union of two ranges rather than
    a filter: nothing is rejected, shrinking and health checks stay as for plain floats."""
    from hypothesis import strategies as st
    return st.one_of(st.floats(GAIN_MIN_DB, -TRIVIAL_GAIN_DB), st.floats(TRIVIAL_GAIN_DB, GAIN_MAX_DB))


def gain_end_items(n_items: int) -> list[int]:
    """The utterances (indices of ``n_items``) the ends are tested on: all of them up to
    GAIN_END_ITEMS, else GAIN_END_ITEMS spread evenly over the corpus."""
    if n_items <= GAIN_END_ITEMS:
        return list(range(n_items))
    return sorted({int(round(k)) for k in np.linspace(0, n_items - 1, GAIN_END_ITEMS)})


def gain_ends(n_items: int) -> list[tuple[int, float]]:
    """The explicit examples ``(i, gain_db)``, in the order they run: each end on every utterance
    of :func:`gain_end_items`, -40 dB first."""
    return [(i, g) for g in GAIN_ENDS_DB for i in gain_end_items(n_items)]


def with_gain_ends(n_items: int) -> Callable[[_Fn], _Fn]:
    """Decorator (under ``@given(i=..., gain_db=gains_db())``): :func:`gain_ends` as explicit
    examples. Hypothesis runs them all before drawing, in that order; when any fails it draws
    nothing more, and the failing end is the counterexample."""
    from hypothesis import example

    def decorate(test: _Fn) -> _Fn:
        for i, g in reversed(gain_ends(n_items)):  # the last decorator applied runs first
            test = example(i=i, gain_db=g)(test)
        return test
    return decorate


class Counterexample(AssertionError):
    """A property's failure, carrying the example (the dict the record lists) that failed: what
    :func:`run_property` returns is the error of the minimal (shrunk) failing example, or of the
    failing explicit example, so ``err.example`` is the report's counterexample."""

    def __init__(self, message: str, example: dict):
        super().__init__(message)
        self.example = example


def counterexample(err: AssertionError | None, examples: list[dict]) -> dict | None:
    """The report's counterexample for :func:`run_property`'s result (None when it passed)."""
    if err is None:
        return None
    return getattr(err, "example", None) or (examples[-1] if examples else None)


def hypothesis_settings(sess: ConformanceSession) -> hypothesis.settings:
    from hypothesis import HealthCheck, settings
    return settings(max_examples=sess.profile.hypothesis_examples, deadline=None, database=None,
                    derandomize=False, print_blob=False,
                    suppress_health_check=list(HealthCheck))


def run_property(sess: ConformanceSession, given_test: Callable[[], None], seed: int) -> AssertionError | None:
    """Run a Hypothesis test seeded with the run's seed; return its failure (an AssertionError,
    a :class:`Counterexample` when the test raises those) or None.

    ``given_test`` appends each evaluated example to the list it closes over, explicit examples
    (``@example``) first; when a drawn example fails, Hypothesis shrinks and replays the minimal
    failing example last, and the error returned is that replay's. Failures of several explicit
    examples that Hypothesis reports as a group come back as the first one's error."""
    from hypothesis import seed as hseed
    with _seed_only_generation():
        try:
            hseed(seed)(given_test)()
            return None
        except AssertionError as exc:
            return exc
        except BaseExceptionGroup as group:
            match, rest = group.split(AssertionError)
            if match is None or rest is not None:
                raise
            first: BaseException = match
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            assert isinstance(first, AssertionError)
            return first


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


def median_of_draws(values: list[float], seed: int) -> dict:
    """The record fields of a property's examples besides its worst case: their median and the
    median's 95 % bootstrap interval (how far another seed's draws may move it; the baseline
    gate judges a worst case over draws by this median, gate/baseline.py)."""
    if not values:
        return {"median": None}
    return {"median": float(np.median(values)), "median_ci95": median_interval(values, seed)}
