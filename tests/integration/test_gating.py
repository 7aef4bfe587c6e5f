"""What the verdict guarantees (issue: verdict integrity): nothing passes because nothing was
checked; a baseline that matches nothing is an error; undefined values are regressions; pytest's
own selection and xdist's grouping see the suite's markers; one record key and one codec id; each
gated quantity is judged in its own direction."""
import json

import pytest

from codec_conformance.gate.thresholds import BUILTIN_DIR
from tests.helpers import latest_results, sweep_levels
from tests.results_helpers import rec_verdict as rec
from tests.results_helpers import verdict_doc as _doc


# --------------------------------------------------------------- 1. nothing gated is not a pass
def test_outside_the_repository_the_packaged_thresholds_gate(outside, pytester):
    assert not (pytester.path / "thresholds").exists()
    r = outside("--codec=toys:quant8", "-k", "frequency", "-q")  # (4 bits: +2 dB passband at -20 dBFS, fails)
    r.assert_outcomes(passed=len(sweep_levels()))
    doc = latest_results(pytester)
    gated = [x for x in doc["records"] if x["threshold"]]
    from codec_conformance.probes.analysis import BAND_QUANTITIES
    n = 3 * len(BAND_QUANTITIES)  # 3 sweep levels
    assert len(gated) == n and all(x["threshold"]["source"].startswith(f"{BUILTIN_DIR / 'default.toml'} [")
                                      for x in gated)
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
