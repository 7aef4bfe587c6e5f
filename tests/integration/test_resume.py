"""Faults and bad input: malformed results files, two processes on one run folder, resume, write
errors, hung codecs, file permissions (the battery of docs/reliability.md; the report's escaping
is in tests/unit/report/test_html.py)."""
import json
import subprocess
import sys
import time

import pytest

from codec_conformance.cli import main
from codec_conformance.results.contract import load_results
from tests.helpers import GAIN_CODECS as CODECS_plugin
from tests.helpers import child_env as _child_env
from tests.helpers import latest_results, mode
from tests.helpers import latest_results as latest

# ---------------------------------------------------------------- plugin end to end (5, 6, 7, 8)
K = ("-k", "frequency", "--codec-bitrate=all")  # 6 tests, one codec call each


@pytest.fixture
def run(flaky_suites):
    return flaky_suites(die16=False)


def test_resume_killed_early_loses_no_records(run, pytester):
    mode(pytester, "interrupt:3")
    assert run(*K, "-q").ret == pytest.ExitCode.INTERRUPTED
    before = latest(pytester)["records"]
    assert len({r["test_id"] for r in before}) == 3
    mode(pytester, "die")  # the resume is killed at its first codec call (the codec in the run's process)
    r = run(*K, "-q", "--codec-resume", "latest", "--codec-isolation=thread")
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

@pytest.fixture
def run_plugin(gain_suites):
    return gain_suites


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
