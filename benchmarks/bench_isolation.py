"""What running codecs in a worker process costs (issue 29 item 4: --codec-isolation).

Prints medians, thread (the codec in pytest's process) against process (a codec worker):

- the Opus smoke suite, end to end, uncached (``pytest suites/ --codec=opus --codec-no-cache``),
  the two isolations alternating, ``--repeats`` runs each: wall time and the summed codec time
  the run reports (``run.timing.codec_s``: round trips including the pipe for process);
- starting the codec (the worker's interpreter, imports and the factory) and one round trip of
  1 s of speech at 48 kHz with Opus, and of 8 s through a pass-through codec (the pipe alone).

    python benchmarks/bench_isolation.py                  # 3 suite runs each
    python benchmarks/bench_isolation.py --repeats 2 --no-calls -k "not noise"   # the codec-bound suites
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODES = ("thread", "process")


def suite_run(isolation: str, tmp: Path, k: str | None) -> tuple[float, float]:
    """(wall s, codec s) of one uncached Opus smoke run (of the tests ``-k`` selects)."""
    reports = Path(tempfile.mkdtemp(dir=tmp))
    cmd = [sys.executable, "-m", "pytest", "suites/", "--codec=opus", "--codec-profile=smoke", "-q",
           "-p", "no:cacheprovider", "-p", "no:randomly", "--codec-no-cache", f"--codec-report-dir={reports}",
           f"--codec-isolation={isolation}", *(["-k", k] if k else [])]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ))
    wall = time.perf_counter() - t0
    doc = json.loads((reports / "latest" / "results.json").read_text())
    if p.returncode not in (0, 1):
        raise SystemExit(f"the {isolation} run failed ({p.returncode}): {p.stdout[-2000:]}{p.stderr[-2000:]}")
    return wall, float(doc["run"]["timing"]["codec_s"])


def calls(isolation: str, spec: str, seconds: float, n: int) -> tuple[float, float]:
    """(s to build the codec, median s of one round trip of ``seconds`` of audio)."""
    from codec_conformance.engine.session import ConformanceSession
    from codec_conformance.settings import Settings

    s = ConformanceSession(Settings(codecs=[spec], rootdir=str(ROOT), no_cache=True, device="cpu",
                                    isolation=isolation))
    t0 = time.perf_counter()
    rate = s.runner.bitrates(spec)[-1]
    build = time.perf_counter() - t0
    x = (0.3 * np.sin(np.arange(int(seconds * 48000)) * 0.05)).astype(np.float32)
    times = []
    for i in range(n):
        y = x * (1 + i * 1e-3)  # a new input each time: no memo
        t = time.perf_counter()
        s.runner.roundtrip_one(spec, rate, y, 48000)
        times.append(time.perf_counter() - t)
    s.runner.close()
    return build, statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="Opus smoke suite runs per isolation")
    ap.add_argument("--calls", type=int, default=30, help="round trips per micro-benchmark")
    ap.add_argument("-k", default=None, help="only the suite tests this selects (pytest -k)")
    ap.add_argument("--no-calls", action="store_true", help="skip the per-call micro-benchmark")
    args = ap.parse_args()
    for spec, seconds in () if args.no_calls else (("opus", 1.0), ("ladder:identity", 8.0)):
        for mode in MODES:
            build, one = calls(mode, spec, seconds, args.calls)
            print(f"per call (median): {spec:16s} {mode:8s} build {build * 1000:7.0f} ms   round trip of {seconds:g} s "
                  f"{one * 1000:7.2f} ms")
    if args.repeats <= 0:
        return
    tmp = Path(tempfile.mkdtemp(prefix="cc-bench-isolation-"))
    runs: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
    suite_run("thread", tmp, args.k)  # corpus, evaluators and the page cache warm, outside the timings
    for _ in range(args.repeats):
        for mode in MODES:
            runs[mode].append(suite_run(mode, tmp, args.k))
    what = f" -k {args.k!r}" if args.k else ""
    print(f"Opus smoke suite{what}, uncached, {args.repeats} runs each (medians):")
    base = statistics.median(w for w, _ in runs["thread"])
    for mode in MODES:
        wall = statistics.median(w for w, _ in runs[mode])
        codec = statistics.median(c for _, c in runs[mode])
        print(f"  {mode:8s} wall {wall:6.1f} s ({wall / base - 1:+.1%} vs thread)   codec time {codec:6.1f} s   "
              f"runs: {', '.join(f'{w:.1f}' for w, _ in runs[mode])}")


if __name__ == "__main__":
    main()
