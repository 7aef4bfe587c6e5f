"""The HTML report: content, escaping, and a real headless browser (Debian's chromium)."""
import html
import json

import pytest

from codec_conformance.report import render, write_html
from codec_conformance.results.contract import make_record, verdict

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


def test_passing_report_shows_headroom_and_thresholds_files(tmp_path):
    page = render(results(grid_records(passed=True)), tmp_path)
    assert "Headroom of the passing checks" in page
    prov = page[page.index("thresholds file(s) used"):]
    assert "thresholds/mycodec.toml" in prov[:400]


def test_codec_that_cannot_load_is_an_error_said_once(tmp_path):
    """Old code: 'FAIL — 0 of 0 gated checks failed, 54 test errors' and 54 tracebacks."""
    msg = "mycodec: pretrained weights not found at /x/w.th; pass --codec-checkpoint PATH"
    errors = [{"test_id": "suites/test_additivity.py::test_additivity[mycodec-6kbps-speech_speech]", "when": "call",
               "message": msg, "kind": "codec_load", "codec": "mycodec"}]
    doc = results([], errors=errors)
    status, text = verdict(doc)
    assert status == "ERROR" and text.startswith("ERROR: codec could not be loaded")
    assert "0 of 0" not in text
    page = render(doc, tmp_path)
    assert page.count("pretrained weights not found") == 1
    assert "ERROR: codec could not be loaded" in page and "0 of 0" not in page
    assert "Figure" not in page  # no empty figures either


def test_listen_plays_the_worst_noisy_condition(tmp_path):
    """Old code took the largest delta overall, which was the clean condition."""
    run = tmp_path / "run"
    (run / "audio").mkdir(parents=True)
    for k in ("clean", "noisy", "coded"):
        (run / "audio" / f"{k}.flac").write_bytes(b"fLaC")
    clips = {"item": "u1", "clean": "audio/clean.flac", "noisy": "audio/noisy.flac", "coded": "audio/coded.flac"}
    recs = [noise("mel_distance", "clean", None, 2.0, 0.0, audio=clips),     # delta 2.0: the largest
            noise("mel_distance", "white", 0.0, 1.5, 1.0, audio=clips),      # delta 0.5
            noise("mel_distance", "ambient", 0.0, 1.9, 1.0, audio=clips)]    # delta 0.9: the worst noisy one
    page = render(results(recs), run)
    listen = page[page.index("Listen"):]
    listen = listen[:listen.index("</table>")]
    assert "kind=ambient, snr_db=0.0" in listen and "kind=clean" not in listen


def test_provenance_command_precision_versions(tmp_path):
    """Old code: the command lacked 'pytest'; 'native' precision for a classical codec; versions as JSON."""
    page = render(results(grid_records(), argv=["suites/", "--codec=mycodec"]), tmp_path)
    prov = page[page.index("<h2>Provenance"):]
    assert "<code>pytest suites/ --codec=mycodec</code>" in prov
    assert "native" not in prov and "n/a (not a neural codec)" in prov
    assert "<tr><td>numpy</td><td>2.0</td></tr>" in prov


def test_summary_table_and_scripts_are_inline(tmp_path):
    page = render(results(grid_records()), tmp_path)
    assert "Summary: worst Δ" in page
    summ = page[page.index("Summary: worst"):page.index("</table>", page.index("Summary: worst"))]
    assert "%" in summ  # WER in %
    assert page.count("<script") == 1 and "src=" not in page[page.index("<script"):page.index("</script>")]
    assert "http://" not in page and "https://" not in page


def test_render_time_of_a_full_report(tmp_path):
    import time
    recs = grid_records(passed=False) + [dict(r, codec="other") for r in grid_records()]
    run = write(tmp_path, results(recs))
    t0 = time.perf_counter()
    write_html(run)
    dt = time.perf_counter() - t0
    assert dt < 30, dt  # measured ~2-4 s here on a shared 2-core machine
