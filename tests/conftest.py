"""Fixtures for the library's own tests. Real data comes from ../shared/data (read-only, by
path); tests that need it skip with a reason when it is absent (a user's machine)."""
from pathlib import Path

import numpy as np
import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} not present (shared test data)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present (shared test data)")
    return SHARED


@pytest.fixture(scope="session")
def libri(shared_data):
    from codec_conformance.corpus import load_folder
    return load_folder(shared_data / "speech" / "librispeech-test-other-10spk")


@pytest.fixture(scope="session")
def embedded():
    from codec_conformance.corpus import load_embedded
    return load_embedded(3, 2)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
