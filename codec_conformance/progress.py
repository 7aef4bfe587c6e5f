"""Progress of long work (loading evaluators, coding a condition's corpus, transcribing) in
pytest's terminal reporter.

On a terminal (and without ``-q``) one live status is written after the test's line and erased
before pytest writes the test's outcome (``loading wer evaluator … 12.3 s``, ``wer: scoring
12/48``). Under ``-q`` and when the output is not a terminal (CI logs) nothing is rewritten: one
line per stage that took a while (evaluator loads and the corpus from 1 s, any other stage
from 5 s), with its time. At the end
the terminal summary lists the time spent per stage.

The session calls :func:`stage` and :func:`step`; both do nothing unless the controller
installed a :class:`Progress` (never on xdist workers, whose output pytest does not show).
Imports nothing heavy.
"""
from __future__ import annotations

import contextlib
import threading
import time

_current: "Progress | None" = None
MIN_ANNOUNCE_S = 1.0  # non-live mode: a line for an announcing stage (a load) that took this long
LONG_STAGE_S = 5.0    # ... and for any stage (scoring, coding) that took this long


class Progress:
    def __init__(self, terminalreporter, live: bool, capman=None):
        self.tr = terminalreporter
        self.capman = capman
        self.live = live
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._shown = ""          # what the live status wrote on the current line
        self._line_before = None  # the terminal writer's current line before it
        self._lock = threading.Lock()
        self._label = ""
        self._t0 = 0.0

    def _uncaptured(self):
        """Output capture suspended (the status is written during a test), as pytest's live logging."""
        if self.capman is None:
            return contextlib.nullcontext()
        return self.capman.global_and_fixture_disabled()

    # ------------------------------------------------------------ live status
    def show(self, text: str) -> None:
        if not self.live:
            return
        with self._lock, self._uncaptured():
            tw = self.tr._tw
            self._erase()
            width = getattr(tw, "fullwidth", 80) - (tw.width_of_current_line if hasattr(tw, "width_of_current_line") else 0)
            text = (" " + text)[: max(0, width - 2)]
            if not text.strip():
                return
            self._line_before = getattr(tw, "_current_line", None)
            tw.write(text, flush=True, cyan=True)
            self._shown = text

    def _erase(self) -> None:
        if not self._shown:
            return
        n = len(self._shown)
        tw = self.tr._tw
        tw.write("\b" * n + " " * n + "\b" * n, flush=True)
        if self._line_before is not None and hasattr(tw, "_current_line"):
            tw._current_line = self._line_before  # pytest's column count stays right
        self._shown = ""

    def clear(self) -> None:
        if not self._shown:
            return
        with self._lock, self._uncaptured():
            self._erase()

    # ------------------------------------------------------------ stages
    @contextlib.contextmanager
    def stage(self, label: str, key: str, announce: bool):
        t0 = time.perf_counter()
        self._label, self._t0 = label, t0
        self.show(f"{label} …")
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            self.totals[key] = self.totals.get(key, 0.0) + dt
            self.counts[key] = self.counts.get(key, 0) + 1
            self.clear()
            if not self.live and dt >= (MIN_ANNOUNCE_S if announce else LONG_STAGE_S):
                with self._uncaptured():
                    self.tr.write_line(f"codec-conformance: {label} ({dt:.1f} s)")

    def step(self, what: str, done: int, total: int) -> None:
        if self.live:
            self.show(f"{self._label}: {what} {done}/{total} ({time.perf_counter() - self._t0:.0f} s)")

    def summary_lines(self) -> list[str]:
        if not self.totals:
            return []
        parts = [f"{k} {v:.1f} s" + (f" ({self.counts[k]}×)" if self.counts.get(k, 1) > 1 else "")
                 for k, v in sorted(self.totals.items(), key=lambda kv: -kv[1])]
        return ["codec-conformance time per stage: " + "; ".join(parts)]


def install(config) -> Progress | None:
    """Install the progress display of this (controller) process; None when there is no
    terminal reporter."""
    global _current
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        _current = None
        return None
    live = bool(getattr(tr, "isatty", False)) and config.get_verbosity() >= 0
    _current = Progress(tr, live, config.pluginmanager.get_plugin("capturemanager"))
    return _current


def uninstall() -> None:
    global _current
    _current = None


def current() -> Progress | None:
    return _current


def stage(label: str, key: str | None = None, announce: bool = False):
    """Context manager: a stage of work (shown live; timed under ``key``, default ``label``)."""
    p = _current
    if p is None:
        return contextlib.nullcontext()
    return p.stage(label, key or label, announce)


def step(what: str, done: int, total: int) -> None:
    """Progress within the current stage (``transcribing 12/48``)."""
    p = _current
    if p is not None:
        p.step(what, done, total)
