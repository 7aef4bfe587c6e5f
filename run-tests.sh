#!/usr/bin/env bash
# The test command: the library's own tests, then the suites on the embedded default (Opus).
set -euo pipefail
cd "$(dirname "$0")"
PY=.venv/bin/python
"$PY" -m ruff check codec_conformance tests suites benchmarks conftest.py   # config: pyproject [tool.ruff]
"$PY" -m mypy                                                               # config: pyproject [tool.mypy]
"$PY" -m pytest tests/ -n 2 -q -p no:randomly -m "not slurm" "$@"
"$PY" -m pytest suites/ --codec=opus -n 2 -q
# the Slurm recipe on a single-node cluster (tests/integration/test_slurm.py), alone: its shards keep both cores
# busy; it compares them with the suite in one process, which reuses the run above's cache. It
# needs root and apt-get, and skips with the reason elsewhere.
"$PY" -m pytest tests/integration/test_slurm.py -m slurm -q -p no:randomly -rs
