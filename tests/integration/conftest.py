"""Everything under tests/integration/ runs pytest (or the command line on a run) in a subprocess,
or the suites end to end: marked ``slow``, so ``pytest tests/ -m "not slow"`` is the quick loop."""
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)
