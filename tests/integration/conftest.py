"""Everything under tests/integration/ runs pytest (or the command line on a run) in a subprocess,
or the suites end to end: marked ``slow``, so ``pytest tests/ -m "not slow"`` is the quick loop."""
from pathlib import Path

import pytest

from tests.helpers import GAIN_CODECS, TOYS, flaky_codecs

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def gain_suites(pytester, run_suites):
    """``run_suites`` with the gain codecs (``GAIN_CODECS``) as ``mycodecs``."""
    pytester.makepyfile(mycodecs=GAIN_CODECS)
    return run_suites


@pytest.fixture
def run(gain_suites):
    """``gain_suites`` (a module with codecs of its own overrides ``run``)."""
    return gain_suites


@pytest.fixture
def outside(pytester, run_suites):
    """A user's repository: no thresholds/ of its own, no pyproject, the suites by --pyargs."""
    pytester.makepyfile(toys=TOYS)
    return run_suites


@pytest.fixture
def flaky_suites(pytester, tmp_path):
    """``flaky_suites(die16)``: the writer of the flaky codec (``flaky_codecs(die16)``) as ``mycodecs``,
    returning ``run(*args)``: the packaged suites on it, uncached, in a subprocess pytest run."""
    def _start(die16=False):
        pytester.makepyfile(mycodecs=flaky_codecs(die16))
        pytester.makeini("[pytest]\n")

        def _run(*args, timeout=None):
            return pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider",
                                                 "--codec=mycodecs:flaky", "--codec-no-cache",
                                                 "--codec-cache-dir", str(tmp_path / "cache"), *args,
                                                 timeout=timeout)
        return _run
    return _start
