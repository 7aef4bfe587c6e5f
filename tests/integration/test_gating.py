"""What the verdict guarantees (issue: verdict integrity): nothing passes because nothing was
checked; a baseline that matches nothing is an error; undefined values are regressions; pytest's
own selection and xdist's grouping see the suite's markers; one record key and one codec id; each
gated quantity is judged in its own direction."""
import json
import textwrap

import pytest

from codec_conformance.gate.thresholds import BUILTIN_DIR
from codec_conformance.results.contract import SCHEMA, make_record
from tests.helpers import latest_results, sweep_levels

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
