"""Shard balance (issue 28): how long the slowest of N shards takes against the mean, from the
measured per-test durations of a finished run (its results.json ``run.durations``), for three
assignments of the same tests:

- by id hash: SHA-256 of the test id mod N (the assignment before issue 28);
- by declared cost: greedy LPT over the suites' declared relative costs (SUITE.item_cost /
  SUITE.cost): what a sharded run gets with no earlier run to go by (the default);
- by measured cost: greedy LPT over the durations themselves (``--codec-shard-costs`` given this
  run's results.json). Evaluated on the durations it was built from, so it is the best case;
  a later run's durations differ by run-to-run noise.

Each shard's time is the sum of its tests' measured durations (setup + call + teardown, as the
run recorded them: under ``-n 2``, with evaluator loading in the first test that needed it), so a
shard's start-up and model loading are not modelled beyond that.

    python -m pytest suites/ --codec=opus --codec-profile=standard -n 2 --codec-report-dir=reports/std-opus
    python benchmarks/bench_shard_balance.py reports/std-opus/latest/results.json --shards 4
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codec_conformance.plugin import shards  # noqa: E402
from codec_conformance.plugin.ids import test_id  # noqa: E402


def declared_costs(argv: list[str]) -> dict[str, float]:
    """{test id: declared cost} of the tests the run's command selects (collected in process)."""
    import pytest

    from codec_conformance.plugin.roles import estimated_cost

    got: dict[str, float] = {}

    class Grab:
        @pytest.hookimpl(trylast=True)
        def pytest_collection_modifyitems(self, items):
            got.update({test_id(it.nodeid): estimated_cost(it) for it in items})

    clean, skip = [], False  # the run's arguments without xdist's -n N
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("-n", "--numprocesses"):
            skip = True
            continue
        if a.startswith("--numprocesses=") or (a.startswith("-n") and a[2:].isdigit()):
            continue
        clean.append(a)
    args = [a for a in clean if not a.startswith("--codec-report-dir")]
    rc = pytest.main([*args, "--collect-only", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"], plugins=[Grab()])
    if rc not in (0, 5) or not got:
        raise SystemExit(f"could not collect the run's tests ({rc}): {shlex.join(args)}")
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", help="results.json (or run folder) of a finished, unsharded run")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    path = Path(a.results)
    path = path / "results.json" if path.is_dir() else path
    doc = json.loads(path.read_text())
    measured = shards.load_durations(path, key=test_id)
    argv = [str(x) for x in doc["run"].get("argv") or []]
    declared = {t: c for t, c in declared_costs(argv).items() if t in measured}
    ids = sorted(measured)
    n = a.shards
    rows = [("by id hash (before)", shards.hash_assign(ids, n)),
            ("by declared cost (default)", shards.partition(ids, n, declared=declared)),
            ("by measured cost (--codec-shard-costs)", shards.partition(ids, n, measured=measured))]
    total = math.fsum(measured.values())
    out = []
    for name, part in rows:
        loads, ratio = shards.balance(measured, part, n)
        out.append({"assignment": name, "slowest_over_mean": round(ratio, 3),
                    "shard_seconds": [round(x, 1) for x in loads]})
    if a.json:
        print(json.dumps({"tests": len(ids), "total_s": round(total, 1), "shards": n, "rows": out}, indent=1))
        return 0
    print(f"{len(ids)} tests, {total:.0f} s measured in all ({doc['run'].get('command')}), {n} shards "
          f"(mean {total / n:.0f} s)\n")
    print("| assignment | slowest / mean | seconds per shard |\n|---|---|---|")
    for r in out:
        print(f"| {r['assignment']} | {r['slowest_over_mean']:.2f} | {', '.join(f'{x:.0f}' for x in r['shard_seconds'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
