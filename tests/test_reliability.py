"""Faults and bad input: malformed results files, two processes on one run folder, resume, write
errors, hung codecs, file permissions (the battery of docs/reliability.md; the report's escaping
is in test_report.py)."""
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from codec_conformance.cli import main
from codec_conformance.results.contract import load_results, make_record
from codec_conformance.results.run_folder import RunRecorder, recover_from_journal

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "codec-conformance/results/1"


def rec(metric="pesq", value=3.0, test_id="t::a", br=6.0):
    return make_record(codec="c", bitrate_kbps=br, suite="noise",
                       condition={"kind": "white", "snr_db": 10, "gain_db": None, "rt60_s": None, "level_dbfs": None},
                       metric=metric, higher_is_better=True, value=value, oracle=3.5, n_items=4, test_id=test_id)


def good_doc(**run):
    return {"schema": SCHEMA, "run": {"id": "a", "finished": "2026-01-01T00:00:00+00:00", **run},
            "codecs": [{"name": "c", "sample_rate": 16000, "bitrates_kbps": [6.0]}],
            "records": [rec(), rec(metric="stoi")], "curves": []}


def _child_env():
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


# ---------------------------------------------------------------- 4. malformed input files
MALFORMED = {
    "top-level array": lambda: "[1, 2]",
    "missing keys": lambda: json.dumps({k: v for k, v in good_doc().items() if k != "records"}),
    "record missing a key": lambda: json.dumps(dict(good_doc(), records=[
        {k: v for k, v in rec().items() if k != "metric"}])),
    "null run": lambda: json.dumps(dict(good_doc(), run=None)),
    "non-list records": lambda: json.dumps(dict(good_doc(), records={"a": 1})),
    "records of non-objects": lambda: json.dumps(dict(good_doc(), records=[1, 2])),
    "400-digit number": lambda: json.dumps(good_doc()).replace('"bitrate_kbps": 6.0',
                                                               '"bitrate_kbps": ' + "9" * 400, 1),
    "Infinity": lambda: json.dumps(good_doc()).replace('"value": 3.0', '"value": Infinity', 1),
    "string value": lambda: json.dumps(good_doc()).replace('"value": 3.0', '"value": "3.0"', 1),
}


@pytest.mark.parametrize("cmd", ["compare", "merge", "report"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_cli_refuses_malformed_results_in_one_line(tmp_path, capsys, cmd, case):
    good, bad = tmp_path / "good.json", tmp_path / "run" / "results.json"
    bad.parent.mkdir()
    good.write_text(json.dumps(good_doc()))
    bad.write_text(MALFORMED[case]())
    argv = {"compare": ["compare", str(good), str(bad)],
            "merge": ["merge", str(good), str(bad), "-o", str(tmp_path / "m.json")],
            "report": ["report", str(bad.parent)]}[cmd]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"codec-conformance {cmd}: ") and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "m.json").exists() and not (bad.parent / "index.html").exists()


def test_malformed_file_messages_name_the_field(tmp_path):
    p = tmp_path / "r.json"
    for case, where in (("400-digit number", "records[0].bitrate_kbps"), ("null run", "run must be an object"),
                        ("non-list records", "records must be an array"), ("top-level array", "the file must be"),
                        ("record missing a key", "records[0] lacks 'metric'"), ("Infinity", "not valid JSON")):
        p.write_text(MALFORMED[case]())
        with pytest.raises(ValueError) as e:
            load_results(p)
        assert str(p) in str(e.value) and where in str(e.value), (case, str(e.value))


def test_entry_point_prints_no_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(MALFORMED["400-digit number"]())
    p = subprocess.run([sys.executable, "-m", "codec_conformance.cli", "compare", str(bad), str(bad)],
                       capture_output=True, text=True, env=_child_env(), timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- 5. two processes, one run folder
HOLDER = textwrap.dedent('''
    import sys, time
    from codec_conformance.results.run_folder import RunRecorder
    r = RunRecorder(sys.argv[1], {"id": "run"})
    print("locked", flush=True)
    time.sleep(60)
''')


def test_second_process_on_a_run_folder_is_refused(tmp_path):
    from codec_conformance.errors import ConformanceError
    run_dir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True,
                              env=_child_env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        in_use = f"in use by another codec-conformance process \\(pid {holder.pid}\\)"
        with pytest.raises(ConformanceError, match=in_use):
            RunRecorder(run_dir, {"id": "run"})
        # report --recover would rewrite results.json under the writer's feet: refused too
        assert main(["report", "--recover", str(run_dir)]) == 2
    finally:
        holder.kill()
        holder.wait()
    r = RunRecorder(run_dir, {"id": "run"})  # the lock goes with its process
    r.close()


def test_runs_created_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    from codec_conformance.plugin import roles
    from codec_conformance.settings import build_settings
    monkeypatch.setattr(roles.time, "strftime", lambda fmt: "20260101-000000")
    opts = {"codec": ["gain"], "codec_report_dir": str(tmp_path / "reports")}
    n = 6
    states = []
    for _ in range(n):
        st = object.__new__(roles.Controller)
        st.settings = build_settings(opts.get, tmp_path)
        st.config = type("C", (), {"invocation_params": type("P", (), {"args": ()})()})()
        st.recorder, st.run_dir, st.started = None, None, None
        states.append(st)
    barrier = threading.Barrier(n)

    def start(st):
        barrier.wait()
        st.ensure_recorder().add({"records": [rec(test_id=f"t::{id(st)}")]})

    threads = [threading.Thread(target=start, args=(st,)) for st in states]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dirs = {st.run_dir for st in states}
    assert len(dirs) == n, sorted(d.name for d in dirs)
    for st in states:  # each run's folder holds exactly its own record
        assert [r["test_id"] for r in load_results(st.run_dir)["records"]] == [f"t::{id(st)}"]
        st.recorder.close()


# ---------------------------------------------------------------- 6. resume never loses records
def test_recover_dedupes_a_rerun_test_and_keeps_finished(tmp_path):
    run_dir = tmp_path / "run"
    r = RunRecorder(run_dir, {"id": "run"})
    tests = [f"t::{k}" for k in range(4)]
    for t in tests:
        r.add({"records": [rec(test_id=t), rec(metric="stoi", test_id=t)]})
    r.add({"records": [rec(test_id=tests[0], value=2.0), rec(metric="stoi", test_id=tests[0])]})  # ran again
    r.finish({"exitstatus": 0})
    r.close()
    assert len(load_results(run_dir)["records"]) == 8
    doc = recover_from_journal(run_dir)
    assert len(doc["records"]) == 8 and doc["run"]["finished"] is not None
    assert [x["value"] for x in doc["records"] if x["test_id"] == tests[0] and x["metric"] == "pesq"] == [2.0]
    assert main(["report", "--recover", str(run_dir)]) == 0
    assert load_results(run_dir)["run"]["finished"] is not None


def test_resume_reads_journal_records_missing_from_results(tmp_path):
    """A controller killed between the journal append and the results.json rewrite: the resume
    takes that test's records from the journal instead of losing (or re-running) it."""
    run_dir = tmp_path / "run"
    r = RunRecorder(run_dir, {"id": "run"})
    r.add({"records": [rec(test_id="t::0")]})
    r.close()
    with open(run_dir / "journal.jsonl", "a") as f:
        f.write(json.dumps({"records": [rec(test_id="t::1")]}) + "\n")
    old = load_results(run_dir)
    r2 = RunRecorder(run_dir, {"id": "run"}, old=old)
    r2.close()
    assert sorted(x["test_id"] for x in load_results(run_dir)["records"]) == ["t::0", "t::1"]


# ---------------------------------------------------------------- 7. write errors
def _limited(code: str, limit_bytes: int) -> subprocess.CompletedProcess:
    """Run ``code`` in a child whose file writes beyond ``limit_bytes`` fail (EFBIG), like a full disk."""
    pre = textwrap.dedent(f'''
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))
    ''')
    return subprocess.run([sys.executable, "-c", pre + textwrap.dedent(code)], capture_output=True, text=True,
                          env=_child_env(), timeout=120)


def test_failed_write_keeps_last_good_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    p = _limited(f'''
        from pathlib import Path
        from codec_conformance.results.run_folder import atomic_write_json
        atomic_write_json(Path({str(target)!r}), {{"small": 1}})
        try:
            atomic_write_json(Path({str(target)!r}), {{"big": "x" * 100000}})
        except OSError as exc:
            print("write failed:", exc.errno)
    ''', 50_000)
    assert "write failed" in p.stdout, p.stderr
    assert json.loads(target.read_text()) == {"small": 1}
    assert sorted(q.name for q in tmp_path.iterdir()) == ["results.json"]


def test_failed_merge_is_one_line_and_leaves_no_temporary(tmp_path):
    big = dict(good_doc(), records=[rec(test_id=f"t::{k}", metric=f"m{k}") for k in range(400)])
    (tmp_path / "a.json").write_text(json.dumps(big))
    out = tmp_path / "out"
    out.mkdir()
    p = _limited(f'''
        import sys
        from codec_conformance.cli import main
        sys.exit(main(["merge", {str(tmp_path / "a.json")!r}, "-o", {str(out / "m.json")!r}]))
    ''', 20_000)
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "cannot write" in p.stderr and "Traceback" not in p.stderr
    assert list(out.iterdir()) == []


# ---------------------------------------------------------------- 9. permissions
def test_results_merge_and_report_have_the_same_ordinary_permissions(tmp_path):
    from codec_conformance.report import write_html
    old_mask = os.umask(0o022)
    try:
        r = RunRecorder(tmp_path / "run", {"id": "run"})
        r.add({"records": [rec()], "codecs": [{"name": "c", "sample_rate": 16000, "bitrates_kbps": [6.0]}]})
        r.finish()
        r.close()
        html = write_html(tmp_path / "run")
        assert main(["merge", str(tmp_path / "run"), str(tmp_path / "run"), "-o", str(tmp_path / "m.json")]) == 0
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (r.results_path, html, tmp_path / "m.json")}
    finally:
        os.umask(old_mask)
    assert set(modes.values()) == {oct(0o644)}, modes


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
    r.assert_outcomes(passed=2, failed=2)  # 0 and -20 dBFS at 8 kbps pass; both 16 kbps calls time out
    assert "codec 'flaky' at 16 kbps did not return within 2 s (--codec-timeout)" in r.stdout.str()
    doc = latest(pytester)
    assert doc["run"]["finished"] and {x["bitrate_kbps"] for x in doc["records"]} == {8.0}
    assert len(doc["run"]["errors"]) == 2 and wall_s < 120


def test_codec_timeout_must_be_seconds(run):
    r = run("--codec-timeout=soon", "--collect-only")
    assert r.ret == pytest.ExitCode.USAGE_ERROR and "--codec-timeout: 'soon'" in r.stderr.str()
