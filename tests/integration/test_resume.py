"""Faults and bad input: malformed results files, two processes on one run folder, resume, write
errors, hung codecs, file permissions (the battery of docs/reliability.md; the report's escaping
is in tests/unit/report/test_html.py)."""
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from codec_conformance.cli import main
from codec_conformance.results.contract import load_results
from tests.helpers import ROOT, latest_results


def _child_env():
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


# ---------------------------------------------------------------- plugin end to end (5, 6, 7, 8)
CODECS = textwrap.dedent('''
    import os, time
    from pathlib import Path
    import numpy as np
    from codec_conformance.codecs.base import BaseCodec

    class Flaky(BaseCodec):
        """Behaviour from ./mode.txt: ok | slow | interrupt:N | die | hang16"""
        sample_rate, bitrates_kbps = 16000, (8.0, 16.0)
        def __init__(self):
            self.name, self.calls = "flaky", 0
        def roundtrip_one(self, x, br):
            mode = Path("mode.txt").read_text().strip() if Path("mode.txt").exists() else "ok"
            self.calls += 1
            if mode.startswith("interrupt:") and self.calls > int(mode.split(":")[1]):
                raise KeyboardInterrupt
            if mode == "die":
                os._exit(3)  # killed a few seconds into a resume
            if mode == "slow":
                time.sleep(4.0)
            if mode == "hang16" and br == 16.0:
                time.sleep(3600)
            return (0.9 * x).astype(np.float32)

    def flaky(**kw): return Flaky()
''')

K = ("-k", "frequency", "--codec-bitrate=all")  # 6 tests, one codec call each


@pytest.fixture
def run(pytester, tmp_path):
    pytester.makepyfile(mycodecs=CODECS)
    pytester.makeini("[pytest]\n")

    def _run(*args):
        return pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider",
                                             "--codec=mycodecs:flaky", "--codec-no-cache",
                                             "--codec-cache-dir", str(tmp_path / "cache"), *args)
    return _run


def mode(pytester, m):
    (pytester.path / "mode.txt").write_text(m)


def latest(pytester) -> dict:
    return json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())


def test_resume_killed_early_loses_no_records(run, pytester):
    mode(pytester, "interrupt:3")
    assert run(*K, "-q").ret == pytest.ExitCode.INTERRUPTED
    before = latest(pytester)["records"]
    assert len({r["test_id"] for r in before}) == 3
    mode(pytester, "die")  # the resume is killed at its first codec call
    r = run(*K, "-q", "--codec-resume", "latest")
    assert r.ret == 3
    after = latest(pytester)
    assert len(after["records"]) == len(before) and after["run"]["finished"] is None
    mode(pytester, "ok")
    run(*K, "-q", "--codec-resume", "latest").assert_outcomes(passed=3, deselected=None)
    done = latest(pytester)
    assert len({r["test_id"] for r in done["records"]}) == 6 and done["run"]["finished"]
    run_dir = pytester.path / "reports" / "latest"
    assert main(["report", "--recover", str(run_dir)]) == 0
    again = load_results(run_dir)
    assert len(again["records"]) == len(done["records"]) and again["run"]["finished"] is not None


def test_two_resumes_at_once_second_is_refused(run, pytester, tmp_path):
    mode(pytester, "interrupt:3")
    run(*K, "-q")
    n_before = len(latest(pytester)["records"])
    mode(pytester, "slow")
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider",
           "--codec=mycodecs:flaky", "--codec-no-cache", "-k", "frequency", "--codec-bitrate=all", "-q",
           "--codec-resume", "latest"]
    first = subprocess.Popen(cmd, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=_child_env())
    try:
        lock = pytester.path / "reports" / "latest" / ".lock"
        journal = pytester.path / "reports" / "latest" / "journal.jsonl"
        t0 = time.time()  # wait until the first resume holds the folder
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)) and time.time() - t0 < 60:
            time.sleep(0.1)
        second = subprocess.run(cmd, cwd=pytester.path, capture_output=True, text=True, env=_child_env(), timeout=120)
        assert second.returncode == pytest.ExitCode.USAGE_ERROR, second.stdout + second.stderr
        assert f"in use by another codec-conformance process (pid {first.pid})" in second.stderr
        out, _ = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, out
    doc = latest(pytester)
    assert len(doc["records"]) > n_before and len({r["test_id"] for r in doc["records"]}) == 6
    assert journal.is_file()


# ----------------------------------------------------------------------
# The pytest plugin end to end, in subprocess pytest runs of the packaged suites.

CODECS_plugin = textwrap.dedent('''
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


@pytest.fixture
def run_plugin(pytester, run_suites):
    pytester.makepyfile(mycodecs=CODECS_plugin)
    return run_suites


def test_interrupted_run_keeps_finished_records_and_resume(run_plugin, pytester):
    r = run_plugin("--codec=mycodecs:interrupting", "-k", "frequency or homogeneity", "-q")
    assert r.ret == pytest.ExitCode.INTERRUPTED
    doc = latest_results(pytester)
    assert doc["run"]["finished"] is None and 0 < len({x["test_id"] for x in doc["records"]}) < 4
    n_done = len({x["test_id"] for x in doc["records"]})
    # resume with a codec that no longer interrupts: only the missing tests run
    (pytester.path / "mycodecs.py").write_text(CODECS_plugin.replace("interrupt_after=5)", "interrupt_after=None)"))
    r2 = run_plugin("--codec=mycodecs:interrupting", "-k", "frequency or homogeneity", "-q", "--codec-resume", "latest")
    r2.assert_outcomes(passed=4 - n_done, deselected=None)
    doc2 = latest_results(pytester)
    assert doc2["run"]["finished"] and len({x["test_id"] for x in doc2["records"]}) == 4


def test_resume_with_xdist_skips_finished_tests(run_plugin, pytester):
    """Bug: under xdist the workers collect and only the controller read the resumed run, so
    ``--codec-resume`` with ``-n 2`` ran every finished test again."""
    n_freq = run_plugin("--codec=mycodecs:gain", "-k", "frequency", "-q").parseoutcomes()["passed"]
    homogeneity = run_plugin("--codec=mycodecs:gain", "-k", "homogeneity", "--collect-only", "-q").stdout.lines
    n_homog = len([line for line in homogeneity if "::" in line])
    assert n_freq >= 1 and n_homog >= 1
    r2 = run_plugin("--codec=mycodecs:gain", "-k", "frequency or homogeneity", "-q", "-n", "2", "-p", "xdist",
             "--codec-resume", "latest")
    assert r2.parseoutcomes()["passed"] == n_homog  # the finished frequency tests do not run again
    doc = latest_results(pytester)
    assert doc["run"]["finished"] and {x["suite"] for x in doc["records"]} >= {"frequency_response", "homogeneity"}


def test_killed_worker_loses_no_finished_results(run_plugin, pytester):
    pytest.importorskip("xdist")
    r = run_plugin("--codec=mycodecs:dies", "--codec-bitrate=all", "-k", "frequency", "-n", "2", "-p", "xdist",
            "--max-worker-restart=4")
    assert r.ret == pytest.ExitCode.TESTS_FAILED
    doc = latest_results(pytester)
    done = {x["test_id"] for x in doc["records"]}
    assert len(done) == 3 and all("8kbps" in t for t in done)  # every 8 kbps test kept
    assert doc["run"]["finished"] is not None


def test_resume_judges_old_records_from_their_values_not_their_stored_passed(run_plugin, pytester):
    """Issue 29 item 6: a resumed run's results.json whose record says ``passed: true`` beside a
    value that fails its own threshold is judged from the value: that record fails, and so does
    the verdict. The old code carried the stored pass over and printed PASS."""
    r = run_plugin("--codec=mycodecs:gain", "-k", "frequency", "-q")
    assert r.ret == pytest.ExitCode.OK
    path = pytester.path / "reports" / "latest" / "results.json"
    doc = json.loads(path.read_text())
    rec = next(x for x in doc["records"] if x.get("passed") is True and (x.get("threshold") or {}).get("kind")
               in ("range", "min_value", "max_value"))
    th = rec["threshold"]
    rec["value"] = th["upper"] + 10.0 if th["kind"] == "range" else (
        th["limit"] - 10.0 if th["kind"] == "min_value" else th["limit"] + 10.0)
    if rec.get("oracle") is not None:
        rec["delta"] = rec["value"] - rec["oracle"]
    path.write_text(json.dumps(doc))
    (path.parent / "journal.jsonl").unlink()  # (its copy of the record would replace the crafted one)
    r2 = run_plugin("--codec=mycodecs:gain", "-k", "frequency or homogeneity", "-q", "--codec-resume", "latest")
    assert "codec-conformance verdict: FAIL" in r2.stdout.str(), r2.stdout.str()[-2000:]
    again = next(x for x in latest_results(pytester)["records"]
                 if x["test_id"] == rec["test_id"] and x["metric"] == rec["metric"]
                 and x["condition"] == rec["condition"])
    assert again["passed"] is False and "judged from its values" in again["failure"]
