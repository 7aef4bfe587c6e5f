"""The pytest plugin end to end, in subprocess pytest runs of the packaged suites."""
import json
import sys
import textwrap

import pytest

from conftest import latest_results

CODECS = textwrap.dedent('''
    import numpy as np
    from codec_conformance.codecs.base import BaseCodec

    class Gain(BaseCodec):
        sample_rate, bitrates_kbps = 16000, (8.0, 16.0)
        def __init__(self, name="gain", g=0.9, fail_at=None, interrupt_after=None, **kw):
            self.name, self.g, self.fail_at, self.interrupt_after, self.calls = name, g, fail_at, interrupt_after, 0
        def roundtrip_one(self, x, br):
            self.calls += 1
            if self.interrupt_after is not None and self.calls > self.interrupt_after:
                raise KeyboardInterrupt
            if self.fail_at is not None and br == self.fail_at:
                raise RuntimeError("decoder exploded")
            return (self.g * x).astype(np.float32)

    def gain(**kw): return Gain()
    def quieter(**kw): return Gain(g=0.5)
    def broken16(**kw): return Gain(name="broken", fail_at=16.0)
    def evil(**kw): return Gain(name="<script>alert(1)</script>")
    def interrupting(**kw): return Gain(name="intr", interrupt_after=5)

    class Nan(Gain):
        def roundtrip_one(self, x, br):
            return x * np.nan
    def nan(**kw): return Nan(name="nanny")

    class Short(Gain):
        def roundtrip_one(self, x, br):
            return x[: len(x) // 2]
    def short(**kw): return Short(name="shorty")

    class Dies(Gain):
        def roundtrip_one(self, x, br):
            import os
            if br == 16.0:
                os._exit(3)  # a worker killed mid-test (segfault, OOM killer)
            return x
    def dies(**kw): return Dies(name="dies")
''')

FAST = "not wer and not eer and not dnsmos and not prosody and not stoi and not si_sdr"


@pytest.fixture
def run(pytester, run_suites):
    pytester.makepyfile(mycodecs=CODECS)
    return run_suites


def test_options_are_one_group(pytester):
    out = pytester.runpytest_subprocess("--help").stdout.str()
    assert "codec-conformance: speech codec conformance suites" in out
    for opt in ("--codec=NAME|module:factory", "--codec-bitrate", "--codec-profile", "--codec-baseline",
                "--codec-weights", "--codec-resume", "--codec-num-shards"):
        assert opt in out


def test_plugin_imports_nothing_heavy():
    import subprocess
    code = "import codec_conformance.plugin.hooks, sys; print(sorted(m for m in ('torch','encodec','scipy','av') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_custom_codec_all_bitrates_and_contract(run, pytester):
    r = run("--codec=mycodecs:gain", "--codec-bitrate=all", "-k", FAST, "-q")
    # noise(6 conds x mel,pesq) + additivity 2 + homog + 3 levels; the token tests (5 noise conditions,
    # gain, 3 shifts, determinism) skip: this codec exposes no codes
    r.assert_outcomes(passed=2 * (6 * 2 + 2 + 1 + 3), skipped=2 * 10)
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
    r.assert_outcomes(passed=3, failed=3)  # 8 kbps fine, 16 kbps raises; the run goes on
    doc = latest_results(pytester)
    from codec_conformance.probes.analysis import BAND_QUANTITIES
    assert len(doc["records"]) == 3 * len(BAND_QUANTITIES) and len(doc["run"]["errors"]) == 3  # 3 sweeps at 8 kbps
    assert "decoder exploded" in doc["run"]["errors"][0]["message"]


def test_html_escapes_codec_names(run, pytester):
    run("--codec=mycodecs:evil", "-k", "frequency", "-q").assert_outcomes(passed=3)
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
    run("--codec=mycodecs:gain", "-k", k, "-q").assert_outcomes(passed=4)
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


def test_interrupted_run_keeps_finished_records_and_resume(run, pytester):
    r = run("--codec=mycodecs:interrupting", "-k", "frequency or homogeneity", "-q")
    assert r.ret == pytest.ExitCode.INTERRUPTED
    doc = latest_results(pytester)
    assert doc["run"]["finished"] is None and 0 < len({x["test_id"] for x in doc["records"]}) < 4
    n_done = len({x["test_id"] for x in doc["records"]})
    # resume with a codec that no longer interrupts: only the missing tests run
    (pytester.path / "mycodecs.py").write_text(CODECS.replace("interrupt_after=5)", "interrupt_after=None)"))
    r2 = run("--codec=mycodecs:interrupting", "-k", "frequency or homogeneity", "-q", "--codec-resume", "latest")
    r2.assert_outcomes(passed=4 - n_done, deselected=None)
    doc2 = latest_results(pytester)
    assert doc2["run"]["finished"] and len({x["test_id"] for x in doc2["records"]}) == 4


def test_resume_with_xdist_skips_finished_tests(run, pytester):
    """Bug: under xdist the workers collect and only the controller read the resumed run, so
    ``--codec-resume`` with ``-n 2`` ran every finished test again."""
    n_freq = run("--codec=mycodecs:gain", "-k", "frequency", "-q").parseoutcomes()["passed"]
    homogeneity = run("--codec=mycodecs:gain", "-k", "homogeneity", "--collect-only", "-q").stdout.lines
    n_homog = len([line for line in homogeneity if "::" in line])
    assert n_freq >= 1 and n_homog >= 1
    r2 = run("--codec=mycodecs:gain", "-k", "frequency or homogeneity", "-q", "-n", "2", "-p", "xdist",
             "--codec-resume", "latest")
    assert r2.parseoutcomes()["passed"] == n_homog  # the finished frequency tests do not run again
    doc = latest_results(pytester)
    assert doc["run"]["finished"] and {x["suite"] for x in doc["records"]} >= {"frequency_response", "homogeneity"}


def test_shards_partition_the_tests(run):
    ids = []
    for k in range(3):
        out = run("--codec=mycodecs:gain", "--codec-bitrate=all", "--collect-only", "-q",
                  f"--codec-shard-id={k}", "--codec-num-shards=3").stdout.lines
        ids.append({line for line in out if "::" in line})
    total = run("--codec=mycodecs:gain", "--codec-bitrate=all", "--collect-only", "-q").stdout.lines
    total = {line for line in total if "::" in line}
    assert set().union(*ids) == total and sum(len(s) for s in ids) == len(total)
    assert all(ids)


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
    r.assert_outcomes(passed=8 + 0)
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


def test_killed_worker_loses_no_finished_results(run, pytester):
    pytest.importorskip("xdist")
    r = run("--codec=mycodecs:dies", "--codec-bitrate=all", "-k", "frequency", "-n", "2", "-p", "xdist",
            "--max-worker-restart=4")
    assert r.ret == pytest.ExitCode.TESTS_FAILED
    doc = latest_results(pytester)
    done = {x["test_id"] for x in doc["records"]}
    assert len(done) == 3 and all("8kbps" in t for t in done)  # every 8 kbps test kept
    assert doc["run"]["finished"] is not None


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
        "-q").assert_outcomes(passed=2)  # 0 and -20 dBFS
    (info,) = latest_results(pytester)["codecs"]
    assert info["checkpoint"] == str(ckpt)
    assert info["checkpoint_sha256"] == hashlib.sha256(b"weights of step 1000").hexdigest()
