"""Benchmark of a conformance run (issue #7). Prints, for each codec, in one run:

- wall time of a cold run (fresh cache), and the summed pure codec and evaluator time inside it;
- the overhead ratio wall / (codec + evaluator time);
- a warm-cache rerun's wall time as a fraction of the cold run;
- the `-n 2` speedup (cold, fresh cache, 2 xdist workers);
- peak RSS per worker;
- the same noise-suite work as a naive loop (benchmarks/naive_loop.py: one round trip and one
  evaluation per test, no cache, no batching) against our noise suite alone, cold: naive / ours.

    python benchmarks/bench_suite.py                       # standard profile, opus + random-init EnCodec
    python benchmarks/bench_suite.py --profile smoke --codec opus
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

ROOT = Path(__file__).resolve().parent.parent


def pytest_run(codec: str, extra: list[str], profile: str, cache: Path, reports: Path, k: str | None = None):
    name, _, weights = codec.partition("@")
    cmd = [sys.executable, "-m", "pytest", "suites/", f"--codec={name}", f"--codec-profile={profile}", "-q",
           "-p", "no:cacheprovider", f"--codec-cache-dir={cache}", f"--codec-report-dir={reports}", *extra]
    if weights:
        cmd.append(f"--codec-weights={weights}")
    if k:
        cmd += ["-k", k]
    env = dict(os.environ, CODEC_CONFORMANCE_CACHE=str(cache.parent / "corpus-cache"))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    res = reports / "latest" / "results.json"
    doc = json.loads(res.read_text()) if res.is_file() else {"run": {}}
    tail = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr[-300:]
    return wall, doc["run"].get("timing", {}), tail


def bench(codec: str, profile: str, naive: bool) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    # build the embedded corpus once, outside every timing
    pytest_run(codec, ["--collect-only"], profile, tmp / "c0", tmp / "r0")
    cold, t, tail = pytest_run(codec, [], profile, tmp / "c1", tmp / "r1")
    warm, _, _ = pytest_run(codec, [], profile, tmp / "c1", tmp / "r2")
    par, tp, _ = pytest_run(codec, ["-n", "2"], profile, tmp / "c3", tmp / "r3")
    res = {"codec": codec, "profile": profile, "cold_wall_s": cold, "codec_s": t.get("codec_s"),
           "evaluator_s": t.get("evaluator_s"),
           "evaluator_s_by_metric": {k: round(v, 1) for k, v in sorted(t.get("evaluator_s_by_metric", {}).items(),
                                                                         key=lambda kv: -kv[1])},
           "overhead_ratio": cold / max(1e-9, t.get("codec_s", 0) + t.get("evaluator_s", 0)),
           "warm_fraction": warm / cold, "n2_wall_s": par, "n2_speedup": cold / par,
           "peak_rss_mb": {**t.get("peak_rss_mb", {}), **{f"n2-{k}": v for k, v in tp.get("peak_rss_mb", {}).items()}},
           "outcome": tail}
    if naive:
        ours, _, _ = pytest_run(codec, [], profile, tmp / "c4", tmp / "r4", k="noise_robustness")
        name, _, weights = codec.partition("@")
        cmd = [sys.executable, str(ROOT / "benchmarks" / "naive_loop.py"), "--codec", name, "--profile", profile]
        if weights:
            cmd += ["--weights", weights]
        env = dict(os.environ, CODEC_CONFORMANCE_CACHE=str(tmp / "corpus-cache"))
        t0 = time.perf_counter()
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        naive_wall = time.perf_counter() - t0
        res.update({"ours_noise_suite_wall_s": ours, "naive_wall_s": naive_wall,
                    "naive_over_ours": naive_wall / ours, "naive_detail": out.stdout.strip()[-300:]})
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="standard")
    ap.add_argument("--codec", action="append", help="NAME or NAME@random-init (repeatable)")
    ap.add_argument("--no-naive", action="store_true")
    a = ap.parse_args()
    codecs = a.codec or ["opus", "encodec@random-init"]
    print(f"machine: {os.cpu_count()} CPUs; profile {a.profile}")
    for c in codecs:
        r = bench(c, a.profile, not a.no_naive)
        print(json.dumps(r, indent=1))
        print(f"{c}: cold {r['cold_wall_s']:.1f} s (codec {r['codec_s']:.1f} s + evaluators {r['evaluator_s']:.1f} s), "
              f"overhead {r['overhead_ratio']:.2f}x, warm rerun {100 * r['warm_fraction']:.1f}% of cold, "
              f"-n 2 speedup {r['n2_speedup']:.2f}x, peak RSS {max(r['peak_rss_mb'].values() or [0]):.0f} MB"
              + (f", naive/ours {r['naive_over_ours']:.2f}x" if 'naive_over_ours' in r else ""), flush=True)


if __name__ == "__main__":
    main()
