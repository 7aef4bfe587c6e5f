"""Helpers shared by the test files (fixtures live in the conftest files): the repository's paths,
the shared test data, and reading a run's results."""
import json
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent  # the repository
SHARED = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} not present (shared test data)")


def latest_results(pytester) -> dict:
    """results.json of the newest run under the pytester folder."""
    return json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())


# --------------------------------------------------------------------- expected counts
# What a run collects follows from the catalogue's declarations (condition kinds and their grids,
# metrics, suites) and the profile: expected counts are computed from them, so that a new metric,
# condition kind or grid point does not break a test that is not about it.
def grid(suite: str, profile: str = "smoke", reference: bool = True) -> list:
    """The conditions a suite (``noise``, ``tokens``) runs under ``profile``, as the session builds
    them (without the reference kind, clean, when ``reference`` is False)."""
    from codec_conformance.catalogue import condition_kinds
    from codec_conformance.settings import PROFILES
    return [c for k in condition_kinds().values() if suite in k.suites and (reference or not k.reference)
            for c in k.conditions(PROFILES[profile])]


def default_metrics() -> list[str]:
    """The metrics a run scores without --codec-metrics (no option-dependent ones)."""
    from codec_conformance.catalogue import metrics
    return [n for n, i in metrics().items() if i.default and i.requires is None]


def sweep_levels(profile: str = "smoke", having: str | None = None, lacking: str | None = None) -> list[str]:
    """The frequency-response sweep levels' ids (``-20dBFS``) of ``profile``; ``having``/``lacking``:
    only those whose id holds (or does not hold) that text, as ``-k`` selects them."""
    from codec_conformance.settings import PROFILES
    ids = [f"{x:g}dBFS" for x in PROFILES[profile].sweep_levels_dbfs]
    return [i for i in ids if (having is None or having in i) and (lacking is None or lacking not in i)]


def token_tests(profile: str = "smoke") -> int:
    """Tests of the token suite per codec and bitrate: its noise grid, the gain, the shifts, the
    determinism check."""
    from codec_conformance.suites.test_token_robustness import SHIFTS
    return len(grid("tokens", profile, reference=False)) + 1 + len(SHIFTS) + 1


@contextmanager
def within(seconds: float):
    """Fail with TimeoutError when the block takes longer than ``seconds`` (SIGALRM: a blocking
    open() of a FIFO is interrupted; main thread, POSIX only)."""
    def ring(signum, frame):
        raise TimeoutError(f"did not finish within {seconds:g} s")
    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
