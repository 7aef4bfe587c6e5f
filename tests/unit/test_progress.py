

# ----------------------------------------------------------------------
# pytest's conventions and the CLI's output: --version, compare (regressions first, full names,
# --only-regressions, --html), list-codecs, JUnit properties, the session's start time and the
# command in provenance, the cache provider, the live progress line.


# ------------------------------------------------------------------ progress
class FakeTW:
    def __init__(self):
        self.out, self._current_line, self.fullwidth = [], "", 80

    @property
    def width_of_current_line(self):
        return len(self._current_line)

    def write(self, s, flush=False, **markup):
        self.out.append(s)
        self._current_line += s


class FakeTR:
    def __init__(self):
        self._tw, self.lines = FakeTW(), []

    def write_line(self, s, **kw):
        self.lines.append(s)


def test_progress_live_status_is_erased_and_timed():
    from codec_conformance import progress as P
    tr = FakeTR()
    tr._tw._current_line = "suites/test_x.py .."
    p = P.Progress(tr, live=True)
    with p.stage("loading the wer evaluator", "loading evaluators", announce=True):
        p.step("transcribing", 3, 12)
    assert any("loading the wer evaluator" in s for s in tr._tw.out)
    assert any("transcribing 3/12" in s for s in tr._tw.out)
    assert tr._tw._current_line == "suites/test_x.py .."  # erased: pytest's column count intact
    assert tr.lines == []  # live mode: no extra lines
    assert p.summary_lines()[0].startswith("codec-conformance time per stage: loading evaluators")


def test_progress_quiet_mode_one_line_per_stage(monkeypatch):
    from codec_conformance import progress as P
    monkeypatch.setattr(P, "MIN_ANNOUNCE_S", 0.0)
    monkeypatch.setattr(P, "LONG_STAGE_S", 60.0)
    tr = FakeTR()
    p = P.Progress(tr, live=False)
    with p.stage("loading the wer evaluator", "loading evaluators", announce=True):
        p.step("transcribing", 3, 12)
    with p.stage("coding 6 items", "codec round trips"):
        pass
    assert tr._tw.out == []  # nothing rewritten
    assert len(tr.lines) == 1 and tr.lines[0].startswith("codec-conformance: loading the wer evaluator (")
