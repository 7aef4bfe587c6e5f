"""Progress of long work (loading evaluators, coding a condition's corpus, transcribing) in
pytest's terminal reporter.

On a terminal (and without ``-q``) one live status is written after the test's line and erased
before pytest writes the test's outcome (``loading the wer evaluator …``, ``wer: scoring 12 items: transcribing
3/12``). Under ``-q`` and when the output is not a terminal (CI logs) nothing is rewritten: one
line per stage that took a while (evaluator loads and the corpus from 1 s, any other stage
from 5 s), with its time. At the end the terminal summary lists the time spent per stage.

The engine is handed a :class:`Stages` (it times each stage and shows nothing: an xdist worker,
a script) or a :class:`Progress` (the controller's terminal display, from :meth:`Progress.install`)
and calls its :meth:`~Stages.stage`. Imports nothing heavy.
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Iterator

MIN_ANNOUNCE_S = 1.0  # non-live mode: a line for an announcing stage (a load) that took this long
LONG_STAGE_S = 5.0    # ... and for any stage (scoring, coding) that took this long


class Stages:
    """Times the stages of long work (seconds and count per key); shows nothing."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    @contextlib.contextmanager
    def stage(self, label: str, key: str | None = None, announce: bool = False) -> Iterator[None]:
        """A stage of work, timed under ``key`` (default ``label``); ``announce``: a load, worth
        a line from 1 s."""
        t0 = time.perf_counter()
        self.started(label, t0)
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            k = key or label
            self.totals[k] = self.totals.get(k, 0.0) + dt
            self.counts[k] = self.counts.get(k, 0) + 1
            self.ended(label, dt, announce)

    def started(self, label: str, t0: float) -> None:
        """A stage began (a display shows it)."""

    def ended(self, label: str, seconds: float, announce: bool) -> None:
        """A stage ended (a display erases it, or writes a line for a long one)."""

    def step(self, what: str, done: int, total: int) -> None:
        """Progress within the current stage (``transcribing 12/48``)."""

    def clear(self) -> None:
        """Erase whatever is shown (before pytest writes a test's outcome)."""

    def summary_lines(self) -> list[str]:
        return stage_summary(self.totals, self.counts)


def stage_summary(totals: dict[str, float], counts: dict[str, int]) -> list[str]:
    """The terminal summary's line of time per stage (none when nothing was timed)."""
    if not totals:
        return []
    parts = [f"{k} {v:.1f} s" + (f" ({counts[k]}×)" if counts.get(k, 1) > 1 else "")
             for k, v in sorted(totals.items(), key=lambda kv: -kv[1])]
    return ["codec-conformance time per stage: " + "; ".join(parts)]


class Progress(Stages):
    """The controller's terminal display of the stages."""

    def __init__(self, terminalreporter: Any, live: bool, capman: Any = None) -> None:
        super().__init__()
        self.tr = terminalreporter
        self.capman = capman
        self.live = live
        self._shown = ""          # what the live status wrote on the current line
        self._line_before: Any = None  # the terminal writer's current line before it
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
    def started(self, label: str, t0: float) -> None:
        self._label, self._t0 = label, t0
        self.show(f"{label} …")

    def step(self, what: str, done: int, total: int) -> None:
        if self.live:
            self.show(f"{self._label}: {what} {done}/{total} ({time.perf_counter() - self._t0:.0f} s)")

    def ended(self, label: str, seconds: float, announce: bool) -> None:
        self.clear()
        if not self.live and seconds >= (MIN_ANNOUNCE_S if announce else LONG_STAGE_S):
            with self._uncaptured():
                self.tr.write_line(f"codec-conformance: {label} ({seconds:.1f} s)")

    @classmethod
    def install(cls, config: Any) -> "Progress | None":
        """The progress display of this (controller) process; None without a terminal reporter."""
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is None:
            return None
        live = bool(getattr(tr, "isatty", False)) and config.get_verbosity() >= 0
        return cls(tr, live, config.pluginmanager.get_plugin("capturemanager"))
