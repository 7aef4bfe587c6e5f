import json
import os
import subprocess
import sys
import textwrap

import pytest

from codec_conformance.cli import main
from codec_conformance.results.contract import load_results, make_record
from codec_conformance.results.run_folder import RunRecorder, recover_from_journal
from tests.helpers import child_env as _child_env
from tests.results_helpers import limited as _limited, rec_reliability


def rec(metric="pesq", value=3.0, oracle=3.5, hib=True, br=6.0, codec="c"):
    return make_record(codec=codec, bitrate_kbps=br, suite="noise", condition={"kind": "white", "snr_db": 10,
                       "gain_db": None, "rt60_s": None, "level_dbfs": None}, metric=metric,
                       higher_is_better=hib, value=value, oracle=oracle, n_items=4, test_id="t")


def test_recorder_journal_survives_interruption(tmp_path):
    r = RunRecorder(tmp_path / "run", {"id": "run", "seed": 0})
    r.add({"records": [rec()], "codecs": [{"name": "c"}]})
    r.add({"records": [rec(metric="stoi")]})
    doc = load_results(tmp_path / "run")  # written after every test: valid without finish()
    assert doc["run"]["finished"] is None and len(doc["records"]) == 2
    with open(tmp_path / "run" / "journal.jsonl", "a") as f:
        f.write('{"records": [tor')  # a torn last line from a killed writer
    again = recover_from_journal(tmp_path / "run")
    assert len(again["records"]) == 2


# ----------------------------------------------------------------------
# Faults and bad input: malformed results files, two processes on one run folder, resume, write
# errors, hung codecs, file permissions (the battery of docs/reliability.md; the report's escaping
# is in tests/unit/report/test_html.py).


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


# ---------------------------------------------------------------- 6. resume never loses records
def test_recover_dedupes_a_rerun_test_and_keeps_finished(tmp_path):
    run_dir = tmp_path / "run"
    r = RunRecorder(run_dir, {"id": "run"})
    tests = [f"t::{k}" for k in range(4)]
    for t in tests:
        r.add({"records": [rec_reliability(test_id=t), rec_reliability(metric="stoi", test_id=t)]})
    r.add({"records": [rec_reliability(test_id=tests[0], value=2.0), rec_reliability(metric="stoi", test_id=tests[0])]})  # ran again
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
    r.add({"records": [rec_reliability(test_id="t::0")]})
    r.close()
    with open(run_dir / "journal.jsonl", "a") as f:
        f.write(json.dumps({"records": [rec_reliability(test_id="t::1")]}) + "\n")
    old = load_results(run_dir)
    r2 = RunRecorder(run_dir, {"id": "run"}, old=old)
    r2.close()
    assert sorted(x["test_id"] for x in load_results(run_dir)["records"]) == ["t::0", "t::1"]


# ---------------------------------------------------------------- 7. write errors
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


# ---------------------------------------------------------------- 9. permissions
def test_results_merge_and_report_have_the_same_ordinary_permissions(tmp_path):
    from codec_conformance.report import write_html
    old_mask = os.umask(0o022)
    try:
        r = RunRecorder(tmp_path / "run", {"id": "run"})
        r.add({"records": [rec_reliability()], "codecs": [{"name": "c", "sample_rate": 16000, "bitrates_kbps": [6.0]}]})
        r.finish()
        r.close()
        html = write_html(tmp_path / "run")
        assert main(["merge", str(tmp_path / "run"), str(tmp_path / "run"), "-o", str(tmp_path / "m.json")]) == 0
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (r.results_path, html, tmp_path / "m.json")}
    finally:
        os.umask(old_mask)
    assert set(modes.values()) == {oct(0o644)}, modes


# ---------------------------------------------------------------- plugin end to end (5, 6, 7, 8)


# ----------------------------------------------------------------------
# Verdict integrity: the cache never serves a wrong value (keys carry what changes the output,
# entries carry a checksum), a factory's options are never dropped, only real float output is
# measured, and non-finite numbers become nulls with a reason instead of crashing the session.


def test_results_recorder_never_raises_on_non_finite_payload(tmp_path):
    from codec_conformance.results.run_folder import RunRecorder
    rec = RunRecorder(tmp_path / "run", {"id": "run", "errors": []})
    rec.add({"records": [], "curves": [{"kind": "k", "x": [1.0], "y": [float("nan")]}]})
    doc = json.loads((tmp_path / "run" / "results.json").read_text())
    assert doc["curves"][0]["y"] == [None]
    assert "non-finite" in doc["run"]["errors"][0]["message"]
