import re
import shutil
import subprocess
from pathlib import Path

import pytest

from codec_conformance.report import render, write_html
from codec_conformance.report.html import CI_WHAT
from tests.report_helpers import doc, PAYLOAD, crafted, results, write, grid_records, with_ci, linearity_and_tokens

# ----------------------------------------------------------------------
# The HTML report: content, escaping, and a real headless browser (Debian's chromium).

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
# the non-string fields the issue found unescaped
ISSUE_FIELDS = {f"records[{i}].{k}" for i in range(21) for k in ("n_items", "n_undefined")} | {"codecs[0].sample_rate"}


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
