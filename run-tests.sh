#!/usr/bin/env bash
# The test command: the library's own tests, then the suites on the embedded default (Opus).
set -euo pipefail
cd "$(dirname "$0")"
PY=.venv/bin/python
"$PY" -m ruff check codec_conformance tests suites benchmarks conftest.py   # config: pyproject [tool.ruff]
"$PY" -m mypy                                                               # config: pyproject [tool.mypy]
"$PY" -m pytest tests/ -n 2 -q -p no:randomly -m "not slurm and not clean_install" "$@"
"$PY" -m pytest suites/ --codec=opus -n 2 -q
# the Slurm recipe on a single-node cluster (tests/integration/test_slurm.py), alone: its shards keep both cores
# busy; it compares them with the suite in one process, which reuses the run above's cache. It
# needs root and apt-get, and skips with the reason elsewhere.
"$PY" -m pytest tests/integration/test_slurm.py -m slurm -q -p no:randomly -rs
# an install from the extras alone, in a clean venv, builds every registered codec (tests/integration/test_clean_install.py)
"$PY" -m pytest tests/integration/test_clean_install.py -m clean_install -q -p no:randomly -rs
