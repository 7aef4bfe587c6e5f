import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from codec_conformance.report import render, write_html
from codec_conformance.report.html import CI_WHAT
from codec_conformance.results.contract import make_record

# ----------------------------------------------------------------------
# The HTML report: content, escaping, and a real headless browser (Debian's chromium).

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


@pytest.mark.parametrize("only", ["issue-fields", "every-field"])
def test_crafted_file_runs_no_script_in_headless_browser(tmp_path, only):
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


# ----------------------------------------------------------------------
# The report as a paper author and a CI maintainer read it: figures (vector files, honest scales,
# no empty panels), the failing-checks table, a codec that cannot load, the Listen section,
# provenance; and in headless Chromium, what a person sees on a failing run, a passing run, a -k
# slice and a run whose codec could not be loaded.

pytestmark = pytest.mark.filterwarnings("ignore")


UNITS = {"pesq": "MOS-LQO", "stoi": "0-1", "wer": "fraction", "eer": "fraction", "mel_distance": "log10-mel L1"}


def noise(metric, kind, x, value, oracle, *, codec="mycodec", br=6.0, hib=None, unit=None, limit=None,
          passed=None, audio=None, **extra):
    hib = metric in ("pesq", "stoi", "prosody_corr") if hib is None else hib
    cond = {"kind": kind, "snr_db": x if kind in ("white", "ambient") else None,
            "rt60_s": x if kind == "reverb" else None}
    r = make_record(codec=codec, bitrate_kbps=br, suite="noise", condition=cond, metric=metric,
                    higher_is_better=hib, value=value, oracle=oracle, n_items=6,
                    threshold=None if limit is None else {"kind": "max_delta", "limit": limit,
                                                          "source": f"thresholds/{codec}.toml [6.noise.{kind}.{metric}]"},
                    test_id=f"suites/test_noise_robustness.py::test_noise_robustness[{codec}-{br:g}kbps-{kind}-{x}-{metric}]",
                    unit=unit or UNITS.get(metric, ""), audio=audio, **extra)
    r["passed"] = passed
    return r


def results(records, *, curves=(), codecs=None, errors=(), argv=("suites/", "--codec=mycodec"), **run):
    codecs = codecs if codecs is not None else [{"name": "mycodec", "sample_rate": 16000, "bitrates_kbps": [6.0],
                                                 "weights": "none", "device": "cpu"}]
    return {"schema": "codec-conformance/results/1",
            "run": {"id": "r1", "started": "2026-11-29T10:00:00+00:00", "finished": "2026-11-29T10:05:00+00:00",
                    "argv": list(argv), "seed": 0, "profile": "smoke", "device": "cpu",
                    "versions": {"python": "3.11.7", "numpy": "2.0"}, "errors": list(errors), "evaluators": {},
                    "corpora": {}, **run},
            "codecs": codecs, "records": list(records), "curves": list(curves)}


def write(tmp_path, doc, name="run"):
    run = tmp_path / name
    run.mkdir(parents=True, exist_ok=True)
    (run / "results.json").write_text(json.dumps(doc))
    return run


def grid_records(passed=True, shift=0.0):
    """pesq / wer / mel under white and ambient at 0 and 10 dB, reverb at one RT60, and clean."""
    recs = []
    for kind, xs in (("white", (0.0, 10.0)), ("ambient", (0.0, 10.0)), ("reverb", (0.6,)), ("clean", (None,))):
        for x in xs:
            lvl = 0 if x is None else (10 - x) / 10 if kind != "reverb" else 0.5
            recs.append(noise("pesq", kind, x, 3.0 - lvl - shift, 3.1 - lvl, limit=-0.5, passed=passed))
            recs.append(noise("wer", kind, x, 0.1 + 0.3 * lvl + shift, 0.08 + 0.3 * lvl, limit=0.2, passed=passed))
            recs.append(noise("mel_distance", kind, x, 0.8 + lvl, 0.7 + lvl, limit=0.3, passed=passed))
    return recs


# ------------------------------------------------------------------ intervals (issue 14)
def with_ci(recs, skip=lambda r: False, w=0.05):
    """Records with value / oracle / delta intervals (not those ``skip`` picks: null, as a worst case's)."""
    out = []
    for r in recs:
        r = dict(r)
        if not skip(r) and r.get("suite") == "noise":
            v, o = r["value"], r["oracle"]
            r.update(value_ci95=[v - w, v + 2 * w], oracle_ci95=[o - w, o + w], delta_ci95=[v - o - w, v - o + w])
        out.append(r)
    return out


def linearity_and_tokens():
    """Records and curves of the other figures, whose intervals are null (worst cases, single measurements)."""
    add = make_record(codec="mycodec", bitrate_kbps=6.0, suite="additivity",
                      condition={"kind": "mixture", "mixture": "speech_speech"}, metric="ser_db",
                      higher_is_better=True, value=20.0, median=30.0, n_items=6, test_id="t", unit="dB")
    tok = make_record(codec="mycodec", bitrate_kbps=6.0, suite="tokens", condition={"kind": "white", "snr_db": 10.0},
                      metric="token_agreement", higher_is_better=True, value=0.8, n_items=6, test_id="t",
                      unit="fraction", agreement_per_level=[0.9, 0.7, 0.6])
    curves = [{"codec": "mycodec", "bitrate_kbps": 6.0, "kind": "frequency_response", "level_dbfs": 0.0,
               "x": [20.0, 100.0, 1000.0, 8000.0], "y": [-3.0, 0.0, 0.0, -10.0]},
              {"codec": "mycodec", "bitrate_kbps": 6.0, "kind": "homogeneity_gain", "level_dbfs": None,
               "x": [-40.0, 0.0, 12.0], "y": [-39.0, 0.0, 10.0]}]
    return [add, tok], curves


# ------------------------------------------------------------------ in a browser
def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless Chromium here (apt-get install chromium) to test the report in a browser")


def browse_report_reading(page: Path, tmp_path: Path, screenshot: Path | None = None, height: int = 2000) -> tuple[str, list[str]]:
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
            f"--window-size=1400,{height}", "--virtual-time-budget=3000"]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    p = subprocess.run(args + [page.as_uri()], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    console = [line for line in p.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return p.stdout, console


def visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


CASES = {
    "failing": lambda: results(grid_records(passed=False, shift=0.5)),
    "passing": lambda: results(grid_records(passed=True)),
    "k-slice": lambda: results([r for r in grid_records() if r["metric"] == "pesq" and r["condition"]["kind"] == "white"]),
    "cannot-load": lambda: results([], errors=[
        {"test_id": f"suites/test_noise_robustness.py::test_noise_robustness[mycodec-6kbps-{k}]", "when": "call",
         "message": "mycodec: pretrained weights not found at /x/w.th", "kind": "codec_load", "codec": "mycodec"}
        for k in range(1)]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_what_a_person_sees(tmp_path, case):
    run = write(tmp_path, CASES[case]())
    page = write_html(run)
    dom, console = browse_report_reading(page, tmp_path)
    assert console == [], console
    text = visible_text(dom)
    if case == "cannot-load":
        assert "ERROR: codec could not be loaded" in text
        assert text.count("pretrained weights not found") == 1  # once, at the top
        assert "0 of 0" not in text and "Figure" not in text
        return
    # every figure shown has data: panels without data are not drawn, so each <img> is a figure with content
    imgs = re.findall(r"<img class=\"fig\"[^>]*>", dom)
    assert imgs, "no figure"
    assert "WER" not in text or "%" in text
    if case == "failing":
        assert "FAIL" in text and "worse by" in text
        assert "MOS-LQO" in text  # units in the failing table
        m = re.search(r"<table id=\"failing\".*?</table>", dom, flags=re.S)
        assert m and "<td class=\"ce\"></td>" not in m.group(0)
    if case == "passing":
        assert "PASS" in text and "Headroom" in text
    if case == "k-slice":
        svg = (run / "figures" / "fig1-noise.svg").read_text()
        assert svg.count('id="axes_') == 1  # one panel: the one with data


def test_sort_and_filter_work_in_the_browser(tmp_path):
    """Click a header, type in a filter: the inline script does its job (no console errors); the
    failing-checks table fits the window."""
    run = write(tmp_path, results(grid_records(passed=False, shift=0.5)))
    page = write_html(run)
    html = page.read_text()
    probe = ("<script>window.addEventListener('load',function(){var t=document.getElementById('records');"
             "t.rows[0].cells[6].click();var first=t.rows[1].cells[6].dataset.v;t.rows[0].cells[6].click();"
             "var again=t.rows[1].cells[6].dataset.v;var f=document.querySelector('input.filter[data-table=records]');"
             "f.value='ambient';f.dispatchEvent(new Event('input'));var shown=Array.prototype.slice.call(t.rows,1)"
             ".filter(function(r){return r.style.display!=='none'}).length;"
             "var fw=document.getElementById('failing').getBoundingClientRect().right;"
             "document.body.setAttribute('data-probe',first+'|'+again+'|'+shown+'|'+fw);});</script></body>")
    probed = page.with_name("probe.html")
    probed.write_text(html.replace("</body>", probe))
    dom, console = browse_report_reading(probed, tmp_path)
    assert console == [], console
    first, again, shown, right = re.search(r'data-probe="([^"]*)"', dom).group(1).split("|")
    assert float(right) <= 1400  # the failing-checks table fits a 1,400-px window (the test id wraps)
    assert float(first) <= float(again)  # ascending, then descending
    assert int(shown) == sum(1 for r in grid_records() if r["condition"]["kind"] == "ambient")


def test_intervals_in_the_browser_and_sorting_by_the_value(tmp_path):
    """What a person sees with intervals: brackets in the tables, whisker captions; clicking the
    value column sorts by the number (not by the text with its brackets)."""
    other, curves = linearity_and_tokens()
    recs = with_ci(grid_records(passed=False, shift=0.5), skip=lambda r: r["metric"] == "wer")
    run = write(tmp_path, results(recs + other, curves=curves))
    page = write_html(run)
    probe = ("<script>window.addEventListener('load',function(){var t=document.getElementById('records');"
             "t.rows[0].cells[6].click();var out=Array.prototype.slice.call(t.rows,1).map(function(r){"
             "return r.cells[6].dataset.v+'='+r.cells[6].textContent;});"
             "var fw=document.getElementById('failing').getBoundingClientRect().right;"
             "document.body.setAttribute('data-probe',fw+'#'+out.join('|'));});</script></body>")
    probed = page.with_name("probe.html")
    probed.write_text(page.read_text().replace("</body>", probe))
    dom, console = browse_report_reading(probed, tmp_path)
    assert console == [], console
    text = visible_text(dom)
    assert CI_WHAT in text and text.count("No interval:") == 3  # linearity, frequency response, tokens
    right, probed_cells = re.search(r'data-probe="([^"]*)"', dom).group(1).split("#", 1)
    assert float(right) <= 1400  # with its intervals, the failing-checks table still fits a 1,400-px window
    cells = [c.split("=", 1) for c in probed_cells.split("|")]
    shown = [(float(v), t) for v, t in cells if v != "undefined"]
    assert [v for v, _ in shown] == sorted(v for v, _ in shown)  # ascending by the number
    assert any("[" in t for _, t in shown) and any("[" not in t for _, t in shown)  # with and without
    for v, t in shown:  # the text begins with the number it sorts by
        assert float(t.split()[0]) == pytest.approx(v, rel=1e-2), (v, t)
