"""The Slurm recipe (examples/slurm/, docs/slurm.md) on a real Slurm: a single-node cluster on
this machine (scripts/slurm_single_node.sh: slurm-wlm and munge from Debian's packages), the
array over the Opus smoke suite in 2 shards, the dependent merge job, and the merged results
compared with one process's run of the same suite: the same record keys, the same values.

The shards compute everything (an empty cache of their own); the single-process run uses the
user's cache (warm after run-tests.sh's suite run, which ran with -n 2: computed apart).

Needs root and apt-get (or Slurm and munge already installed): skipped with the reason otherwise
(a user's machine). ``CODEC_CONFORMANCE_SLURM=require`` (set by .ci/run) turns a skip into a
failure, so CI cannot pass without running it. Run alone (it keeps 2 cores busy for ~3-5 min):
``pytest tests/integration/test_slurm.py -m slurm``; run-tests.sh does."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codec_conformance.results.contract import load_results, record_key

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "slurm_single_node.sh"
SUBMIT = ROOT / "examples" / "slurm" / "submit.sh"
WAIT_S = 900  # from submission to the merge's end (the single-process run goes on meanwhile)


def cannot(reason: str):
    if os.environ.get("CODEC_CONFORMANCE_SLURM") == "require":
        pytest.fail(f"CODEC_CONFORMANCE_SLURM=require, but: {reason}")
    pytest.skip(reason)


def start_cluster(state: Path) -> dict:
    """Start the single-node cluster with its files under ``state``: the environment its commands
    need; skips (or fails, with CODEC_CONFORMANCE_SLURM=require) with the reason where it cannot."""
    if os.geteuid() != 0:
        cannot("not root: the single-node Slurm test cluster needs root (scripts/slurm_single_node.sh)")
    if not shutil.which("sbatch") and not shutil.which("apt-get"):
        cannot("neither Slurm nor apt-get here: cannot install slurm-wlm and munge")
    env = {**os.environ, "SLURM_TEST_DIR": str(state)}
    try:
        r = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        subprocess.run([str(SCRIPT), "stop"], env=env, timeout=120)
        cannot("Slurm did not start within 10 minutes (scripts/slurm_single_node.sh)")
    if r.returncode != 0:
        subprocess.run([str(SCRIPT), "stop"], env=env, timeout=120)
        cannot(f"Slurm could not be started here: {(r.stderr or r.stdout).strip()[-800:]}")
    return {**env, "SLURM_CONF": str(state / "slurm.conf")}


@pytest.fixture
def slurm(tmp_path_factory):
    """A running single-node cluster (its environment); stopped afterwards, its jobs cancelled."""
    env = start_cluster(tmp_path_factory.mktemp("slurm"))
    try:
        yield env
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=env, timeout=120)


def test_without_root_it_skips_with_the_reason_or_fails_where_required(monkeypatch, tmp_path):
    """(Not marked slurm: runs with the library's tests.) A user's machine skips; CI fails."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("CODEC_CONFORMANCE_SLURM", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not root: the single-node Slurm test cluster needs root"):
        start_cluster(tmp_path)
    monkeypatch.setenv("CODEC_CONFORMANCE_SLURM", "require")
    with pytest.raises(pytest.fail.Exception, match="CODEC_CONFORMANCE_SLURM=require, but: not root"):
        start_cluster(tmp_path)
    assert not list(tmp_path.iterdir())  # nothing was started


def job_state(env, job: str) -> str:
    r = subprocess.run(["scontrol", "show", "job", "-o", job], env=env, capture_output=True, text=True)
    for field in r.stdout.split():
        if field.startswith("JobState="):
            return field.split("=", 1)[1]
    return "UNKNOWN"


def comparable(rec: dict) -> dict:
    """A record as compared: every field (values, intervals, per-item values, verdict, test id)."""
    return json.loads(json.dumps(rec, sort_keys=True))


@pytest.mark.slurm
def test_array_of_two_then_merge_equals_one_process(slurm, tmp_path):
    t0 = time.monotonic()
    out = tmp_path / "out"
    suite = "suites/ --codec=opus -q"
    env = {**slurm, "OUT": str(out), "NUM_SHARDS": "2", "GPUS_PER_SHARD": "0", "PYTHON": sys.executable,
           "PYTHONPATH": str(ROOT), "SUITES": "suites/",
           # a cache of its own: the shards compute everything (not read from the one process's run)
           "CONFORMANCE_ARGS": f"--codec=opus --codec-cache-dir={tmp_path / 'cache-shards'}",
           "SBATCH_ARGS": "--cpus-per-task=1 --mem=1G --time=00:30:00"}
    r = subprocess.run([str(SUBMIT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    array, merge = r.stdout.split()

    # meanwhile, the same suite in one process (no xdist), with the user's cache: run-tests.sh runs
    # this test after `pytest suites/ --codec=opus -n 2`, whose codec outputs and scores it then
    # reads (computed apart from the shards, which start from an empty cache of their own)
    deadline = time.monotonic() + WAIT_S
    single = subprocess.run([sys.executable, "-m", "pytest", *suite.split(), "-p", "no:cacheprovider",
                             f"--codec-report-dir={tmp_path / 'single'}"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                            timeout=WAIT_S)
    assert single.returncode == 0, single.stdout[-3000:] + single.stderr[-2000:]

    while (state := job_state(slurm, merge)) in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
        assert time.monotonic() < deadline, f"merge job {merge} still {state} after {WAIT_S}s"
        time.sleep(2)
    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(out.glob("slurm-*.out")))
    assert state == "COMPLETED", f"merge job {merge}: {state} (array {array}: {job_state(slurm, array)})\n{logs}"

    merged = load_results(out / "merged" / "results.json")
    one = load_results(tmp_path / "single" / "latest" / "results.json")
    assert (out / "merged" / "index.html").is_file()
    # each shard ran its own part: two runs, disjoint tests that together are the whole suite
    shards = [load_results(out / f"shard-{k}" / "latest") for k in (0, 1)]
    tests = [{x["test_id"] for x in d["records"]} for d in shards]
    assert tests[0] and tests[1] and not tests[0] & tests[1]
    assert tests[0] | tests[1] == {x["test_id"] for x in one["records"]}
    assert [d["run"]["shard"] for d in shards] == [{"id": 0, "count": 2}, {"id": 1, "count": 2}]

    mine = {record_key(x): comparable(x) for x in merged["records"]}
    theirs = {record_key(x): comparable(x) for x in one["records"]}
    assert len(mine) == len(merged["records"]) and len(theirs) == len(one["records"])
    assert set(mine) == set(theirs)
    differ = [k for k in theirs if mine[k] != theirs[k]]
    assert not differ, f"{len(differ)} records differ, e.g. {differ[0]}: {mine[differ[0]]} vs {theirs[differ[0]]}"
    assert merged["run"]["errors"] == [] and one["run"]["errors"] == []
    assert set(merged["run"]["durations"]) == set(one["run"]["durations"])  # every shard's durations
    print(f"slurm array of 2 + merge vs one process: {len(mine)} records identical; "
          f"{time.monotonic() - t0:.0f} s")


FAKE_PYTHON = """#!/usr/bin/env bash
# pytest as far as the recipe sees it: a shard's results.json, then exit $FAKE_RC; anything else: Python
if [ "$1 $2" = "-m pytest" ]; then
    for a in "$@"; do case "$a" in --codec-report-dir=*) dir="${a#*=}" ;; --codec-shard-id=*) k="${a#*=}" ;; esac; done
    mkdir -p "$dir/run" && ln -sfn run "$dir/latest"
    printf '{"schema": "codec-conformance/results/1", "run": {"id": "s%s", "finished": "2025-01-01T00:00:00+00:00", "errors": []}, "codecs": [], "records": [], "curves": []}' "$k" > "$dir/run/results.json"
    rc_var="FAKE_RC_$k"
    exit "${!rc_var:-0}"
fi
exec "$REAL_PYTHON" "$@"
"""


@pytest.mark.parametrize("rcs, task_rcs, merge_rc", [((0, 0), (0, 0), 0), ((0, 1), (0, 0), 1), ((2, 0), (2, 0), None)])
def test_recipe_exit_statuses(tmp_path, rcs, task_rcs, merge_rc):
    """(Not marked slurm: the batch scripts run as plain bash with a stand-in pytest.) A shard
    whose checks failed (pytest 1) still succeeds, so afterok starts the merge, which then exits
    1; a shard that could not run (pytest 2) fails its task (Slurm cancels the merge); a missing
    shard makes the merge exit 2."""
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "NUM_SHARDS": "2", "PYTHON": str(fake), "REAL_PYTHON": sys.executable,
           "PYTHONPATH": str(ROOT), **{f"FAKE_RC_{k}": str(rc) for k, rc in enumerate(rcs)}}
    recipe = ROOT / "examples" / "slurm"
    for k in (0, 1):
        r = subprocess.run(["bash", str(recipe / "conformance-array.sbatch")], env={**env, "SLURM_ARRAY_TASK_ID": str(k)},
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == task_rcs[k], r.stderr
        assert (out / f"shard-{k}" / "exitstatus").read_text().strip() == str(rcs[k])
    if merge_rc is None:
        return  # afterok: no merge
    r = subprocess.run(["bash", str(recipe / "conformance-merge.sbatch")], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == merge_rc, r.stderr
    assert json.loads((out / "merged" / "results.json").read_text())["run"]["merged_from"] == ["s0", "s1"]
    assert (out / "merged" / "index.html").is_file()
    (out / "shard-1" / "latest" / "results.json").unlink()
    r = subprocess.run(["bash", str(recipe / "conformance-merge.sbatch")], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "shard 1 has no results" in r.stderr
