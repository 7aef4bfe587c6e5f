"""Soak (issue #8): the smoke profile three times in a row under `-n 2` with the cache on, in a
fresh cache directory. Prints, per run, wall time and outcome; then whether every record's value
is identical across runs, processes left behind, open file descriptors of this process before
and after, and whether every cache entry reads back.

    python benchmarks/soak.py [--codec opus] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def children() -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout.splitlines()[1:]
    return {int(line.split()[0]) for line in out if "pytest" in line and "soak" not in line and str(os.getpid()) != line.split()[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--codec", default="opus")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cc-soak-"))
    fds_before = len(os.listdir("/proc/self/fd"))
    procs_before = children()
    values = []
    for i in range(a.runs):
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "pytest", "suites/", f"--codec={a.codec}", "-n", "2", "-q",
                            "-p", "no:cacheprovider", f"--codec-cache-dir={tmp / 'cache'}",
                            f"--codec-report-dir={tmp / 'reports'}"], cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        doc = json.loads((tmp / "reports" / "latest" / "results.json").read_text())
        values.append({(r["test_id"], r["metric"]): r["value"] for r in doc["records"]})
        print(f"run {i + 1}: {wall:.1f} s, exit {p.returncode}, {len(doc['records'])} records, "
              f"{p.stdout.strip().splitlines()[-1]}", flush=True)
    same = all(v == values[0] for v in values[1:])
    time.sleep(1)
    leaked = children() - procs_before
    bad = 0
    files = [f for f in (tmp / "cache").rglob("*") if f.is_file()]
    for f in files:
        try:
            json.loads(f.read_text()) if f.suffix == ".json" else np.load(f, allow_pickle=False)
        except Exception:
            bad += 1
    tmp_left = [f for f in files if f.name.startswith(".tmp-")]
    print(f"identical results across {a.runs} runs: {same} ({len(values[0])} values)")
    print(f"processes left behind: {len(leaked)}; open fds here before/after: {fds_before}/{len(os.listdir('/proc/self/fd'))}")
    print(f"cache: {len(files)} entries, {bad} unreadable, {len(tmp_left)} partial writes left")
    return 0 if same and not leaked and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
