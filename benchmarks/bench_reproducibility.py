"""Reproducibility, cold: the smoke profile three times, each with its own empty cache directory
(nothing can be served from an earlier run): single-process, under ``-n 2``, and single-process
again while another process keeps one core busy. Every record's value and oracle are compared
across the runs; prints the number of records that differ (goal 0) and lists them.

    python benchmarks/bench_reproducibility.py [--codec opus] [--seed 0]

Takes about 3x a cold smoke run (10-15 min on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUSY = "import time\nt = time.time()\nwhile time.time() - t < 3600:\n    pass\n"


def run_suite(tmp: Path, name: str, codec: str, seed: int, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "pytest", "suites/", f"--codec={codec}", "-q", "-p", "no:cacheprovider",
           f"--codec-seed={seed}", f"--codec-cache-dir={tmp / name / 'cache'}",
           f"--codec-report-dir={tmp / name / 'reports'}", *extra]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    results = tmp / name / "reports" / "latest" / "results.json"
    if not results.is_file():
        sys.exit(f"{name}: no results.json (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    doc = json.loads(results.read_text())
    tail = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    print(f"{name}: {wall:.1f} s, exit {p.returncode}, {len(doc['records'])} records, {tail}", flush=True)
    return {(r["test_id"], r["metric"]): (r.get("value"), r.get("oracle")) for r in doc["records"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codec", default="opus")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cc-repro-"))
    runs = {"single-process": run_suite(tmp, "single", a.codec, a.seed, []),
            "-n 2": run_suite(tmp, "xdist", a.codec, a.seed, ["-n", "2"])}
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        runs["single-process, CPU loaded"] = run_suite(tmp, "loaded", a.codec, a.seed, [])
    finally:
        busy.kill()
        busy.wait()
    names = list(runs)
    base = runs[names[0]]
    keys = sorted(set().union(*runs.values()))
    differing = [k for k in keys if any(r.get(k, "missing") != base.get(k, "missing") for r in runs.values())]
    for k in differing:
        print(f"  differs: {k[0]} [{k[1]}]: " + "; ".join(f"{n}: {runs[n].get(k, 'missing')}" for n in names))
    print(f"records compared: {len(keys)} (value and oracle) across {len(names)} cold runs "
          f"({', '.join(names)}); differing records: {len(differing)}")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
