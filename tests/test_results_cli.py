import json

import pytest

from codec_conformance.cli import main
from codec_conformance.results.contract import load_results, make_record
from codec_conformance.results.run_folder import RunRecorder, recover_from_journal
from codec_conformance.results.merge import merge_results


def rec(metric="pesq", value=3.0, oracle=3.5, hib=True, br=6.0, codec="c"):
    return make_record(codec=codec, bitrate_kbps=br, suite="noise", condition={"kind": "white", "snr_db": 10,
                       "gain_db": None, "rt60_s": None, "level_dbfs": None}, metric=metric,
                       higher_is_better=hib, value=value, oracle=oracle, n_items=4, test_id="t")


def test_record_shape_follows_contract():
    r = rec()
    for k in ("codec", "bitrate_kbps", "suite", "condition", "metric", "higher_is_better", "value", "oracle",
              "delta", "threshold", "passed", "n_items", "test_id"):
        assert k in r
    assert r["delta"] == pytest.approx(-0.5) and r["threshold"] is None and r["passed"] is None
    assert make_record(codec="c", bitrate_kbps=1, suite="noise", condition={}, metric="m",
                       higher_is_better=True, value=float("nan"))["value"] is None


def test_recorder_journal_survives_interruption(tmp_path):
    r = RunRecorder(tmp_path / "run", {"id": "run", "seed": 0})
    r.add({"records": [rec()], "codecs": [{"name": "c"}]})
    r.add({"records": [rec(metric="stoi")]})
    doc = load_results(tmp_path / "run")  # written after every test: valid without finish()
    assert doc["run"]["finished"] is None and len(doc["records"]) == 2
    with open(tmp_path / "run" / "journal.jsonl", "a") as f:
        f.write('{"records": [tor')  # a torn last line from a killed writer
    again = recover_from_journal(tmp_path / "run")
    assert len(again["records"]) == 2


def test_merge_dedupes_and_keeps_all(tmp_path):
    a = {"schema": "codec-conformance/results/1", "run": {"id": "a", "finished": "x"}, "codecs": [{"name": "c"}],
         "records": [rec(metric="pesq"), rec(metric="stoi")], "curves": []}
    b = {"schema": "codec-conformance/results/1", "run": {"id": "b", "finished": "y"}, "codecs": [{"name": "c"}],
         "records": [rec(metric="wer", hib=False)], "curves": []}
    for name, d in (("a.json", a), ("b.json", b)):
        (tmp_path / name).write_text(json.dumps(d))
    assert main(["merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o", str(tmp_path / "m.json")]) == 0
    m = load_results(tmp_path / "m.json")
    assert sorted(r["metric"] for r in m["records"]) == ["pesq", "stoi", "wer"]
    assert merge_results([a, a])["records"] == a["records"]


def test_compare_exit_code_is_the_gate(tmp_path, capsys):
    base = {"schema": "codec-conformance/results/1", "run": {"id": "a"}, "codecs": [],
            "records": [rec(value=3.0), rec(metric="wer", value=0.20, hib=False)], "curves": []}
    ok = dict(base, records=[rec(value=2.99), rec(metric="wer", value=0.19, hib=False)])
    bad = dict(base, records=[rec(value=2.5), rec(metric="wer", value=0.19, hib=False)])
    for name, d in (("base.json", base), ("ok.json", ok), ("bad.json", bad)):
        (tmp_path / name).write_text(json.dumps(d))
    assert main(["compare", str(tmp_path / "base.json"), str(tmp_path / "ok.json")]) == 0
    assert main(["compare", str(tmp_path / "base.json"), str(tmp_path / "bad.json")]) == 1
    assert "REGRESSED" in capsys.readouterr().out


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "none.json"), str(tmp_path / "none.json")]) == 2
    assert "results file not found" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{")
    assert main(["merge", str(tmp_path / "bad.json"), "-o", str(tmp_path / "o.json")]) == 2
