"""The HTML report: content, escaping, and a real headless browser (Debian's chromium)."""
import json
import shutil
import subprocess

import pytest

from codec_conformance.report import write_html
from codec_conformance.results import make_record

EVIL = "<script>alert(1)</script>"


def doc(tmp_path):
    recs = []
    for snr in (0.0, 10.0):
        for kind in ("white", "ambient"):
            for m, hib, v, o in (("pesq", True, 1.1, 1.3), ("wer", False, 0.5, 0.4), ("mel_distance", False, 1.2, 1.0),
                                 ("eer", False, 0.2, 0.1), ("prosody_corr", True, 0.8, 0.9)):
                r = make_record(codec=EVIL, bitrate_kbps=6.0, suite="noise",
                                condition={"kind": kind, "snr_db": snr, "gain_db": None, "rt60_s": None,
                                           "level_dbfs": None}, metric=m, higher_is_better=hib, value=v, oracle=o,
                                threshold={"kind": "max_delta", "limit": -0.1, "source": "thresholds/x.toml"}
                                if m == "pesq" else None, n_items=6, test_id=f"t::{EVIL}")
                r["passed"] = False if m == "pesq" else None
                recs.append(r)
    recs.append(make_record(codec=EVIL, bitrate_kbps=6.0, suite="additivity",
                            condition={"kind": "mixture", "snr_db": None, "gain_db": None, "rt60_s": None,
                                       "level_dbfs": None, "mixture": "speech_speech"}, metric="ser_db",
                            higher_is_better=True, value=3.0, n_items=6, test_id="t", median=5.0,
                            counterexample={"x": EVIL, "gain_db": 3.0}))
    curves = [{"codec": EVIL, "bitrate_kbps": 6.0, "kind": "frequency_response", "level_dbfs": 0.0,
               "x": [20.0, 100.0, 1000.0, 8000.0], "x_unit": "Hz", "y": [-3.0, 0.0, 0.0, -10.0], "y_unit": "dB"},
              {"codec": EVIL, "bitrate_kbps": 6.0, "kind": "homogeneity_gain", "level_dbfs": None,
               "x": [-40.0, 0.0, 12.0], "x_unit": "dB", "y": [-39.0, 0.0, 10.0], "y_unit": "dB"}]
    d = {"schema": "codec-conformance/results/1",
         "run": {"id": "r1", "started": "2026", "finished": None, "argv": [EVIL], "seed": 0, "profile": "smoke",
                 "device": "cpu", "versions": {}, "errors": [{"test_id": EVIL, "when": "call", "message": EVIL}],
                 "evaluators": {"wer": {"name": EVIL, "stand_in": True}},
                 "corpora": {"speech": {"synthetic": True, "description": EVIL, "transcripts": "clean-asr"}}},
         "codecs": [{"name": EVIL, "sample_rate": 16000, "bitrates_kbps": [6.0], "checkpoint": EVIL,
                     "checkpoint_sha256": None, "weights": "random-init", "device": "cpu"}],
         "records": recs, "curves": curves}
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(d))
    return run


def test_report_content_and_escaping(tmp_path):
    html = write_html(doc(tmp_path)).read_text()
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for needle in ("FAIL", "interrupted", "weights: random-init", "Stand-in evaluators", "Synthetic speech corpus",
                   "ASR transcript of the clean signal", "Figure 1", "Figure 2", "Figure 3", "counterexample",
                   "thresholds/x.toml", "data:image/png;base64,"):
        assert needle in html, needle
    assert "http://" not in html and "https://" not in html  # self-contained: nothing to fetch


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless Chromium here (apt-get install chromium) to test the report in a browser")


def browse(page, tmp_path, screenshot=None):
    args = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
            "--window-size=1400,2000", "--virtual-time-budget=3000"]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    p = subprocess.run(args + [page.as_uri()], capture_output=True, text=True, timeout=120)
    console = [line for line in p.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return p, console


def test_report_in_headless_browser(tmp_path):
    page = write_html(doc(tmp_path))
    p, console = browse(page, tmp_path)
    assert p.returncode == 0 and "codec-conformance report" in p.stdout
    assert console == [], console
    shot = tmp_path / "shot.png"
    browse(page, tmp_path, screenshot=shot)
    assert shot.is_file() and shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_console_error_detection_can_fail(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>throw new Error('boom')</script></body></html>")
    _, console = browse(bad, tmp_path)
    assert any("boom" in line for line in console)
