"""Joining results documents: the shards of one run (or several runs) into one."""
from __future__ import annotations

from typing import Any

from .contract import SCHEMA, record_key
from .run_folder import curve_key


def merge_results(docs: list[dict]) -> dict:
    """Join shards of one run (or several runs): records deduplicated by key, later wins; the
    runs' errors, per-test durations and devices are joined too (the rest of ``run`` is the
    first file's)."""
    if not docs:
        raise ValueError("nothing to merge")
    out: dict[str, Any] = {"schema": SCHEMA, "run": dict(docs[0]["run"]), "codecs": [], "metrics": {}, "conditions": {},
           "records": [], "curves": []}
    codecs: dict[str, dict] = {}
    recs: dict[tuple, dict] = {}
    curves: dict[tuple, dict] = {}
    for d in docs:
        for block in ("metrics", "conditions"):
            out[block].update(d.get(block) or {})
        for c in d.get("codecs", []):
            codecs[c["name"]] = c
        for r in d.get("records", []):
            recs[record_key(r)] = r
        for c in d.get("curves", []):
            curves[curve_key(c)] = c
        for k, v in d["run"].get("evaluators", {}).items():
            out["run"].setdefault("evaluators", {})[k] = v
    # what each shard knew of its own tests: errors (the verdict), durations (--codec-shard-costs),
    # devices (run.device)
    errors: list = []
    durations: dict = {}
    devices: set[str] = set()
    for d in docs:
        errors += [e for e in d["run"].get("errors") or [] if e not in errors]
        durations.update(d["run"].get("durations") or {})
        devices |= set(filter(None, str(d["run"].get("device") or "").split(",")))
    out["run"]["errors"] = errors
    if durations:
        out["run"]["durations"] = durations
    out["run"]["device"] = ",".join(sorted(devices)) or None
    out["run"]["merged_from"] = [d["run"].get("id") for d in docs]
    out["run"]["finished"] = None if any(d["run"].get("finished") is None for d in docs) else \
        max(d["run"]["finished"] for d in docs)
    out["codecs"], out["records"], out["curves"] = list(codecs.values()), list(recs.values()), list(curves.values())
    return out
