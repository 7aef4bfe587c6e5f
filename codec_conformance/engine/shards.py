"""Which shard runs which test (``--codec-shard-id`` / ``--codec-num-shards``): a deterministic
greedy longest-processing-time (LPT) assignment of the selected tests over their costs.

Each shard (a CI job, a Slurm array task, a Kubernetes pod) computes the whole partition itself
from the same inputs and keeps its own part, so the shards need not talk to each other: the same
test ids and costs give the same partition in every process; the parts are disjoint and together
hold every test.

A test's cost is, in order of preference:

1. its measured duration in an earlier run (``--codec-shard-costs=<results.json>``: the run's
   ``run.durations``, seconds per test, setup + call + teardown);
2. its declared relative cost (the suite's ``SUITE.item_cost`` / ``SUITE.cost``, seconds on 2
   cores, standard profile), scaled to the measured seconds when some tests were measured;
3. nothing: then every test costs the same and the assignment is round-robin in id order.

Pure Python, standard library only, no pytest: importable and testable on its own.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

__all__ = ["partition", "assign", "shard_costs", "balance", "load_durations", "hash_assign"]


def _finite_non_negative(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    x = float(v)
    return x if math.isfinite(x) and x >= 0 else None


def shard_costs(test_ids: Iterable[str], measured: Mapping[str, float] | None = None,
                declared: Mapping[str, float] | None = None) -> dict[str, float]:
    """The cost of every test in ``test_ids``: measured seconds where known; else the declared
    relative cost, scaled by (measured seconds / declared cost) over the tests that have both, so
    measured and declared costs are in one unit; else 1.0 for every test (when nothing at all is
    known) or the mean known cost (when only some tests are known)."""
    ids = list(dict.fromkeys(test_ids))
    meas = {t: c for t in ids if (c := _finite_non_negative((measured or {}).get(t))) is not None}
    decl = {t: c for t in ids if (c := _finite_non_negative((declared or {}).get(t))) is not None}
    both = [t for t in ids if t in meas and t in decl]
    scale = 1.0
    if both:
        d = math.fsum(decl[t] for t in both)
        if d > 0:
            scale = math.fsum(meas[t] for t in both) / d
    known: dict[str, float] = {}
    for t in ids:
        if t in meas:
            known[t] = meas[t]
        elif t in decl:
            known[t] = decl[t] * scale
    fill = math.fsum(known.values()) / len(known) if known else 1.0
    return {t: known.get(t, fill) for t in ids}


def assign(costs: Mapping[str, float], num_shards: int) -> dict[str, int]:
    """{test id: shard} by greedy LPT: tests in decreasing cost (ties: by id), each to the shard
    with the least total so far (ties: the lowest shard index). Depends only on the ids and costs,
    not on their order in ``costs``; the slowest shard is at most 4/3 of the optimum's (Graham)."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, not {num_shards}")
    load = [0.0] * num_shards
    out: dict[str, int] = {}
    for t in sorted(costs, key=lambda t: (-float(costs[t]), t)):
        k = min(range(num_shards), key=lambda i: (load[i], i))
        out[t] = k
        load[k] += float(costs[t])
    return out


def hash_assign(test_ids: Iterable[str], num_shards: int) -> dict[str, int]:
    """The assignment by id alone (SHA-256 of the id mod the shard count): what shards were before
    costs were used; kept for comparison (benchmarks/bench_shard_balance.py)."""
    import hashlib
    return {t: int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) % num_shards for t in test_ids}


def balance(costs: Mapping[str, float], assignment: Mapping[str, int], num_shards: int) -> tuple[list[float], float]:
    """(each shard's total cost, slowest shard / mean shard): 1.0 is a perfect balance."""
    load = [0.0] * num_shards
    for t, k in assignment.items():
        load[k] += float(costs[t])
    mean = math.fsum(load) / num_shards
    return load, (max(load) / mean if mean > 0 else 1.0)


def load_durations(path: str | Path, key: Callable[[str], str] = lambda s: s) -> dict[str, float]:
    """Measured seconds per test from an earlier run's results.json (or its run folder):
    ``run.durations`` ({node id: seconds}), with each node id turned into a test id by ``key``
    (durations of one test under several node ids are added). Raises ValueError naming the file
    when it cannot be read or has no durations."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{p}: cannot read the durations of an earlier run ({exc})") from None
    run = doc.get("run") if isinstance(doc, dict) else None
    durations = run.get("durations") if isinstance(run, dict) else None
    if not isinstance(durations, dict) or not durations:
        raise ValueError(f"{p}: no per-test durations (run.durations) in this results file; give the "
                         "results.json of a finished run (or of a merge of its shards)")
    out: dict[str, float] = {}
    for nodeid, secs in durations.items():
        x = _finite_non_negative(secs)
        if x is not None:
            k = key(str(nodeid))
            out[k] = out.get(k, 0.0) + x
    return out


def partition(test_ids: Sequence[str], num_shards: int, measured: Mapping[str, float] | None = None,
              declared: Mapping[str, float] | None = None) -> dict[str, int]:
    """{test id: shard} for ``test_ids``: :func:`shard_costs`, then :func:`assign`."""
    return assign(shard_costs(test_ids, measured, declared), num_shards)

