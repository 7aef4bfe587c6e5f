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


def test_failing_table_shows_why_a_baseline_check_failed_early_in_the_row(tmp_path):
    """Old code: the baseline's column came after the threshold source (past 1,400 px, off-screen
    beside the negative headroom) and showed base → now and the status only: no change interval,
    no rule."""
    r = noise("pesq", "white", 0.0, 1.9, 2.2, limit=-0.5, passed=False, value_ci95=[1.8, 2.0])
    r["baseline"] = {"value": 2.2, "min_meaningful_difference": 0.1, "passed": False, "status": "REGRESSED",
                     "source": "base.json", "judged": "change -0.3", "change_ci": [-0.4, -0.2],
                     "change_ci_confidence": 0.99, "p_value": 0.004}
    page = render(results([r]), tmp_path)
    i = page.index("Failing checks")
    failing = page[i:page.index("</table>", i)]
    header = failing[failing.index("<tr>"):failing.index("</tr>")]
    heads = [h.split("</th>")[0] for h in header.split("<th>")[1:]]
    b = next(k for k, h in enumerate(heads) if h.startswith("baseline"))
    assert b == heads.index("metric") + 1  # right after the metric: before the wide cells
    assert b < heads.index("value") < heads.index("threshold source (file, key)") < heads.index("test")
    row = failing[failing.index("</tr>") + 5:]
    cells = row.split("<td")[1:]
    cell = cells[b]
    assert "class='base'" in cell and "data-v='-0.3" in cell
    for txt in ("2.2 → 1.9", "<b>REGRESSED</b>", "change -0.3 [-0.4, -0.2]", "(+0.3 worse)",
                "worse by ≥ 0.1 (min. meaningful difference)", "α = 0.005", "p = 0.004"):
        assert txt in cell, txt
    assert "td.base{" in page and "max-width:230px" in page  # a compact column that wraps


def test_device_column_and_provenance_show_where_each_record_was_computed(tmp_path):
    """Old code: records carried ``device: {codec, evaluator}`` (issue 28) but the report showed
    neither a device column nor the run's devices."""
    gpu = noise("wer", "white", 0.0, 0.3, 0.2, limit=0.2, passed=True, device={"codec": "cpu", "evaluator": "cuda:0"})
    cpu = noise("pesq", "white", 0.0, 2.0, 2.2, limit=-0.5, passed=True, device={"codec": "cpu", "evaluator": "cpu"})
    old = noise("stoi", "white", 0.0, 0.8, 0.9, limit=-0.2, passed=True)  # a record without device
    page = render(results([gpu, cpu, old]), tmp_path)
    i = page.index("All measurements")
    records = page[i:page.index("</table>", i)]
    assert "<th>device (codec / evaluator)</th>" in records
    row = lambda m: [tr for tr in records.split("<tr>") if f">{m}<" in tr][0]  # noqa: E731
    assert "cpu / cuda:0" in row("wer") and "cpu / cpu" in row("pesq") and ">—<" in row("stoi")
    i = page.index("<h2>Provenance")
    prov = page[i:page.index("<h2>", i + 1)] if "<h2>" in page[i + 1:] else page[i:]
    assert "device (codec / evaluator)" in prov
    assert "<td>cpu / cpu</td><td class='num'>1</td>" in prov and "<td>cpu / cuda:0</td><td class='num'>1</td>" in prov
    # a file whose records carry no device: no empty column
    page = render(results([old]), tmp_path / "old")
    assert "device (codec / evaluator)" not in page
