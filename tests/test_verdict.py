"""What the verdict guarantees (issue: verdict integrity): nothing passes because nothing was
checked; a baseline that matches nothing is an error; undefined values are regressions; pytest's
own selection and xdist's grouping see the suite's markers; one record key and one codec id; each
gated quantity is judged in its own direction."""
import json
import textwrap

import pytest

from conftest import latest_results

from codec_conformance.gate.baseline import BaselineMismatch, compare, judge
from codec_conformance.cli import main
from codec_conformance.results.contract import SCHEMA, make_record, record_key, verdict

TOYS = textwrap.dedent('''
    import numpy as np
    from codec_conformance.codecs.base import BaseCodec

    class Quant(BaseCodec):
        """A uniform quantiser: a toy codec with a known, bit-depth dependent error."""
        sample_rate, bitrates_kbps = 16000, (64.0,)
        def __init__(self, bits=4, name="quant"):
            self.bits, self.name = bits, name
        def roundtrip_one(self, x, br):
            q = 2.0 ** (self.bits - 1)
            return (np.round(np.clip(x, -1, 1) * q) / q).astype(np.float32)

    def quant4(**kw): return Quant(4)
    def quant8(**kw): return Quant(8)
    def renamed(**kw): return Quant(8, name="hidden-name")
''')


@pytest.fixture
def outside(pytester, run_suites):
    """A user's repository: no thresholds/ of its own, no pyproject, the suites by --pyargs."""
    pytester.makepyfile(toys=TOYS)
    return run_suites


# --------------------------------------------------------------- 1. nothing gated is not a pass
def test_outside_the_repository_the_packaged_thresholds_gate(outside, pytester):
    assert not (pytester.path / "thresholds").exists()
    r = outside("--codec=toys:quant8", "-k", "frequency", "-q")  # (4 bits: +2 dB passband at -20 dBFS, fails)
    r.assert_outcomes(passed=3)
    doc = latest_results(pytester)
    gated = [x for x in doc["records"] if x["threshold"]]
    from codec_conformance.probes.analysis import BAND_QUANTITIES
    n = 3 * len(BAND_QUANTITIES)  # 3 sweep levels
    assert len(gated) == n and all("builtin_thresholds/default.toml" in x["threshold"]["source"] for x in gated)
    assert f"PASS — all {n} gated checks passed" in r.stdout.str()


def test_a_run_that_gates_nothing_fails_unless_measure_only(outside, pytester):
    empty = pytester.path / "empty.toml"
    empty.write_text('[meta]\nsource = "no limits"\n')
    r = outside("--codec=toys:quant4", "-k", "frequency and 0dBFS", "-q", f"--codec-thresholds={empty}")
    assert r.ret == pytest.ExitCode.TESTS_FAILED  # the tests passed, the run did not
    assert "nothing was gated" in r.stdout.str()
    html = (pytester.path / "reports" / "latest" / "index.html").read_text()
    assert "banner fail" in html and "nothing was gated" in html
    r = outside("--codec=toys:quant4", "-k", "frequency and 0dBFS", "-q", f"--codec-thresholds={empty}",
                "--codec-measure-only")
    assert r.ret == pytest.ExitCode.OK
    doc = latest_results(pytester)
    assert doc["run"]["measure_only"] is True
    assert "MEASURE ONLY" in (pytester.path / "reports" / "latest" / "index.html").read_text()


def test_project_thresholds_override_the_packaged_ones(outside, pytester):
    (pytester.path / "thresholds").mkdir()
    (pytester.path / "thresholds" / "default.toml").write_text(
        '[default.frequency_response.sweep]\nmid_band_ripple_db = { max_value = 0.001 }\n')
    r = outside("--codec=toys:quant4", "-k", "frequency and 0dBFS", "-q")
    r.assert_outcomes(failed=2)  # 0 and -20 dBFS: a 4-bit quantiser has more than 0.001 dB ripple
    rec = next(x for x in latest_results(pytester)["records"] if x["metric"] == "mid_band_ripple_db")
    assert rec["threshold"]["source"].startswith(str(pytester.path / "thresholds" / "default.toml"))


# --------------------------------------------------------------- 2. a baseline that matches nothing
def _doc(records, run_id="r"):
    return {"schema": SCHEMA, "run": {"id": run_id, "finished": "x"}, "codecs": [], "records": records,
            "curves": []}


def rec(metric="pesq", value=3.0, oracle=3.5, direction="higher", br=6.0, codec="c", **cond):
    cond = {"kind": "white", "snr_db": 10, **cond}
    return make_record(codec=codec, bitrate_kbps=br, suite="noise", condition=cond, metric=metric,
                       direction=direction, value=value, oracle=oracle, n_items=4, test_id="t")


def test_baseline_of_another_codec_is_a_usage_error_before_any_work(outside, pytester):
    base = pytester.path / "base.json"
    base.write_text(json.dumps(_doc([rec(codec="opus")])))
    r = outside("--codec=toys:quant4", "-k", "frequency", "-q", f"--codec-baseline={base}")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "records of codec(s) opus" in r.stderr.str() and "toys:quant4" in r.stderr.str()


def test_baseline_with_no_matching_record_fails_the_run_and_says_what_differs(outside, pytester):
    base = pytester.path / "base.json"  # right codec, another bitrate: nothing to compare
    base.write_text(json.dumps(_doc([rec(codec="toys:quant4", br=32.0)])))
    r = outside("--codec=toys:quant4", "-k", "frequency and 0dBFS", "-q", f"--codec-baseline={base}")
    assert r.ret == pytest.ExitCode.TESTS_FAILED
    out = r.stdout.str()
    assert "no record of this run matches" in out and "bitrates_kbps" in out and "32" in out and "64" in out


def test_compare_with_nothing_in_common_is_an_error(tmp_path, capsys):
    (tmp_path / "a.json").write_text(json.dumps(_doc([rec(codec="opus")])))
    (tmp_path / "b.json").write_text(json.dumps(_doc([rec(codec="dac", br=8.0)])))
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert "codecs: BASE" in err and "opus" in err and "dac" in err and "bitrates_kbps" in err
    with pytest.raises(BaselineMismatch):
        compare([rec(codec="opus")], [rec(codec="dac")])


# --------------------------------------------------------------- 3. undefined is not "same"
def test_compare_counts_an_undefined_new_value_as_a_regression(tmp_path, capsys):
    new = rec(value=3.0)
    new["value"] = None  # undefined, as we write it
    (tmp_path / "a.json").write_text(json.dumps(_doc([rec(value=3.0), rec(metric="stoi", value=0.9)])))
    (tmp_path / "b.json").write_text(json.dumps(_doc([new, rec(metric="stoi", value=0.9)])))
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 1
    assert "UNDEFINED" in capsys.readouterr().out
    # a NaN that reached a record in memory (a results file with NaN is refused as malformed)
    nan = dict(rec(value=3.0), value=float("nan"))
    assert [r["status"] for r in compare([rec(value=3.0)], [nan]).regressions] == ["UNDEFINED"]


def test_compare_counts_a_missing_record_as_a_regression():
    cmp = compare([rec(value=3.0), rec(metric="stoi", value=0.9)], [rec(value=3.0)])
    assert [(r["metric"], r["status"]) for r in cmp.regressions] == [("stoi", "MISSING")]


# --------------------------------------------------------------- 4. markers at collection
def test_marker_selection_sees_the_suites(outside):
    sel = outside("--codec=toys:quant4", "--collect-only", "-q", "-m", "conformance").stdout.lines
    assert sum("::" in line for line in sel) > 20
    r = outside("--codec=toys:quant4", "--collect-only", "-q", "-m", "not conformance")
    assert not any("::" in line for line in r.stdout.lines)


def test_loadgroup_keeps_one_codecs_tests_together(outside):
    pytest.importorskip("xdist")
    r = outside("--codec=toys:quant8", "-k", "frequency", "-n", "2", "-p", "xdist", "--dist", "loadgroup", "-v")
    r.assert_outcomes(passed=3)
    lines = [line for line in r.stdout.lines if "PASSED" in line and "test_frequency_response" in line]
    assert len(lines) == 3 and all("@toys:quant8" in line for line in lines)
    assert len({line.split("]", 1)[0] for line in lines}) == 1  # one worker ran them all


# --------------------------------------------------------------- 10. one record key, one codec id
def test_record_key_keeps_the_rir_source_and_mixture():
    from codec_conformance.data import conditions as C
    a, b = C.reverb(rir="room/a.wav").to_record(), C.reverb(rir="room/b.wav").to_record()
    assert a["source"] == "room/a.wav" and a != b
    ka = record_key(rec(**{k: v for k, v in a.items()}))
    kb = record_key(rec(**{k: v for k, v in b.items()}))
    assert ka != kb
    old = rec()
    del old["condition"]["source"], old["condition"]["mixture"]  # a file written before these fields
    assert record_key(old) == record_key(rec())


def test_one_codec_id_in_records_curves_and_codecs(outside, pytester):
    outside("--codec=toys:renamed", "-k", "frequency and 0dBFS", "-q").assert_outcomes(passed=2)
    doc = latest_results(pytester)
    ids = ({r["codec"] for r in doc["records"]} | {c["codec"] for c in doc["curves"]}
           | {c["name"] for c in doc["codecs"]})
    assert ids == {"toys:renamed"}
    assert doc["codecs"][0]["reported_name"] == "hidden-name"


def test_threshold_lookup_and_update_use_the_records_own_key():
    from codec_conformance.catalogue import suite
    from codec_conformance.gate.calibration import derive
    mixture = {"kind": "mixture", "mixture": "speech_noise"}
    assert suite("additivity").key(mixture) == "speech_noise"
    assert suite("noise").key({"kind": "ambient", "snr_db": 0}) == "ambient"
    # the keys a thresholds file may use are the same function over the suite's own conditions
    assert suite("additivity").keys() == {"speech_speech", "speech_noise"}
    r = make_record(codec="c", bitrate_kbps=6, suite="additivity", condition=mixture, metric="ser_db",
                    direction="higher", value=10.0)
    assert derive([r], 0.2)[6.0]["additivity"]["speech_noise"]["ser_db"] == ("min_value", 7.0)


# --------------------------------------------------------------- 11. direction of each quantity
def test_band_quantities_declare_their_direction():
    from codec_conformance.probes.analysis import BAND_QUANTITIES
    assert {k: q.direction for k, q in BAND_QUANTITIES.items()} == {"low_band_boost_db": "two-sided", "mid_band_ripple_db": "lower",
                               "high_band_rolloff_db": "two-sided", "passband_gain_db": "two-sided"}


@pytest.mark.parametrize("metric,base,new", [
    ("low_band_boost_db", -0.0046, -0.8),      # a deeper bass cut (called "improved" before; 0.0786 is
                                               # below its 0.5 dB minimal meaningful difference)
    ("low_band_boost_db", 0.5, 3.0),           # a bass boost
    ("high_band_rolloff_db", 2.0, 6.0),        # more treble attenuation
    ("high_band_rolloff_db", 0.5, -5.0),       # a treble boost
    ("passband_gain_db", 0.0, -6.0),           # quieter
    ("passband_gain_db", 0.0, 6.0),            # louder
])
def test_two_sided_quantities_regress_both_ways(metric, base, new):
    mk = lambda v: make_record(codec="c", bitrate_kbps=6, suite="frequency_response",  # noqa: E731
                               condition={"kind": "sweep", "level_dbfs": 0.0}, metric=metric,
                               direction="two-sided", value=v)
    assert judge(mk(base), mk(new))["status"] == "REGRESSED"
    assert judge(mk(new), mk(base))["status"] == "improved"


def test_range_thresholds_check_both_sides(tmp_path):
    from codec_conformance.gate.thresholds import ThresholdSet
    p = tmp_path / "t.toml"
    p.write_text('[default.frequency_response.sweep]\nlow_band_boost_db = { min_value = -25.0, max_value = -17.0 }\n')
    th = ThresholdSet.load(p).lookup(6, "frequency_response", "sweep", "low_band_boost_db")
    assert th.kind == "range" and th.check(-21.0, None, False) is True
    assert th.check(-30.0, None, False) is False and th.check(-10.0, None, False) is False


def test_si_sdr_is_recorded_never_gated(tmp_path):
    from codec_conformance.metrics.signal import SiSdr
    assert SiSdr.gated is False
    base = make_record(codec="c", bitrate_kbps=6, suite="noise", condition={"kind": "clean"}, metric="si_sdr",
                       direction="higher", value=30.0, gated=False)
    worse = dict(base, value=5.0)
    assert judge(base, worse)["status"] == "not gated"
    assert compare([base], [worse]).regressions == []


def test_shipped_frequency_limits_are_two_sided():
    """Every calibrated file gives the two-sided band quantities a range (both sides checked)."""
    import tomllib
    from codec_conformance.gate.thresholds import BUILTIN_DIR
    for f in BUILTIN_DIR.glob("*.toml"):
        t = tomllib.loads(f.read_text())
        blocks = [t.get("default", {})] + list(t.get("bitrate", {}).values())
        for b in blocks:
            for metric, lim in b.get("frequency_response", {}).get("sweep", {}).items():
                if metric in ("low_band_boost_db", "high_band_rolloff_db", "passband_gain_db"):
                    assert set(lim) == {"min_value", "max_value"}, (f.name, metric, lim)


def test_verdict_sentence():
    assert verdict(_doc([rec()]))[0] == "FAIL"  # measured, nothing gated
    assert verdict({**_doc([rec()]), "run": {"measure_only": True}})[0] == "MEASURE ONLY"
    ok = dict(rec(), passed=True)
    assert verdict(_doc([ok])) == ("PASS", "PASS — all 1 gated checks passed")
