"""Helpers shared by the test files (fixtures live in the conftest files): the repository's paths,
the shared test data, and reading a run's results."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent  # the repository
SHARED = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} not present (shared test data)")


def latest_results(pytester) -> dict:
    """results.json of the newest run under the pytester folder."""
    return json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())
