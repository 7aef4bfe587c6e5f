import json

import pytest

from codec_conformance.cli import main
from codec_conformance.errors import ConformanceError
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


def _run_doc(run_id, records, **settings):
    return {"schema": "codec-conformance/results/1", "codecs": [{"name": "c"}], "records": records, "curves": [],
            "run": {"id": run_id, "finished": "x", "settings": {"codecs": ["c"], "seed": 0, "profile": "smoke",
                                                                "shard_id": 0, "num_shards": 2, **settings}}}


def test_merge_refuses_runs_with_other_settings_unless_asked(tmp_path, capsys):
    """Issue 29 (6) / 26 (5): merge joined runs of other seeds or profiles under one verdict (the
    later file won) and took a file holding one record 100,000 times as 100,000 checks. Now the
    shards of one run merge; other settings, another value of one record, or a duplicate key is
    one error naming the files, and --allow-different-runs joins different runs on purpose (and
    says so in the merged file)."""
    a = _run_doc("a", [rec(metric="pesq")], shard_id=0)
    b = _run_doc("b", [rec(metric="stoi")], shard_id=1, report_dir="elsewhere")
    m = merge_results([a, b], ["a.json", "b.json"])  # shards of one run: fine
    assert sorted(r["metric"] for r in m["records"]) == ["pesq", "stoi"]
    assert [s["file"] for s in m["run"]["merged_sources"]] == ["a.json", "b.json"]
    seed1 = _run_doc("s1", [rec(metric="stoi")], seed=1)
    with pytest.raises(ConformanceError, match=r"a.json and s1.json are runs with other settings \(seed: 0 vs 1\)"):
        merge_results([a, seed1], ["a.json", "s1.json"])
    other = _run_doc("o", [rec(metric="pesq", value=2.0)], shard_id=1)
    with pytest.raises(ConformanceError, match="both hold .* pesq with other values"):
        merge_results([a, other], ["a.json", "o.json"])
    joined = merge_results([a, seed1], ["a.json", "s1.json"], allow_different=True)
    assert joined["run"]["merged_different_runs"] is True and len(joined["records"]) == 2
    dup = _run_doc("d", [rec(metric="pesq")] * 3)
    with pytest.raises(ConformanceError, match=r"d.json: records\[0\] and records\[1\] are the same record"):
        merge_results([dup], ["d.json"])
    for name, d in (("a.json", a), ("s1.json", seed1)):
        (tmp_path / name).write_text(json.dumps(d))
    out = tmp_path / "m.json"
    assert main(["merge", str(tmp_path / "a.json"), str(tmp_path / "s1.json"), "-o", str(out)]) != 0
    assert not out.exists() and "--allow-different-runs" in capsys.readouterr().err
    assert main(["merge", str(tmp_path / "a.json"), str(tmp_path / "s1.json"), "-o", str(out),
                 "--allow-different-runs"]) == 0
    assert load_results(out)["run"]["merged_different_runs"] is True
