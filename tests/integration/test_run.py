"""The pytest plugin end to end, in subprocess pytest runs of the packaged suites."""
import json
import re
import textwrap
from datetime import datetime

import pytest

from codec_conformance.results.contract import verdict
from codec_conformance.suites.test_additivity import MIXTURES
from tests.helpers import GAIN_CODECS as CODECS
from tests.helpers import ROOT, default_metrics, grid, implementation_tests, latest_results, sweep_levels, token_tests

FAST = "not wer and not eer and not dnsmos and not prosody and not stoi and not si_sdr"


def test_options_are_one_group(pytester):
    out = pytester.runpytest_subprocess("--help").stdout.str()
    assert "codec-conformance: speech codec conformance suites" in out
    for opt in ("--codec=NAME|module:factory", "--codec-bitrate", "--codec-profile", "--codec-baseline",
                "--codec-weights", "--codec-resume", "--codec-num-shards"):
        assert opt in out


def test_custom_codec_all_bitrates_and_contract(run, pytester):
    r = run("--codec=mycodecs:gain", "--codec-bitrate=all", "-k", FAST, "-q")
    # per bitrate (2): noise (its grid x the default metrics FAST keeps) + additivity + homogeneity +
    # the sweep levels + the implementation suite; the token tests skip: this codec exposes no codes;
    # the golden test skips: it has no goldens
    fast = [m for m in default_metrics() if not any(w in m for w in ("wer", "eer", "dnsmos", "prosody", "stoi",
                                                                      "si_sdr"))]
    per_bitrate = len(grid("noise")) * len(fast) + len(MIXTURES) + 1 + len(sweep_levels()) + implementation_tests()
    r.assert_outcomes(passed=2 * per_bitrate, skipped=2 * token_tests() + 2)
    doc = latest_results(pytester)
    assert doc["schema"] == "codec-conformance/results/1" and doc["run"]["finished"]
    assert {c["name"] for c in doc["codecs"]} == {"mycodecs:gain"}  # the codec id: the --codec value
    assert {c.get("reported_name") for c in doc["codecs"]} == {"gain"}
    assert {r["bitrate_kbps"] for r in doc["records"]} == {8.0, 16.0}
    for rec in doc["records"]:
        for k in ("codec", "bitrate_kbps", "suite", "condition", "metric", "higher_is_better", "value", "oracle",
                  "delta", "threshold", "passed", "n_items", "test_id"):
            assert k in rec
    # a pure gain is linear: additivity and homogeneity at the SER cap
    lin = [r for r in doc["records"] if r["suite"] in ("additivity", "homogeneity") and r["metric"] == "ser_db"]
    assert lin and all(r["value"] > 60 for r in lin)
    gains = [c for c in doc["curves"] if c["kind"] == "homogeneity_gain"]
    assert gains and all(abs(x - y) < 1e-3 for x, y in zip(gains[0]["x"], gains[0]["y"]))
    assert (pytester.path / "reports" / "latest" / "index.html").is_file()
    assert "codec-conformance:" in r.stdout.str() and "index.html" in r.stdout.str()


def test_failing_codec_errors_alone(run, pytester):
    r = run("--codec=mycodecs:broken16", "--codec-bitrate=all", "-k", "frequency", "-q")
    n = len(sweep_levels())
    r.assert_outcomes(passed=n, failed=n)  # 8 kbps fine, 16 kbps raises; the run goes on
    doc = latest_results(pytester)
    from codec_conformance.probes.analysis import BAND_QUANTITIES
    assert len(doc["records"]) == n * len(BAND_QUANTITIES) and len(doc["run"]["errors"]) == n  # sweeps at 8 kbps
    assert "decoder exploded" in doc["run"]["errors"][0]["message"]


def test_html_escapes_codec_names(run, pytester):
    run("--codec=mycodecs:evil", "-k", "frequency", "-q").assert_outcomes(passed=len(sweep_levels()))
    html = (pytester.path / "reports" / "latest" / "index.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_unknown_codec_lists_registered(run):
    r = run("--codec=nosuchcodec")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown codec 'nosuchcodec'" in r.stderr.str() and "opus" in r.stderr.str()


def test_thresholds_gate_and_baseline(run, pytester):
    (pytester.path / "thresholds").mkdir()
    (pytester.path / "thresholds" / "gain.toml").write_text(
        '[default.noise.clean]\nmel_distance = { max_delta = 0.5 }\n'
        '[default.frequency_response.sweep]\nmid_band_ripple_db = { max_value = 1.0 }\n')
    k = "clean and mel or frequency"
    run("--codec=mycodecs:gain", "-k", k, "-q").assert_outcomes(passed=1 + len(sweep_levels()))
    first = latest_results(pytester)
    gated = [r for r in first["records"] if r["threshold"]]
    assert gated and all(r["passed"] for r in gated)
    base = pytester.path / "base.json"
    base.write_text(json.dumps(first))
    # a new checkpoint of the same codec id, quieter: -6 dB: mel distance gets worse, the baseline
    # gate catches it
    (pytester.path / "thresholds" / "gain.toml").unlink()
    (pytester.path / "mycodecs.py").write_text(CODECS.replace("def gain(**kw): return Gain()",
                                                              "def gain(**kw): return Gain(g=0.5)"))
    r = run("--codec=mycodecs:gain", "-k", "clean and mel", "--codec-baseline", str(base), "-q")
    r.assert_outcomes(failed=1)
    assert "REGRESSED" in r.stdout.str()
    rec = latest_results(pytester)["records"][0]
    assert rec["baseline"]["passed"] is False and rec["passed"] is False
    assert rec["value"] > rec["baseline"]["value"] + rec["baseline"]["min_meaningful_difference"]


def test_no_network_at_run_time(run, pytester, tmp_path):
    """The main command's evaluators and the embedded corpus work with outbound sockets disabled."""
    pytester.makepyfile(nonet=textwrap.dedent('''
        import socket
        def _refuse(*a, **k):
            raise OSError("network disabled by test")
        socket.socket.connect = _refuse
        socket.socket.connect_ex = _refuse
        socket.create_connection = _refuse
    '''))
    r = run("-p", "nonet", "--codec=opus", "-k", "clean", "-q", "--codec-no-cache")
    r.assert_outcomes(passed=len(default_metrics()))  # clean x every default metric; clean has no token test
    doc = latest_results(pytester)
    assert {x["metric"] for x in doc["records"]} >= {"wer", "eer", "pesq", "dnsmos", "prosody_corr"}
    assert all(x["value"] is not None for x in doc["records"])


def test_nan_and_wrong_length_codecs_fail_with_their_name(run, pytester):
    r = run("--codec=mycodecs:nan", "--codec=mycodecs:short", "-k", "frequency and 0dBFS", "-q")
    r.assert_outcomes(failed=4)  # 0 and -20 dBFS sweeps of each codec
    out = r.stdout.str()
    assert "codec 'nanny'" in out and "NaN" in out
    assert "codec 'shorty' returned shape" in out and "trim/pad" in out


def test_unknown_metric_lists_registered(run):
    r = run("--codec=mycodecs:gain", "--codec-metrics=pesq,psq")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown metric 'psq'" in r.stdout.str() + r.stderr.str()
    assert "mel_distance" in r.stdout.str() + r.stderr.str()


def test_metric_destroyed_by_codec_fails_and_is_counted(run, pytester):
    pytester.makepyfile(silent=textwrap.dedent('''
        import numpy as np
        from codec_conformance.codecs.base import BaseCodec
        class Silent(BaseCodec):
            name, sample_rate, bitrates_kbps = "silent", 16000, (1.0,)
            def roundtrip_one(self, x, br):
                return np.zeros_like(x)
        def make(**kw): return Silent()
    '''))
    r = run("--codec=silent:make", "-k", "clean and pesq", "-q")
    r.assert_outcomes(failed=1)
    rec = latest_results(pytester)["records"][0]
    assert rec["value"] is None and rec["passed"] is False and "undefined for every codec output" in rec["failure"]
    assert rec["n_undefined"] == rec["n_items"] >= 16 and "no utterance" in str(rec["undefined_reasons"])
    assert "1 of 1 gated checks failed" in (pytester.path / "reports" / "latest" / "index.html").read_text()


def test_a_plugin_codec_given_a_checkpoint_records_its_path_and_sha256(run, pytester):
    """results.json had checkpoint: null, checkpoint_sha256: null for a module:factory codec run
    with --codec-checkpoint (issue 26, item 3)."""
    import hashlib
    ckpt = pytester.path / "step_1000.pt"
    ckpt.write_bytes(b"weights of step 1000")
    run("--codec=mycodecs:gain", "--codec-checkpoint", str(ckpt), "-k", "frequency and not 6dBFS",
        "-q").assert_outcomes(passed=len(sweep_levels(lacking="6dBFS")))  # 0 and -20 dBFS
    (info,) = latest_results(pytester)["codecs"]
    assert info["checkpoint"] == str(ckpt)
    assert info["checkpoint_sha256"] == hashlib.sha256(b"weights of step 1000").hexdigest()


# ----------------------------------------------------------------------
# pytest's conventions and the CLI's output: --version, compare (regressions first, full names,
# --only-regressions, --html), list-codecs, JUnit properties, the session's start time and the
# command in provenance, the cache provider, the live progress line.


# ------------------------------------------------------------------ a plugin run
def test_plugin_run_start_command_junit_durations(pytester, tmp_path):
    """Old code: ``started`` was the first result's time, the command lacked ``pytest``, and JUnit
    XML held a ~4 KB Python repr of the records per test."""
    pytester.makeini("[pytest]\n")
    # a plugin (not a conftest: its hooks would not reach the package's test files) slows each setup
    pytester.makepyfile(slowsetup="import time\ndef pytest_runtest_setup(item):\n    time.sleep(2)\n")
    junit = tmp_path / "j.xml"
    r = pytester.runpytest_subprocess("-p", "slowsetup", "--pyargs", "codec_conformance.suites", "--codec=identity",
                                      "-k", "test_frequency_response and 0dBFS", "-p", "no:randomly",
                                      "--codec-cache-dir", str(tmp_path / "cache"), f"--junitxml={junit}")
    assert r.ret == 0, r.stdout.str()[-3000:]
    res = json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())
    run = res["run"]
    t = lambda s: datetime.fromisoformat(s)  # noqa: E731
    assert (t(run["finished"]) - t(run["started"])).total_seconds() >= 2  # the 2-s setup is inside the run
    assert run["command"].startswith("pytest ") and "--codec=identity" in run["command"]
    assert list(run["durations"].values())[0] >= 2
    xml = junit.read_text()
    assert "codec_conformance" not in xml.split("<properties>")[1] if "<properties>" in xml else True
    props = dict(re.findall(r'<property name="([^"]+)" value="([^"]*)"', xml))
    assert props["low_band_boost_db.passed"] == "true"
    assert "low_band_boost_db.value" in props and "low_band_boost_db.limit" in props
    n = xml.count("<testcase ")
    assert n == 2 and len(xml) / n < 2000, len(xml)  # a few properties per test, not the records' repr


def test_load_error_said_once_in_a_run(pytester, tmp_path):
    """A codec whose weights are missing: one failure without traceback, the rest skipped, the
    verdict ERROR (old: every test failed with a traceback, 'FAIL — 0 of 0 gated checks failed')."""
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(mycodec="""
import numpy as np
from codec_conformance.errors import CheckpointError
class C:
    name = "ghost"; sample_rate = 16000; bitrates_kbps = (6.0,)
    def roundtrip(self, audio, bitrate_kbps):
        raise CheckpointError("ghost: pretrained weights not found at /nowhere/ghost.th; pass --codec-checkpoint PATH")
def make():
    return C()
""")
    r = pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "--codec=mycodec:make",
                                      "-k", "frequency_response or mel_distance", "-p", "no:randomly",
                                      "--codec-cache-dir", str(tmp_path / "cache"))
    out = r.stdout.str()
    assert r.ret == 1
    assert out.count("Traceback") == 0
    r.assert_outcomes(failed=1, skipped=r.parseoutcomes()["skipped"])
    assert r.parseoutcomes()["skipped"] >= 5
    assert "ERROR: codec could not be loaded" in out and "0 of 0" not in out
    res = json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())
    assert [e["kind"] for e in res["run"]["errors"]] == ["codec_load"]


CORRUPT_FACTORY = """
import numpy as np
from codec_conformance.codecs.base import BaseCodec
class Ck(BaseCodec):
    name, sample_rate, bitrates_kbps = "ck", 16000, (8.0,)
    def __init__(self, checkpoint):
        import torch
        self.sd = torch.load(checkpoint, weights_only=True)   # a corrupt file: torch's own error
    def roundtrip_one(self, x, br):
        return x
def make(checkpoint=None, **kw):
    return Ck(checkpoint)
"""


def test_a_codec_that_cannot_load_is_one_error_for_plugin_and_registered_codecs(pytester, tmp_path):
    """Issue 26 item 4: a corrupt --codec-checkpoint. A registered codec (encodec) said 'ERROR:
    codec could not be loaded' and wrote a report; a module:factory codec whose factory raised
    (at collection, asked for its bitrates) gave torch's message, exit 4, no report, and
    reports/latest kept pointing at the previous run. Now both: one load error naming the codec
    and the cause, no traceback, results.json with one codec_load error, the ERROR verdict, an
    HTML report, and reports/latest pointing at this run."""
    pytest.importorskip("torch")
    pytest.importorskip("encodec")
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(corruptcodec=CORRUPT_FACTORY)
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(bytes(range(256)) * 8)
    docs = {}
    for codec in ("encodec", "corruptcodec:make"):
        r = pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider",
                                          f"--codec={codec}", f"--codec-checkpoint={bad}", "-k", "frequency_response",
                                          "-p", "no:randomly", "--codec-cache-dir", str(tmp_path / "cache"))
        out = r.stdout.str() + r.stderr.str()
        assert r.ret == pytest.ExitCode.TESTS_FAILED, out[-3000:]
        assert "Traceback" not in out and "INTERNALERROR" not in out
        assert out.count(f"codec-conformance: ERROR: codec {codec!r} could not be loaded: ") == 1, out[-3000:]
        r.assert_outcomes(failed=1, skipped=r.parseoutcomes().get("skipped", 0))
        latest = pytester.path / "reports" / "latest"
        doc = json.loads((latest / "results.json").read_text())
        assert "ERROR: codec could not be loaded" in (latest / "index.html").read_text()
        assert codec.replace(":", "_") in latest.resolve().name  # this run, not the previous one
        status, text = verdict(doc)
        assert status == "ERROR" and text.startswith(f"ERROR: codec could not be loaded — {codec}: "), text
        assert str(bad) in text
        assert f"codec-conformance verdict: {text}" in out
        docs[codec] = doc
    shapes = {c: [(sorted(e), e["kind"], e["when"]) for e in d["run"]["errors"]] for c, d in docs.items()}
    assert shapes["encodec"] == shapes["corruptcodec:make"] == [(["codec", "kind", "message", "test_id", "when"],
                                                                 "codec_load", "call")]
    assert [e["codec"] for d in docs.values() for e in d["run"]["errors"]] == ["encodec", "corruptcodec:make"]
    assert "UnpicklingError" in docs["corruptcodec:make"]["run"]["errors"][0]["message"]


def test_readme_example_codec_runs(pytester, tmp_path):
    """docs/examples/my_codec.py, as the README shows it, runs through the suites and is gated."""
    pytester.makeini("[pytest]\n")
    example = ROOT / "docs" / "examples" / "my_codec.py"
    (pytester.path / "my_codec.py").write_text(example.read_text())
    r = pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "--codec=my_codec:make_codec",
                                      "--codec-bitrate=all", "-k", "test_frequency_response or (clean and mel_distance)",
                                      "-p", "no:randomly", "--codec-cache-dir", str(tmp_path / "cache"))
    assert r.ret == 0, r.stdout.str()[-3000:]
    res = json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())
    assert {r["bitrate_kbps"] for r in res["records"]} == {192.0, 256.0}
    assert all(r["passed"] is True for r in res["records"] if r["metric"] != "si_sdr")


# ----------------------------------------------------------------------
# What the verdict guarantees (issue: verdict integrity): nothing passes because nothing was
# checked; a baseline that matches nothing is an error; undefined values are regressions; pytest's
# own selection and xdist's grouping see the suite's markers; one record key and one codec id; each
# gated quantity is judged in its own direction.

def test_one_codec_id_in_records_curves_and_codecs(outside, pytester):
    outside("--codec=toys:renamed", "-k", "frequency and 0dBFS", "-q").assert_outcomes(
        passed=len(sweep_levels(having="0dBFS")))
    doc = latest_results(pytester)
    ids = ({r["codec"] for r in doc["records"]} | {c["codec"] for c in doc["curves"]}
           | {c["name"] for c in doc["codecs"]})
    assert ids == {"toys:renamed"}
    assert doc["codecs"][0]["reported_name"] == "hidden-name"


def test_time_per_stage_is_summed_over_xdist_workers(run_suites, pytester):
    """Issue 26 (8): under -n 2 the workers do the long work, and the terminal's 'time per stage'
    line and results.json's timing.stages were missing (only the controller's own stages were
    counted). Each worker's stages now travel with its tests' telemetry and are summed."""
    r = run_suites("--codec=opus", "-k", "noise_robustness and clean and (pesq or mel_distance)", "-n", "2", "-q")
    assert r.ret == 0, r.stdout.str()[-2000:]
    assert "codec-conformance time per stage:" in r.stdout.str()
    timing = latest_results(pytester)["run"]["timing"]
    assert timing["stages"].get("scoring pesq", 0) > 0 and timing["stage_counts"]["scoring pesq"] >= 2
