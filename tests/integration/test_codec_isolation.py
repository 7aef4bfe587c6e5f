"""Codec calls in worker processes, end to end (issue 29 item 4): a hang that holds the GIL ends
at --codec-timeout and the run goes on; Ctrl-C during such a hang ends the run in seconds with
the finished tests' results kept; a codec that ends its process is a test error; no codec worker
outlives the run, under pytest-xdist too."""
import os
import signal
import subprocess
import sys
import time

import pytest

from codec_conformance.results.contract import load_results, verdict
from tests.helpers import child_env, mode, sigint_default, sweep_levels
from tests.helpers import alive
from tests.helpers import latest_results as latest


@pytest.fixture
def run(flaky_suites):
    return flaky_suites(die16=True)



def codec_pids(pytester) -> list[int]:
    return [int(x) for x in (pytester.path / "pids.txt").read_text().split()]


def test_a_hang_holding_the_gil_errors_its_tests_and_the_run_goes_on(run, pytester):
    mode(pytester, "gilhang16")
    t0 = time.time()
    r = run("-k", "frequency and 0dBFS", "--codec-bitrate=all", "--codec-timeout=2", "-q", timeout=180)
    wall_s = time.time() - t0
    n = len(sweep_levels(having="0dBFS"))
    r.assert_outcomes(passed=n, failed=n)  # 8 kbps passes; 16 kbps: one timeout, then at once
    assert "codec 'flaky' at 16 kbps did not return within 2 s (--codec-timeout); its worker process was ended" \
        in r.stdout.str()
    doc = latest(pytester)
    assert doc["run"]["finished"] and {x["bitrate_kbps"] for x in doc["records"]} == {8.0}
    assert wall_s < 90
    assert [p for p in codec_pids(pytester) if alive(p)] == []


def test_a_codec_that_ends_its_worker_process_is_a_test_error(run, pytester):
    """os._exit in the codec ends its worker process only: the calls at 16 kbps are test errors
    naming the codec and the exit code, 8 kbps passes, the verdict is FAIL (under -n 2 too)."""
    mode(pytester, "die16")
    r = run("-k", "frequency and 0dBFS", "--codec-bitrate=all", "-n", "2", "-q")
    n = len(sweep_levels(having="0dBFS"))
    r.assert_outcomes(passed=n, failed=n)
    assert "codec 'flaky' at 16 kbps: its worker process died (exit code 3)" in r.stdout.str()
    doc = latest(pytester)
    assert not [e for e in doc["run"]["errors"] if e.get("kind") == "worker_crash"]
    assert len(doc["run"]["errors"]) == n and verdict(doc)[0] == "FAIL"


def test_no_codec_worker_outlives_the_run_under_xdist(run, pytester):
    """One codec worker per xdist worker (a codec built where its tests run), each ended when its
    session ends; none is left running after pytest exits."""
    mode(pytester, "ok")
    r = run("-k", "frequency", "--codec-bitrate=all", "-n", "2", "-q")
    assert r.ret == 0, r.stdout.str()
    pids = codec_pids(pytester)
    assert len(pids) >= 2 and len(set(pids)) == len(pids)  # each built once, in its own process
    assert [p for p in pids if alive(p)] == []


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_ctrl_c_during_a_hang_holding_the_gil_ends_the_run_and_keeps_its_results(flaky_suites, pytester,
                                                                                 isolation):
    """SIGINT to pytest while the codec holds the GIL (after 3 finished tests): with the codec in
    a worker process the run ends within seconds, interrupted, the 3 finished tests' records in
    results.json and the worker gone. With the codec in pytest's own process (isolation thread,
    the only way before) the signal is never handled: the run hangs (killed here)."""
    flaky_suites(die16=False)
    mode(pytester, "gilhang:3")
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider",
           "--codec=mycodecs:flaky", "--codec-no-cache", "-k", "frequency", "--codec-bitrate=all", "-q",
           f"--codec-isolation={isolation}"]
    proc = subprocess.Popen(cmd, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=child_env(), start_new_session=True, preexec_fn=sigint_default)
    marker = pytester.path / "hanging.txt"
    try:
        t0 = time.time()
        while not marker.exists() and time.time() - t0 < 120 and proc.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), proc.communicate(timeout=30)[0] if proc.poll() is not None else "no hang"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        t1 = time.time()
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            out = None
        ended_s = time.time() - t1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    hung_pid = int(marker.read_text())
    if isolation == "thread":
        assert out is None, "Ctrl-C ended a GIL-holding call in pytest's own process"
        return
    assert out is not None and ended_s < 6, out
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    doc = load_results(pytester.path / "reports" / "latest")
    assert len({r["test_id"] for r in doc["records"]}) == 3 and doc["run"]["finished"] is None
    assert not alive(hung_pid)
