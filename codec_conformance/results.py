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
RECORD_KEYS = ("codec", "bitrate_kbps", "suite", "condition", "metric", "higher_is_better", "value",
               "oracle", "delta", "threshold", "passed", "n_items", "test_id")


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


def make_record(*, codec: str, bitrate_kbps: float, suite: str, condition: dict, metric: str,
                higher_is_better: bool, value, oracle=None, threshold=None, passed=None,
                n_items: int = 0, test_id: str = "", **extra) -> dict:
    """A record; every non-finite number in it (value, oracle, extras such as examples) is
    written as null and listed under ``non_finite`` with ``non_finite_reason``."""
    rec = {"codec": codec, "bitrate_kbps": float(bitrate_kbps), "suite": suite,
           "condition": condition, "metric": metric, "higher_is_better": bool(higher_is_better),
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


def record_key(r: dict) -> tuple:
    c = r.get("condition") or {}
    return (r["codec"], round(float(r["bitrate_kbps"]), 6), r["suite"],
            tuple(sorted((k, v) for k, v in c.items())), r["metric"])


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
