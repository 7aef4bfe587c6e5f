"""Joining results documents: the shards of one run (or, when asked, several runs) into one."""
from __future__ import annotations

from typing import Any

from ..errors import ConformanceError
from .contract import SCHEMA, describe_key, record_key
from .run_folder import curve_key

# settings that may differ between the shards of one run (which shard, where it wrote)
SHARD_SETTINGS = ("shard_id", "num_shards", "shard_costs", "report_dir", "cache_dir", "no_cache", "resume",
                  "timeout", "offline", "model_mirror", "device")


def check_mergeable(docs: list[dict], names: list[str], allow_different: bool = False) -> None:
    """Refuse what would make a merged verdict wrong: a file holding one record key twice, and,
    unless ``allow_different``, files of runs with other settings (codecs, profile, seed, ...) or
    the same record with another value in two files. Each refusal names the files and the fix."""
    for doc, name in zip(docs, names):
        seen: dict[tuple, int] = {}
        for i, r in enumerate(doc.get("records", [])):
            k = record_key(r)
            if k in seen:
                raise ConformanceError(f"{name}: records[{seen[k]}] and records[{i}] are the same record "
                                       f"({describe_key(k)}); a results file holds each record once")
            seen[k] = i
    if allow_different:
        return
    first = docs[0]["run"].get("settings") or {}
    for doc, name in zip(docs[1:], names[1:]):
        other = doc["run"].get("settings") or {}
        differ = sorted(k for k in set(first) | set(other)
                        if k not in SHARD_SETTINGS and first.get(k) != other.get(k))
        if differ:
            shown = "; ".join(f"{k}: {first.get(k)!r} vs {other.get(k)!r}" for k in differ[:5])
            raise ConformanceError(f"{names[0]} and {name} are runs with other settings ({shown}): their merge "
                                   "would mix them under one verdict; merge shards of one run, or pass "
                                   "--allow-different-runs to join different runs on purpose")
    values: dict[tuple, tuple[str, Any]] = {}
    for doc, name in zip(docs, names):
        for r in doc.get("records", []):
            k = record_key(r)
            if k in values and values[k][1] != r.get("value"):
                raise ConformanceError(f"{values[k][0]} and {name} both hold {describe_key(k)} with other values "
                                       f"({values[k][1]} vs {r.get('value')}); merge shards that split the tests, "
                                       "or pass --allow-different-runs to let the later file win")
            values[k] = (name, r.get("value"))


def merge_results(docs: list[dict], names: list[str] | None = None, allow_different: bool = False) -> dict:
    """Join shards of one run (or, with ``allow_different``, several runs): the runs' records
    (later file wins where ``allow_different`` lets two files hold one record), errors, per-test
    durations and devices; the rest of ``run`` is the first file's, and ``run.merged_sources``
    says where each part came from. See :func:`check_mergeable` for what is refused."""
    if not docs:
        raise ValueError("nothing to merge")
    names = names or [str(d["run"].get("id")) for d in docs]
    check_mergeable(docs, names, allow_different)
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
    out["run"]["merged_sources"] = [{"id": d["run"].get("id"), "file": n, "shard": d["run"].get("shard"),
                                     "config_hash": d["run"].get("config_hash"), "records": len(d.get("records", []))}
                                    for d, n in zip(docs, names)]
    if allow_different:
        out["run"]["merged_different_runs"] = True
    out["run"]["finished"] = None if any(d["run"].get("finished") is None for d in docs) else \
        max(d["run"]["finished"] for d in docs)
    out["codecs"], out["records"], out["curves"] = list(codecs.values()), list(recs.values()), list(curves.values())
    return out
