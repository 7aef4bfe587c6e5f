"""The results file (``../shared/docs/results-contract.md``): records, curves, journal, merge.

Only the controller process writes files. Each finished test's records are appended to
``journal.jsonl`` at once, and ``results.json`` is rewritten atomically after every test and at
the end, so an interrupted run (Ctrl-C, a killed worker) still leaves a valid results file with
everything that finished and ``run.finished = null``.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = "codec-conformance/results/1"
# Every record's condition carries all of these (null where they do not apply); together with
# codec, bitrate, suite and metric they identify a record (record_key).
CONDITION_FIELDS = ("kind", "snr_db", "gain_db", "rt60_s", "level_dbfs", "source", "mixture", "shift_samples")
DIRECTIONS = ("higher", "lower", "two-sided")  # two-sided: the ideal is 0, |value| lower is better


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def finite_json(obj, where: str = "") -> tuple[object, dict[str, str]]:
    """(a JSON-safe copy of ``obj``, {path: original value} of every non-finite number in it).

    NaN/Inf (Python or NumPy floats, at any depth of dicts, lists, tuples and arrays) become
    None; NumPy scalars and arrays become Python numbers and lists. The notes say where each
    null came from, so a record never shows a made-up number or a silent null."""
    notes: dict[str, str] = {}

    def walk(o, path):
        if isinstance(o, dict):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(o)]
        if type(o).__module__ == "numpy":
            if hasattr(o, "tolist"):
                return walk(o.tolist(), path)
        if isinstance(o, float) and not math.isfinite(o):
            notes[path or "."] = repr(o)
            return None
        return o

    return walk(obj, where), notes


NON_FINITE_WHY = ("the measurement is undefined for this output (e.g. a silent codec output or input: "
                  "a ratio or a log of zero energy)")


def condition_record(kind: str, **fields) -> dict:
    """A record's condition: every field of CONDITION_FIELDS, null where it does not apply."""
    unknown = set(fields) - set(CONDITION_FIELDS)
    if unknown:
        raise ValueError(f"unknown condition fields {sorted(unknown)}; known: {CONDITION_FIELDS}")
    return {"kind": kind, **{k: fields.get(k) for k in CONDITION_FIELDS[1:]}}


def make_record(*, codec: str, bitrate_kbps: float, suite: str, condition: dict, metric: str,
                value, direction: str | None = None, higher_is_better: bool | None = None, oracle=None,
                threshold=None, passed=None, n_items: int = 0, test_id: str = "", gated: bool = True,
                **extra) -> dict:
    """``direction``: higher | lower | two-sided (ideal 0); or give ``higher_is_better`` alone,
    which the record keeps for the results contract (true only for "higher"). ``gated``: false
    for a quantity that is recorded and never gated (no threshold, no baseline regression).
    Every non-finite number in the record (value, oracle, extras such as examples) is written as
    null and listed under ``non_finite`` with ``non_finite_reason``."""
    if direction is None:
        if higher_is_better is None:
            raise ValueError("make_record needs direction (or higher_is_better)")
        direction = "higher" if higher_is_better else "lower"
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r}: use one of {DIRECTIONS}")
    rec = {"codec": codec, "bitrate_kbps": float(bitrate_kbps), "suite": suite,
           "condition": condition_record(**{"kind": None, **condition}), "metric": metric,
           "higher_is_better": direction == "higher", "direction": direction, "gated": bool(gated),
           "value": None if value is None else float(value), "oracle": None if oracle is None else float(oracle),
           "delta": None, "threshold": threshold, "passed": passed, "n_items": int(n_items), "test_id": test_id}
    rec.update(extra)
    rec, notes = finite_json(rec)
    if rec["value"] is not None and rec["oracle"] is not None:
        rec["delta"] = rec["value"] - rec["oracle"]
    if notes:
        rec["non_finite"] = notes
        rec["non_finite_reason"] = NON_FINITE_WHY
    return rec


def direction_of(r: dict) -> str:
    """A record's direction; records written before ``direction`` existed have only
    ``higher_is_better``."""
    return r.get("direction") or ("higher" if r.get("higher_is_better") else "lower")


def worsening(direction: str, base: float, new: float) -> float:
    """How much worse ``new`` is than ``base`` (positive = worse), in the quantity's unit."""
    if direction == "higher":
        return base - new
    if direction == "lower":
        return new - base
    return abs(new) - abs(base)


def record_key(r: dict) -> tuple:
    """The identity of a record: codec id, bitrate, suite, every condition field, metric. The one
    key used by merge, the baseline gate and compare (a field absent from an older file is null)."""
    c = r.get("condition") or {}
    return (str(r["codec"]), round(float(r["bitrate_kbps"]), 6), r["suite"],
            tuple((k, c.get(k)) for k in CONDITION_FIELDS), r["metric"])


def threshold_condition(condition: dict) -> str:
    """The condition key of a thresholds file (``[bitrate."6".<suite>.<this>]``) for a record's
    condition: the mixture of an additivity record, else the condition kind. Used both to look a
    limit up and to write one (--codec-update-thresholds)."""
    return condition.get("mixture") or condition["kind"]


def describe_key(key: tuple) -> str:
    codec, br, suite, cond, metric = key
    return f"{codec} @ {br:g} kbps {suite} [{', '.join(f'{k}={v}' for k, v in cond if v is not None)}] {metric}"


def verdict(doc: dict) -> tuple[str, str]:
    """(status, sentence) of a results document: PASS, FAIL, or MEASURE ONLY (only when the run
    asked for it with --codec-measure-only). A run in which no check was gated fails: a green
    verdict must mean that something was verified."""
    run, recs = doc["run"], doc["records"]
    gated = [r for r in recs if r.get("passed") is not None]
    n_fail = sum(1 for r in gated if r["passed"] is False)
    errors = run.get("errors") or []
    problems = run.get("gate_errors") or []
    if n_fail or errors or problems:
        text = f"FAIL — {n_fail} of {len(gated)} gated checks failed, {len(errors)} test errors"
        if problems:
            text += "; " + "; ".join(problems)
        return "FAIL", text
    if run.get("measure_only"):
        return "MEASURE ONLY", (f"MEASURE ONLY — {len(recs)} records measured, gating not requested "
                                "(--codec-measure-only)" + (f"; {len(gated)} would have been gated" if gated else ""))
    if not gated:
        return "FAIL", (f"FAIL — nothing was gated: no threshold or baseline covers any of the {len(recs)} "
                        "records, so nothing was verified (give thresholds, or --codec-measure-only to measure "
                        "without a verdict)")
    return "PASS", f"PASS — all {len(gated)} gated checks passed"


def atomic_write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
    os.replace(tmp, path)


class RunRecorder:
    """Controller-side collector of records, curves, codec and evaluator infos."""

    def __init__(self, run_dir: Path, run_info: dict):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run = dict(run_info, started=now_iso(), finished=None)
        self.codecs: dict[str, dict] = {}
        self.records: list[dict] = []
        self.curves: list[dict] = []
        self.corpora: dict[str, dict] = {}
        self.journal = self.run_dir / "journal.jsonl"
        self.journal.touch()
        self.flush()
        self._link_latest()

    def _link_latest(self) -> None:
        latest = self.run_dir.parent / "latest"
        try:
            if latest.is_symlink() or latest.exists():
                latest.unlink()
            latest.symlink_to(self.run_dir.name)
        except OSError:
            pass

    @property
    def results_path(self) -> Path:
        return self.run_dir / "results.json"

    def add(self, payload: dict) -> None:
        files = payload.pop("audio_files", None) or {}
        for rel, b64 in files.items():
            import base64
            target = (self.run_dir / rel).resolve()
            if self.run_dir.resolve() in target.parents:  # never outside the run directory
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(base64.b64decode(b64))
        payload, notes = finite_json(payload)
        if notes:  # the workers sanitise their payloads (checks.emit); this is the last guard
            self.run.setdefault("errors", []).append(
                {"test_id": "", "when": "record", "message": "non-finite numbers written as null: "
                 + ", ".join(f"{k}={v}" for k, v in list(notes.items())[:10])})
        with open(self.journal, "a") as f:
            f.write(json.dumps(payload, allow_nan=False) + "\n")
        self._merge(payload)
        self.flush()

    def _merge(self, payload: dict) -> None:
        for c in payload.get("codecs", []):
            self.codecs[c["name"]] = c
        for k, v in payload.get("evaluators", {}).items():
            self.run.setdefault("evaluators", {})[k] = v
        for k, v in payload.get("corpora", {}).items():
            self.corpora[k] = v
        if payload.get("device"):
            devs = set(filter(None, str(self.run.get("device") or "").split(","))) | {payload["device"]}
            self.run["device"] = ",".join(sorted(devs))
        t = payload.get("telemetry")
        if t:
            tm = self.run.setdefault("timing", {"codec_s": 0.0, "evaluator_s": 0.0, "peak_rss_mb": {}})
            tm["codec_s"] += t.get("codec_s", 0.0)
            tm["evaluator_s"] += t.get("evaluator_s", 0.0)
            by = tm.setdefault("evaluator_s_by_metric", {})
            for k, v in (t.get("evaluator_s_by_metric") or {}).items():
                by[k] = by.get(k, 0.0) + v
            if t.get("threads"):
                tm.setdefault("threads", {})[t.get("worker", "main")] = t["threads"]
            w = t.get("worker", "main")
            tm["peak_rss_mb"][w] = max(tm["peak_rss_mb"].get(w, 0.0), t.get("peak_rss_mb", 0.0))
        for w in payload.get("cache_warnings") or []:
            self.run.setdefault("cache_warnings", []).append(w)
        self.records.extend(payload.get("records", []))
        self.curves.extend(payload.get("curves", []))

    def to_json(self) -> dict:
        run = dict(self.run)
        run["corpora"] = self.corpora
        return {"schema": SCHEMA, "run": run, "codecs": list(self.codecs.values()),
                "records": self.records, "curves": self.curves}

    def flush(self) -> None:
        atomic_write_json(self.results_path, self.to_json())

    def finish(self, extra: dict | None = None) -> Path:
        self.run["finished"] = now_iso()
        if extra:
            self.run.update(extra)
        self.flush()
        return self.results_path


def load_results(path: str | Path) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"results file not found: {p}") from None
    except ValueError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from None
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{p}: schema {data.get('schema')!r} is not {SCHEMA!r}")
    return data


def recover_from_journal(run_dir: Path) -> dict:
    """Rebuild a results document from a run's journal (for a run whose controller died)."""
    rec = object.__new__(RunRecorder)
    rec.run_dir, rec.codecs, rec.records, rec.curves, rec.corpora = Path(run_dir), {}, [], [], {}
    old = {}
    if (Path(run_dir) / "results.json").is_file():
        old = json.loads((Path(run_dir) / "results.json").read_text()).get("run", {})
    rec.run = dict(old, finished=None)
    for line in (Path(run_dir) / "journal.jsonl").read_text().splitlines():
        try:
            rec._merge(json.loads(line))
        except ValueError:
            break  # a torn last line from a killed writer
    return rec.to_json()


def merge_results(docs: list[dict]) -> dict:
    """Join shards of one run (or several runs): records deduplicated by key, later wins."""
    if not docs:
        raise ValueError("nothing to merge")
    out = {"schema": SCHEMA, "run": dict(docs[0]["run"]), "codecs": [], "records": [], "curves": []}
    codecs, recs, curves = {}, {}, {}
    for d in docs:
        for c in d.get("codecs", []):
            codecs[c["name"]] = c
        for r in d.get("records", []):
            recs[record_key(r)] = r
        for c in d.get("curves", []):
            curves[(c["codec"], c["bitrate_kbps"], c["kind"], c.get("level_dbfs"), c.get("label"))] = c
        for k, v in d["run"].get("evaluators", {}).items():
            out["run"].setdefault("evaluators", {})[k] = v
    out["run"]["merged_from"] = [d["run"].get("id") for d in docs]
    out["run"]["finished"] = None if any(d["run"].get("finished") is None for d in docs) else \
        max(d["run"]["finished"] for d in docs)
    out["codecs"], out["records"], out["curves"] = list(codecs.values()), list(recs.values()), list(curves.values())
    return out
