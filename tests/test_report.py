"""The HTML report: content, escaping, and a real headless browser (Debian's chromium)."""
import html
import json
import shutil
import subprocess

import pytest

from codec_conformance.report import write_html
from codec_conformance.results.contract import make_record

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
    recs[-1]["passed"] = False  # a failing property test: its shrunk counterexample is shown
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
                   "thresholds/x.toml", "data:image/svg+xml;base64,"):
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


# ---------------------------------------------------------------- a crafted results.json
# Three ways to run script if a value reached the page unescaped (text, attribute, event handler);
# each value carries its own field path, so a test can say which field leaked.
PAYLOAD = ("\"'><script>console.error('INJECTED {f}')</script><img src=x onerror=\"console.error('INJECTED {f}')\">"
           "<svg onload=console.error('INJECTED-{f}')>")


def _poison(v, path="", keep=lambda path, v: False):
    """Every leaf value (and the keys of free-form maps) replaced by the payload naming its path,
    except where ``keep(path, value)``."""
    if isinstance(v, dict):
        out = {k: _poison(x, f"{path}.{k}".lstrip("."), keep) for k, x in v.items()}
        if keep(path + "{key}", None):
            return out
        if path.endswith(("condition", "undefined_reasons", "versions", "counterexample")):
            out[PAYLOAD.format(f=path + "{key}")] = PAYLOAD.format(f=path + "{key-value}")
        if path.endswith("evaluators"):
            out[PAYLOAD.format(f=path + "{key}")] = {"name": PAYLOAD.format(f=path + ".name"), "stand_in": True,
                                                      "note": PAYLOAD.format(f=path + ".note")}
        return out
    if isinstance(v, list):
        return [_poison(x, f"{path}[{i}]", keep) for i, x in enumerate(v)]
    return v if keep(path, v) else PAYLOAD.format(f=path)


# the non-string fields the issue found unescaped
ISSUE_FIELDS = {f"records[{i}].{k}" for i in range(21) for k in ("n_items", "n_undefined")} | {"codecs[0].sample_rate"}


def crafted(tmp_path, only=None) -> tuple[dict, object]:
    """A results document with the payload in every field; ``only="strings"``: in every string
    field (a file the contract accepts); ``only=ISSUE_FIELDS``: in those fields alone."""
    run = doc(tmp_path)
    d = json.loads((run / "results.json").read_text())
    r = d["records"][0]  # every optional field the report shows
    r.update(n_undefined=2, undefined_reasons={"i1": "silent"}, stand_in=True, failure="why", median=1.0,
             baseline={"value": 1.0, "tolerance": 0.1, "passed": False, "source": "b.json"},
             audio={"item": "i1", "clean": "audio/a.flac", "noisy": "audio/b.flac", "coded": "audio/c.flac"})
    d["codecs"][0].update(precision="fp32", device="cpu")
    d["run"].update(finished="2026", seed=3)
    if only == "strings":
        keep = lambda path, v: not isinstance(v, str)  # noqa: E731
    elif only is not None:
        keep = lambda path, v: path not in only  # noqa: E731
    else:
        keep = lambda path, v: False  # noqa: E731
    d = _poison(d, keep=keep)
    d["schema"] = "codec-conformance/results/1"  # the rest of the file is crafted
    return d, run


def assert_escaped(html_text: str) -> None:
    from codec_conformance.report.html import JS
    low = html_text.lower().replace(f"<script>{JS}</script>".lower(), "", 1)  # the report's own sort/filter script
    assert "<script" not in low and "<img src=x" not in low and "<svg" not in low and "onerror=\"" not in low


def test_every_value_of_a_crafted_file_is_escaped(tmp_path):
    from codec_conformance.report import render
    d, run = crafted(tmp_path)
    page = render(d, run)  # unchecked: every field, numbers and flags included, carries the payload
    assert_escaped(page)
    for field in ("records[0].n_items", "records[0].n_undefined", "codecs[0].sample_rate",
                  "codecs[0].bitrates_kbps[0]", "records[0].bitrate_kbps", "records[0].value", "records[0].oracle",
                  "records[0].delta", "run.seed", "run.id", "records[0].condition{key}"):
        assert html.escape(PAYLOAD.format(f=field), quote=True) in page, field  # reached the page, escaped
    import shlex  # the command is shown as a shell would read it: quoted
    assert html.escape(shlex.quote(PAYLOAD.format(f="run.argv[0]")), quote=True) in page


def test_crafted_numbers_are_refused_and_crafted_strings_escaped(tmp_path):
    from codec_conformance.errors import ResultsFormatError
    d, run = crafted(tmp_path)
    (run / "results.json").write_text(json.dumps(d))
    with pytest.raises(ResultsFormatError, match="must be"):
        write_html(run)
    assert not (run / "index.html").exists()
    (tmp_path / "s").mkdir()
    d, run = crafted(tmp_path / "s", only="strings")  # what the contract accepts: strings anywhere
    (run / "results.json").write_text(json.dumps(d))
    assert_escaped(write_html(run).read_text())


@pytest.mark.parametrize("only", ["issue-fields", "every-field"])
def test_crafted_file_runs_no_script_in_headless_browser(tmp_path, only):
    from codec_conformance.report import render
    _chromium()
    d, run = crafted(tmp_path, only=ISSUE_FIELDS if only == "issue-fields" else None)
    page = run / "crafted.html"
    page.write_text(render(d, run))
    p, console = browse(page, tmp_path)
    assert p.returncode == 0 and "codec-conformance report" in p.stdout
    assert not [line for line in console if "INJECTED" in line], console
    # negative control: the same payload unescaped does run in this browser, and is seen
    raw = tmp_path / "raw.html"
    raw.write_text("<html><body>" + PAYLOAD.format(f="raw") + "</body></html>")
    _, console = browse(raw, tmp_path)
    assert sum("INJECTED" in line for line in console) >= 2, console
