import json
import textwrap
import time
from pathlib import Path

import pytest

from codec_conformance.results.contract import load_results, verdict
from tests.helpers import latest_results as latest, mode, sweep_levels

# ----------------------------------------------------------------------
# Faults and bad input: malformed results files, two processes on one run folder, resume, write
# errors, hung codecs, file permissions (the battery of docs/reliability.md; the report's escaping
# is in tests/unit/report/test_html.py).


# ---------------------------------------------------------------- plugin end to end (5, 6, 7, 8)
LIMIT_FSIZE = textwrap.dedent('''
    """Test plugin: after the 2nd test's results are written, file writes beyond the current size
    of results.json fail (EFBIG), as on a full disk."""
    import resource, signal
    from pathlib import Path
    import pytest
    calls = []

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(report):
        if report.when == "call":
            calls.append(report.nodeid)
            if len(calls) == 2:
                size = (Path("reports") / "latest" / "results.json").stat().st_size
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
''')


@pytest.fixture
def run(flaky_suites):
    return flaky_suites(die16=True)


def test_write_error_mid_run_stops_with_one_clear_error(run, pytester):
    pytester.makepyfile(limitfsize=LIMIT_FSIZE)
    r = run("-p", "limitfsize", "-k", "frequency", "--codec-bitrate=all", "-q")
    out = r.stdout.str() + r.stderr.str()
    assert r.ret == pytest.ExitCode.INTERRUPTED, out
    assert "codec-conformance: cannot write the results of this run" in out and "--codec-resume" in out
    assert "INTERNALERROR" not in out and "Traceback" not in out
    run_dir = pytester.path / "reports" / "latest"
    doc = load_results(run_dir)  # the last good file: valid, both finished tests, marked unfinished
    assert len({x["test_id"] for x in doc["records"]}) == 2 and doc["run"]["finished"] is None
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".tmp-")] == []


def test_hung_codec_errors_with_its_name_and_the_session_goes_on(run, pytester):
    mode(pytester, "hang16")
    t0 = time.time()
    r = run("-k", "frequency and 0dBFS", "--codec-bitrate=all", "--codec-timeout=2", "-q")
    wall_s = time.time() - t0
    n = len(sweep_levels(having="0dBFS"))
    r.assert_outcomes(passed=n, failed=n)  # 0 and -20 dBFS at 8 kbps pass; both 16 kbps calls time out
    assert "codec 'flaky' at 16 kbps did not return within 2 s (--codec-timeout)" in r.stdout.str()
    doc = latest(pytester)
    assert doc["run"]["finished"] and {x["bitrate_kbps"] for x in doc["records"]} == {8.0}
    assert len(doc["run"]["errors"]) == n and wall_s < 120


def test_a_codec_call_left_hanging_does_not_keep_pytest_from_exiting(run, pytester):
    """Issue 29 item 6: a codec whose round trip waits on a thread of its own ThreadPoolExecutor
    hangs past --codec-timeout; the tests error and the process exits with the run's status as
    soon as pytest is done. The old code abandoned the call in a daemon thread, but at exit
    Python joined the executor's worker (sleeping for an hour): the process never ended (killed
    here after 120 s)."""
    mode(pytester, "poolhang16")
    t0 = time.time()
    r = run("-k", "frequency and 0dBFS", "--codec-bitrate=all", "--codec-timeout=2", "-q", timeout=120)
    wall_s = time.time() - t0
    n = len(sweep_levels(having="0dBFS"))
    r.assert_outcomes(passed=n, failed=n)
    assert r.ret == pytest.ExitCode.TESTS_FAILED and wall_s < 90
    assert "codec 'flaky' at 16 kbps did not return within 2 s (--codec-timeout)" in r.stdout.str()
    assert "codec-conformance verdict: FAIL" in r.stdout.str()  # the terminal summary got out first
    assert latest(pytester)["run"]["finished"]


@pytest.mark.parametrize("which", ["die16", "die"])
def test_a_crashed_worker_is_a_run_error_not_a_silent_pass(run, pytester, which):
    """A codec that kills its xdist worker (os._exit) under -n 2: the tests it was running are run
    errors in results.json, the verdict and the terminal, not 'PASS — all N gated checks passed';
    when every test crashes the run folder is still written. Before, errors were [] and the
    verdict PASS (the crash report has no phase and no keywords), and with every test crashing no
    run folder was written at all."""
    mode(pytester, which)
    # the codec in the xdist worker's own process (in a codec worker process, only that dies:
    # test_a_codec_that_ends_its_worker_process_is_a_test_error)
    r = run("-k", "frequency and 0dBFS", "--codec-bitrate=all", "-n", "2", "-q", "--codec-isolation=thread")
    assert r.ret != 0
    doc = latest(pytester)
    crashes = [e for e in doc["run"]["errors"] if e.get("kind") == "worker_crash"]
    n = len(sweep_levels(having="0dBFS"))
    assert len(crashes) == (n if which == "die16" else 2 * n), doc["run"]["errors"]
    assert all("crashed while running" in e["message"] for e in crashes)
    status, text = verdict(doc)
    assert status == "FAIL" and f"{len(crashes)} test errors" in text
    assert "codec-conformance verdict: FAIL" in r.stdout.str()


def test_codec_timeout_must_be_seconds(run):
    r = run("--codec-timeout=soon", "--collect-only")
    assert r.ret == pytest.ExitCode.USAGE_ERROR and "--codec-timeout: 'soon'" in r.stderr.str()


# ----------------------------------------------------------------------
# Verdict integrity: the cache never serves a wrong value (keys carry what changes the output,
# entries carry a checksum), a factory's options are never dropped, only real float output is
# measured, and non-finite numbers become nulls with a reason instead of crashing the session.

def _strict_json(path: Path):
    def refuse(c):
        raise AssertionError(f"{path} holds {c}")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_silent_codec_session_completes_with_nulls_and_fails(pytester, usercodecs, tmp_path):
    """Issue: a codec that outputs silence crashed pytest (INTERNALERROR, exit 3) and lost records."""
    pytester.makeini("[pytest]\n")
    r = pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider",
                                      "--codec=usercodecs:silent", "--codec-cache-dir", str(tmp_path / "cache"),
                                      "-k", "additivity or homogeneity or frequency or (clean and mel)", "-q")
    assert r.ret == pytest.ExitCode.TESTS_FAILED, r.stdout.str()[-3000:]
    assert "INTERNALERROR" not in r.stdout.str() + r.stderr.str()
    # noise clean mel: defined, and over the packaged default limit (silence is not speech); the
    # others: undefined -> failed
    r.assert_outcomes(failed=7)
    doc = _strict_json(pytester.path / "reports" / "latest" / "results.json")
    assert doc["run"]["finished"] and (pytester.path / "reports" / "latest" / "index.html").is_file()
    suites = {x["suite"] for x in doc["records"]}
    assert suites == {"noise", "additivity", "homogeneity", "frequency_response"}
    failed_tests = set()
    for x in doc["records"]:
        if x["suite"] == "noise" or x["metric"] == "mel_distance":  # defined: silence vs silence, or speech
            assert x["value"] is not None
            continue
        assert x["value"] is None and x["non_finite"]["value"] in ("nan", "-inf", "inf")
        assert x["passed"] is False and "non-finite" in x["failure"] and x["non_finite_reason"]
        failed_tests.add(x["test_id"])
    assert len(failed_tests) == 6
    hom = [x for x in doc["records"] if x["suite"] == "homogeneity"][0]
    assert all(e["ser_db"] is None for e in hom["examples"])
    curves = {c["kind"]: c for c in doc["curves"]}
    assert all(v is None for v in curves["homogeneity_ser"]["y"]) and curves["homogeneity_ser"]["non_finite"]
    assert all(v is None for v in curves["frequency_response"]["y"])
    for line in (pytester.path / "reports" / "latest" / "journal.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"journal holds {c}"))


def test_corrupt_cache_entries_are_reported_in_results_and_log(pytester, usercodecs, tmp_path):
    pytester.makeini("[pytest]\n")
    args = ("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider", "--codec=usercodecs:cached",
            "--codec-cache-dir", str(tmp_path / "cache"), "-k", "frequency", "-q")
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=len(sweep_levels()))
    first = _strict_json(pytester.path / "reports" / "latest" / "results.json")
    entries = [p for p in (tmp_path / "cache").rglob("*.npy")]
    assert entries
    for p in entries:
        p.write_bytes(b"")
    r = pytester.runpytest_subprocess(*args)
    r.assert_outcomes(passed=len(sweep_levels()))
    doc = _strict_json(pytester.path / "reports" / "latest" / "results.json")
    warns = doc["run"]["cache_warnings"]
    assert len(warns) == len(entries) and all("deleted and recomputed" in w for w in warns)
    assert "codec-conformance: cache entry" in r.stdout.str()
    assert [x["value"] for x in doc["records"]] == [x["value"] for x in first["records"]]
