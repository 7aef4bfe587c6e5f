"""The HTML report: content, escaping, and a real headless browser (Debian's chromium)."""
import html
import json

import pytest

from codec_conformance.report import render, write_html
from codec_conformance.results.contract import verdict
from tests.report_helpers import EVIL, doc, PAYLOAD, crafted, noise, results, write, grid_records


def test_report_content_and_escaping(tmp_path):
    html = write_html(doc(tmp_path)).read_text()
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for needle in ("FAIL", "interrupted", "weights: random-init", "Stand-in evaluators", "Synthetic speech corpus",
                   "ASR transcript of the clean signal", "Figure 1", "Figure 2", "Figure 3", "counterexample",
                   "thresholds/x.toml", "data:image/svg+xml;base64,"):
        assert needle in html, needle
    assert "http://" not in html and "https://" not in html  # self-contained: nothing to fetch


# ---------------------------------------------------------------- a crafted results.json
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


def test_the_metrics_table_says_stand_in_as_the_runs_evaluator_does():
    """A paper-mode run (Whisper large-v3, ECAPA) showed "stand-in YES" for wer and eer in the
    Metrics table (the declared default) and "no" for the same evaluators in the provenance
    table. The Metrics table now follows the run's evaluator where the run has one."""
    from codec_conformance.report import sections
    doc = {"metrics": {"wer": {"label": "WER", "stand_in": True}, "eer": {"label": "EER", "stand_in": True},
                       "pesq": {"label": "PESQ", "stand_in": False}},
           "run": {"evaluators": {"wer": {"name": "openai-whisper:large-v3", "stand_in": False},
                                  "eer": {"name": "resemblyzer-ge2e", "stand_in": True}}}}
    html = "".join(sections.catalogue(doc))
    rows = {row.split("</code>")[0].rsplit(">", 1)[1]: row.split("</tr>")[0] for row in html.split("<tr>") if "<code>" in row}
    assert rows["wer"].endswith("<td>no</td>") and rows["eer"].endswith("<td>YES</td>")
    assert rows["pesq"].endswith("<td>no</td>")


def test_provenance_shows_the_codecs_licence(tmp_path):
    """Issue 25: a codec's declared licence (results' codecs[].licence) is in the provenance table."""
    codec = {"name": "xcodec2", "sample_rate": 16000, "bitrates_kbps": [0.8], "checkpoint": None,
             "checkpoint_sha256": None, "weights": "random-init", "licence": "CC-BY-NC-4.0 (weights: non-commercial)"}
    recs = [dict(r, codec="xcodec2") for r in grid_records()]
    page = render(results(recs, codecs=[codec], argv=["suites/", "--codec=xcodec2"]), tmp_path)
    prov = page[page.index("<h2>Provenance"):]
    assert "<th>licence</th>" in prov and "<td>CC-BY-NC-4.0 (weights: non-commercial)</td>" in prov
