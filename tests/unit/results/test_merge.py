import json

from codec_conformance.cli import main
from codec_conformance.results.contract import load_results, make_record
from codec_conformance.results.merge import merge_results

# ----------------------------------------------------------------------


def rec(metric="pesq", value=3.0, oracle=3.5, hib=True, br=6.0, codec="c"):
    return make_record(codec=codec, bitrate_kbps=br, suite="noise", condition={"kind": "white", "snr_db": 10,
                       "gain_db": None, "rt60_s": None, "level_dbfs": None}, metric=metric,
                       higher_is_better=hib, value=value, oracle=oracle, n_items=4, test_id="t")


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
