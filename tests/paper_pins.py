"""A pytest plugin for the paper-mode tests only (``-p tests.paper_pins``): pins the paper's
evaluator files to the SHA-256 of the tiny generated models (tests/paper_models.py) that a test's
127.0.0.1 mirror serves, in place of the published digests (metrics/paper.py), which generated files
cannot match.

It replaces pins, it does not remove them: every served file is still checked against a full
SHA-256 before use, and the hostile-file gates (metrics/trust.py) still run on it. The pins are
read from the JSON file (canonical URL -> SHA-256) named by the environment variable
``CODEC_CONFORMANCE_TEST_PAPER_PINS``, which only the test sets; a URL missing there is a hard
error, so no file goes unpinned. This module is not part of the package: users never load it.
"""
from __future__ import annotations

import dataclasses
import json
import os

from codec_conformance.metrics import paper

ENV = "CODEC_CONFORMANCE_TEST_PAPER_PINS"


def _pinned(src, pins: dict[str, str]):
    if src.url not in pins:
        raise RuntimeError(f"{ENV}: no pin for {src.url}")
    return dataclasses.replace(src, sha256=pins[src.url])


def _apply() -> None:
    with open(os.environ[ENV], encoding="utf-8") as f:
        pins = json.load(f)
    paper.WHISPER_LARGE_V3 = _pinned(paper.WHISPER_LARGE_V3, pins)
    paper.ECAPA = tuple(_pinned(s, pins) for s in paper.ECAPA)
    paper.EMOTION2VEC = tuple(_pinned(s, pins) for s in paper.EMOTION2VEC)


_apply()   # at import (-p loads it before any hook of the session runs, the preflight's included)
