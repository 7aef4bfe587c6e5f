"""Fixtures for the library's own tests. Real data comes from ../shared/data (read-only, by
path, see tests/helpers.py); tests that need it skip with a reason when it is absent (a user's machine)."""
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.fetch_helpers import FileServer
from tests.helpers import SHARED, USER_CODECS

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present (shared test data)")
    return SHARED


@pytest.fixture(scope="session")
def libri(shared_data):
    from codec_conformance.data.corpus import load_folder
    return load_folder(shared_data / "speech" / "librispeech-test-other-10spk")


@pytest.fixture(scope="session")
def embedded():
    from codec_conformance.data.corpus import load_embedded
    return load_embedded(3, 2)


@pytest.fixture
def run_suites(pytester, tmp_path):
    """``run_suites(*args)``: the packaged suites in a subprocess pytest run from a fresh folder (a
    user's repository: its own rootdir, reports/ and thresholds/), with a cache of its own."""
    pytester.makeini("[pytest]\n")  # fixes rootdir (reports/, thresholds/ live under it)

    def _run(*args):
        return pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider",
                                             "--codec-cache-dir", str(tmp_path / "cache"), *args)
    return _run


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def usercodecs(tmp_path, monkeypatch):
    """A user codec package in a temporary directory (importable as ``usercodecs``)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "usercodecs.py").write_text(USER_CODECS)
    (pkg / "usercodecs_gain.txt").write_text("1.0")
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(pkg), os.environ.get("PYTHONPATH")])))
    sys.modules.pop("usercodecs", None)
    yield pkg
    sys.modules.pop("usercodecs", None)


@pytest.fixture
def server():
    """A file server on 127.0.0.1 (tests/fetch_helpers.py), closed after the test."""
    s = FileServer()
    yield s
    s.close()
