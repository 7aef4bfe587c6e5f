import pytest

from codec_conformance.report import render
from codec_conformance.report.html import CI_WHAT
from tests.report_helpers import noise, results

# ----------------------------------------------------------------------
# The report as a paper author and a CI maintainer read it: figures (vector files, honest scales,
# no empty panels), the failing-checks table, a codec that cannot load, the Listen section,
# provenance; and in headless Chromium, what a person sees on a failing run, a passing run, a -k
# slice and a run whose codec could not be loaded.

pytestmark = pytest.mark.filterwarnings("ignore")


def test_tables_show_every_interval_in_one_form(tmp_path):
    """Old code: only the all-measurements table had the delta's interval, in a column of its own."""
    pesq = noise("pesq", "white", 0.0, 2.0, 2.2, limit=-0.1, passed=False, value_ci95=[1.9, 2.1],
                  oracle_ci95=[2.1, 2.3], delta_ci95=[-0.3, -0.1])      # 0.1 past its limit, [0, 0.2]
    wer = noise("wer", "white", 0.0, 0.3, 0.2, limit=0.2, passed=True, value_ci95=[0.25, 0.36],
                oracle_ci95=[0.15, 0.26], delta_ci95=[0.04, 0.17])      # headroom 0.1 = 10 %, [3, 16] %
    worst = noise("mel_distance", "white", 0.0, 1.0, 0.8, limit=0.5, passed=True)  # no interval
    page = render(results([pesq, wer, worst]), tmp_path)

    def section(title):
        i = page.index(title)
        return page[i:page.index("</table>", i)]

    ci = "<span class='ci'>[{}, {}]</span>"
    failing = section("Failing checks")
    for txt in ("2 " + ci.format("1.9", "2.1"), "2.2 " + ci.format("2.1", "2.3"), "-0.2 " + ci.format("-0.3", "-0.1"),
                "0.1 " + ci.format("0", "0.2")):
        assert txt in failing, txt
    assert "data-v='2.0'" in failing  # sorts by the value, not the text with its brackets
    summary = section("Summary: worst")
    assert "+10 % " + ci.format("+4", "+17") in summary and "+0.2<" in summary  # mel: no interval, no brackets
    headroom = section("Headroom of the passing checks")
    assert "30 % " + ci.format("25", "36") in headroom and "10 % " + ci.format("3", "16") in headroom
    records = section("All measurements")
    assert "delta 95 % CI" not in records  # the interval is in the delta cell now
    for txt in ("30 % " + ci.format("25", "36"), "20 % " + ci.format("15", "26"), "+10 % " + ci.format("+4", "+17")):
        assert txt in records, txt
    row = [tr for tr in records.split("<tr>") if "mel_distance" in tr][0]
    assert "class='ci'" not in row and ">1<" in row  # a record without an interval: the value alone
    assert CI_WHAT in records  # the note says what the brackets are


# ------------------------------------------------------------------ tables and verdict
def test_failing_table_worse_by_source_and_no_empty_counterexample_cells(tmp_path):
    bad = noise("pesq", "white", 0.0, 1.0, 2.0, limit=-0.5, passed=False)   # delta -1.0, limit -0.5: 0.5 past
    wer = noise("wer", "white", 0.0, 0.6, 0.2, limit=0.2, passed=False)     # delta 0.4 vs 0.2: 20 % points past
    dup = dict(wer, test_id=wer["test_id"] + "@again")
    page = render(results([bad, wer, dup]), tmp_path)
    head = page[page.index("Failing checks"):page.index("</table>", page.index("Failing checks"))]
    assert "worse by" in head and "threshold source" in head
    assert ">0.5<" in head and ">20 %<" in head
    assert "thresholds/mycodec.toml" in head and "[6.noise.white.pesq]" in head
    assert "counterexample" not in head  # no property test failed: no column of empty boxes
    assert "<b>×2</b>" in head  # identical failures grouped
    assert head.index("wer") < head.index("pesq")  # furthest past its limit first (20 points vs 0.5)
