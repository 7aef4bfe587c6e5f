"""The report reads what a metric is (label, unit, span, whether it is a column of Fig. 1) from
results.json's ``metrics`` block, which the run writes from each metric's ``MetricInfo``; for a
file written before a key existed, from the catalogue. It keeps no table of metric names: a new
metric reaches Fig. 1 and the compare page through its declaration alone."""
import ast
from pathlib import Path

import pytest

import codec_conformance.report as report_pkg
from codec_conformance.catalogue import MetricInfo, quantities
from codec_conformance.gate.baseline import compare
from codec_conformance.report import render
from codec_conformance.report.compare import render_compare
from codec_conformance.report.declared import figure_columns
from codec_conformance.report.figures import fig1
from codec_conformance.results.contract import make_record

pytestmark = pytest.mark.filterwarnings("ignore")

TOY = MetricInfo("toy_score", "Toy score", "points", "higher", min_meaningful_difference=0.5, plot_span=4.0,
                 in_figure=True, figure_order=0)


def rec(metric, kind, snr, value, oracle, unit, hib, codec="c"):
    r = make_record(codec=codec, bitrate_kbps=6.0, suite="noise",
                    condition={"kind": kind, "snr_db": snr, "rt60_s": None}, metric=metric,
                    higher_is_better=hib, value=value, oracle=oracle, n_items=4, unit=unit,
                    test_id=f"test_noise_robustness.py::t[{codec}-{kind}-{snr}-{metric}]")
    r["passed"] = None
    return r


def results(records, metrics=None):
    d = {"schema": "codec-conformance/results/1",
         "run": {"id": "r", "started": "2026", "finished": "2026", "argv": [], "seed": 0, "profile": "smoke",
                 "device": "cpu", "versions": {}, "errors": [], "evaluators": {}, "corpora": {}},
         "codecs": [{"name": "c", "sample_rate": 16000, "bitrates_kbps": [6.0]}], "records": list(records),
         "curves": []}
    if metrics is not None:
        d["metrics"] = metrics
    return d


def grid(metric, unit, hib, values=(1.0, 2.0)):
    return [rec(metric, kind, snr, v, v + 0.1, unit, hib) for kind in ("white", "ambient") for snr, v in
            zip((0.0, 10.0), values)]


def titles(fig) -> list[str]:
    return [" ".join(ax.get_title().split()) for ax in fig.axes if ax.get_title()]


# ------------------------------------------------------------------ a document declares a new metric
def test_a_new_metric_declared_in_the_metrics_block_is_a_fig1_column_and_labelled_on_the_compare_page():
    assert "toy_score" not in quantities()  # the catalogue here does not know it: only the file does
    doc = results(grid("mel_distance", "log10-mel L1", False) + grid("toy_score", "points", True, (10.0, 11.0)),
                  metrics={"mel_distance": quantities()["mel_distance"].to_json(), "toy_score": TOY.to_json()})
    assert figure_columns({"mel_distance", "toy_score"}, doc) == ["toy_score", "mel_distance"]  # figure_order 0
    assert titles(fig1(doc)) == ["Toy score (points) ↑", "Mel distance (log10-mel L1) ↓"]
    lo, hi = fig1(doc).axes[0].get_ylim()
    assert hi - lo >= 4.0  # its declared plot_span, not 5 % of its values
    page = render_compare(doc, doc, compare(doc["records"], doc["records"]), "a", "b")
    assert "<td>Toy score</td>" in page and "<td>toy_score</td>" not in page


def test_the_metrics_block_relabels_and_reorders_a_builtin_metric(tmp_path):
    """No table in the report: a file that calls pesq something else, and keeps it out of Fig. 1, is
    shown as it says."""
    pesq = dict(quantities()["pesq"].to_json(), label="Wideband PESQ (renamed)", in_figure=False)
    mel = dict(quantities()["mel_distance"].to_json(), plot_span=50.0)
    doc = results(grid("pesq", "MOS-LQO", True) + grid("mel_distance", "log10-mel L1", False),
                  metrics={"pesq": pesq, "mel_distance": mel})
    assert titles(fig1(doc)) == ["Mel distance (log10-mel L1) ↓"]
    lo, hi = fig1(doc).axes[0].get_ylim()
    assert hi - lo >= 50.0
    page = render(doc, tmp_path)
    assert "Wideband PESQ (renamed) Δ" in page  # the summary table's column
    cmp_page = render_compare(doc, doc, compare(doc["records"], doc["records"]), "a", "b")
    assert "<td>Wideband PESQ (renamed)</td>" in cmp_page and "<td>PESQ</td>" not in cmp_page


def test_a_file_without_the_new_keys_falls_back_to_the_catalogue():
    """A results.json written before ``in_figure`` / ``figure_order`` / ``plot_span`` (or before the
    metrics block): Fig. 1 as before, from the catalogue's declarations; emotion accuracy takes the
    column of its prosody proxy when both were measured."""
    present = {"stoi", "si_sdr", "prosody_corr", "eer", "wer", "pesq", "mel_distance", "pesq_nb"}
    assert figure_columns(present, results([])) == ["mel_distance", "pesq", "wer", "eer", "prosody_corr"]
    old_block = {m: {k: v for k, v in quantities()[m].to_json().items()
                     if k not in ("plot_span", "in_figure", "figure_order")} for m in present}
    assert figure_columns(present, results([], old_block)) == ["mel_distance", "pesq", "wer", "eer", "prosody_corr"]
    assert figure_columns(present | {"emotion_acc"}, results([])) == ["mel_distance", "pesq", "wer", "eer",
                                                                       "emotion_acc"]
    assert figure_columns({"si_sdr", "stoi"}, results([])) == ["stoi"]  # none declared: the gated ones


def test_the_report_package_holds_no_table_of_metric_names():
    names = set(quantities())
    for path in sorted(Path(report_pkg.__file__).parent.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Dict, ast.Tuple, ast.List, ast.Set)):
                consts = {c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)}
                assert not consts & names, f"{path.name}: {ast.unparse(node.targets[0])} names metrics"
