"""The degradation ladder against the gate (issue 24, item 4): runs the suites on every ladder
rung (codec_conformance/codecs/ladder.py) and seed, and writes which physics claims held: for each
rung and claimed check group, on how many seeds the group failed (a must-fail claim) or passed (a
must-pass claim), plus every group the rung failed without a claim.

    python benchmarks/bench_ladder.py                                  # every rung, seeds 0-4, all suites
    python benchmarks/bench_ladder.py --seeds 0 -k "frequency_response or homogeneity or additivity or token"
    python benchmarks/bench_ladder.py --rungs lowpass4k,mnru10 --seeds 0-2

Each run is ``pytest suites/ --codec=ladder:<rung> --codec-seed=S -q --codec-report-dir=...`` in
a subprocess, one at a time (``-n 2`` workers by default). Outcomes are kept in
docs/ladder-runs.json (merged across invocations, so the ladder can be run in pieces: a newer
run of a rung and seed replaces the groups it ran), and the table is written to docs/ladder.md
and printed. Without the ``ladder`` entry point installed, rungs are selected as
``codec_conformance.codecs.ladder:<rung>`` (the same codecs).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codec_conformance.codecs.ladder import RUNGS  # noqa: E402

RUNS_FILE = ROOT / "docs" / "ladder-runs.json"
TABLE_FILE = ROOT / "docs" / "ladder.md"


def parse_seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def codec_spec(rung: str) -> str:
    from codec_conformance.registry import CODEC_GROUP, _eps
    return f"ladder:{rung}" if "ladder" in _eps(CODEC_GROUP) else f"codec_conformance.codecs.ladder:{rung}"


def group_of(rec: dict) -> tuple[str, str, str]:
    """(suite, thresholds key of the condition, metric) of a record."""
    from codec_conformance.catalogue import suite as suite_info
    try:
        key = suite_info(rec["suite"]).key(rec["condition"])
    except Exception:  # noqa: BLE001  (a suite this version does not know)
        key = str(rec.get("condition", {}).get("kind", "?"))
    return rec["suite"], key, rec["metric"]


def outcomes(results: dict) -> dict[str, dict[str, int]]:
    """Per check group ("suite|key|metric"): how many gated records failed, passed (or had no
    limit: counted as not failed)."""
    out: dict[str, dict[str, int]] = {}
    for rec in results.get("records", []):
        if rec.get("gated") is False:
            continue
        g = "|".join(group_of(rec))
        row = out.setdefault(g, {"failed": 0, "passed": 0, "unlimited": 0})
        if rec.get("passed") is False:
            row["failed"] += 1
        elif rec.get("passed") is True:
            row["passed"] += 1
        else:
            row["unlimited"] += 1
    return out


def run_one(rung: str, seed: int, k: str | None, workers: int, extra: list[str]) -> tuple[dict, float, int]:
    with tempfile.TemporaryDirectory(prefix=f"ladder-{rung}-{seed}-") as tmp:
        reports = Path(tmp) / "reports"
        cmd = [sys.executable, "-m", "pytest", "suites/", f"--codec={codec_spec(rung)}", f"--codec-seed={seed}",
               "-q", "-p", "no:cacheprovider", "-p", "no:randomly", f"--codec-report-dir={reports}", *extra]
        if workers > 1:
            cmd += ["-n", str(workers)]
        if k:
            cmd += ["-k", k]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        res = reports / "latest" / "results.json"
        if not res.exists():
            cands = sorted(reports.glob("*/results.json"))
            res = cands[-1] if cands else res
        if not res.exists():
            tail = "\n".join((p.stdout + p.stderr).splitlines()[-15:])
            raise SystemExit(f"{rung} seed {seed}: no results.json (exit {p.returncode})\n{tail}")
        return outcomes(json.loads(res.read_text())), wall, p.returncode


def matches(pattern: tuple, group: str) -> bool:
    return all(fnmatch.fnmatchcase(part, pat) for part, pat in zip(group.split("|"), pattern))


def claim_result(pattern: tuple, want: str, seeds: dict[str, dict]) -> tuple[int, int]:
    """(seeds on which the claim held, seeds on which the group ran)."""
    held = ran = 0
    for groups in seeds.values():
        hit = [row for g, row in groups.items() if matches(pattern, g)]
        if not hit:
            continue
        ran += 1
        failed = sum(r["failed"] for r in hit)
        held += (failed > 0) if want == "must_fail" else (failed == 0)
    return held, ran


def table(store: dict) -> str:
    lines = ["| rung | kind | claim | check group (suite, key, metric) | held on | result |",
             "|---|---|---|---|---|---|"]
    for name, r in RUNGS.items():
        seeds = store.get(name, {})
        if not seeds:
            lines.append(f"| {name} | {r.kind} | — | (not run) | | |")
            continue
        claimed = [(want, p) for want in ("must_fail", "must_pass") for p in getattr(r, want)]
        for want, p in claimed:
            held, ran = claim_result(p, want, seeds)
            verb = "failed" if want == "must_fail" else "passed"
            res = "not run" if ran == 0 else ("HELD" if held == ran else "BROKEN")
            lines.append(f"| {name} | {r.kind} | {want.replace('_', ' ')} | {', '.join(p)} | "
                         f"{verb} on {held} of {ran} seeds | {res} |")
        # failures without a claim (what else the gate caught)
        other: dict[str, int] = {}
        for groups in seeds.values():
            for g, row in groups.items():
                if row["failed"] and not any(matches(p, g) for _, p in claimed):
                    other[g] = other.get(g, 0) + 1
        for g, n in sorted(other.items()):
            blind = " (listed blind spot)" if any(matches(p, g) for p in r.blind) else ""
            lines.append(f"| {name} | {r.kind} | no claim | {', '.join(g.split('|'))} | "
                         f"failed on {n} of {len(seeds)} seeds{blind} | caught |")
    return "\n".join(lines)


def summary(store: dict) -> str:
    """One line: how many claimed cells held on every seed they ran, by kind of claim."""
    counts = {"must_fail": [0, 0], "must_pass": [0, 0]}
    broken = []
    for name, r in RUNGS.items():
        seeds = store.get(name, {})
        for want in counts:
            for p in getattr(r, want):
                held, ran = claim_result(p, want, seeds)
                if ran:
                    counts[want][1] += 1
                    counts[want][0] += held == ran
                    if held != ran:
                        broken.append(f"{name} {want.replace('_', ' ')} {'/'.join(p)} ({held} of {ran})")
    n_seeds = sorted({len(v) for v in store.values()})
    return (f"**Must fail: {counts['must_fail'][0]} of {counts['must_fail'][1]} cells held on every seed; must pass: "
            f"{counts['must_pass'][0]} of {counts['must_pass'][1]}** (seeds per rung: {', '.join(map(str, n_seeds))})"
            + (f"; BROKEN: {'; '.join(broken)}" if broken else "; none broken") + ".")


def write_doc(store: dict, meta: dict) -> None:
    blind = [f"- **{n}**: {', '.join('/'.join(p) for p in r.blind)}" for n, r in RUNGS.items() if r.blind]
    notes = [f"- **{n}** ({r.description}): " + " — ".join(r.notes) for n, r in RUNGS.items()]
    text = "\n".join([
        "# The degradation ladder",
        "",
        "Known degradations, shipped as codecs (`--codec=ladder:<rung>`, codec_conformance/codecs/ladder.py),",
        "and whether the gate catches each one. A rung MUST fail a claimed check group (at least one gated",
        "record of the group fails) or MUST pass it (every record of the group passes); the claims are",
        "physics against the packaged default.toml (notes marked \"(default)\" rest on its numbers). A",
        "BROKEN row is a gate (or ladder) bug to look into; \"no claim ... caught\" rows list what else",
        "failed.",
        "",
        "The packaged default.toml is derived from anchors (scripts/calibrate_default.py, docs/thresholds.md):",
        "noise robustness no worse than MNRU at Q = 20 dB (`ladder:mnru20`), a frequency response inside",
        "MNRU's and Opus 64 kbps', linearity no worse than Opus at 6 kbps. So `mnru10` must fail what",
        "`mnru20` passes, and `mnru30` must pass it.",
        "",
        "Written by `benchmarks/bench_ladder.py`; outcomes in docs/ladder-runs.json. Last invocation:",
        meta.get("last") or f"`{meta['command']}` ({meta['wall_s']:.0f} s, {meta['when']}).",
        "",
        summary(store),
        "",
        table(store),
        "",
        "## Blind spots (degraded, but inside default.toml)",
        "",
        *blind,
        "",
        "## The argument for each claim",
        "",
        *notes,
        "",
    ])
    TABLE_FILE.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rungs", default=",".join(RUNGS), help="comma-separated rungs (default: all)")
    ap.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,2 (default 0-4)")
    ap.add_argument("-k", default=None, help="pytest -k expression restricting the suites")
    ap.add_argument("--workers", type=int, default=2, help="pytest-xdist workers per run (default 2; 1: none)")
    ap.add_argument("--fresh", action="store_true", help="ignore the stored outcomes of earlier invocations")
    ap.add_argument("--table-only", action="store_true", help="rewrite docs/ladder.md from the stored outcomes "
                                                              "(after a change of the claims), running nothing")
    ap.add_argument("extra", nargs="*", help="more pytest arguments (after --)")
    a = ap.parse_args(argv)
    rungs = [r for r in a.rungs.split(",") if r]
    unknown = [r for r in rungs if r not in RUNGS]
    if unknown:
        ap.error(f"unknown rungs {unknown}; rungs: {', '.join(RUNGS)}")
    store: dict = {} if a.fresh or not RUNS_FILE.exists() else json.loads(RUNS_FILE.read_text())
    if a.table_only:  # the claims changed, the runs did not: the table again from the stored outcomes
        last = next((line for line in TABLE_FILE.read_text().splitlines() if line.startswith("`python ")), "")
        write_doc(store, {"last": last})
        print(table(store))
        return 0
    t_all = time.perf_counter()
    for rung in rungs:
        for seed in parse_seeds(a.seeds):
            groups, wall, rc = run_one(rung, seed, a.k, a.workers, a.extra)
            slot = store.setdefault(rung, {}).setdefault(str(seed), {})
            slot.update(groups)  # a newer run replaces the groups it ran
            failed = sorted(g for g, row in groups.items() if row["failed"])
            print(f"{rung:16} seed {seed}: {wall:6.1f} s, exit {rc}, {len(groups)} groups, "
                  f"failed: {', '.join(failed) or 'none'}", flush=True)
            RUNS_FILE.write_text(json.dumps(store, indent=1, sort_keys=True))
    wall = time.perf_counter() - t_all
    cmd = "python benchmarks/bench_ladder.py " + " ".join(
        ([f"--rungs {a.rungs}"] if a.rungs != ",".join(RUNGS) else []) + [f"--seeds {a.seeds}"]
        + ([f'-k "{a.k}"'] if a.k else []))
    write_doc(store, {"command": cmd, "wall_s": wall, "when": time.strftime("%Y-%m-%d")})
    print(table(store))
    print(f"\n{len(rungs)} rungs x {len(parse_seeds(a.seeds))} seeds in {wall:.0f} s; table: {TABLE_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
