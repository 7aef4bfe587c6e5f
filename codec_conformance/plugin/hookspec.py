"""Hooks other plugins (or a conftest.py) may implement (registered by ``pytest_addhooks``)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.hookspec
def pytest_codec_conformance_finished(results: dict, run_dir: Path, config: pytest.Config) -> None:
    """Called on the controller once a run's ``results.json`` is final (after the last test, the
    verdict and the HTML report): ``results`` is its content, ``run_dir`` its folder. Publish it,
    upload it, compare it with a dashboard's, ... (an exception here fails the run loudly)."""
