"""The results contract (``docs/results-contract.md``): what a record is, its key, the verdict of a
results document, and reading a results file (every field checked against the contract)."""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn, overload

from ..errors import ResultsFormatError, check_regular_file

SCHEMA = "codec-conformance/results/1"
# a quantity's direction: which way is better (two-sided: the ideal is 0, |value| lower is better)
DIRECTIONS = ("higher", "lower", "two-sided")
# Every record's condition carries all of these (null where they do not apply); together with
# codec, bitrate, suite and metric they identify a record (record_key).
CONDITION_FIELDS = ("kind", "snr_db", "gain_db", "rt60_s", "level_dbfs", "source", "mixture", "shift_samples")
# the keys every record must have (validate_results)
RECORD_KEYS = ("codec", "bitrate_kbps", "suite", "condition", "metric", "higher_is_better", "value",
               "oracle", "delta", "threshold", "passed", "n_items", "test_id")
# 95 % bootstrap intervals [lo, hi] of value, oracle and delta (null where none; gate/statistics.py)
CI_FIELDS = ("value_ci95", "oracle_ci95", "delta_ci95", "median_ci95")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@overload
def finite_json(obj: dict[str, Any], where: str = "") -> tuple[dict[str, Any], dict[str, str]]: ...
@overload
def finite_json(obj: object, where: str = "") -> tuple[object, dict[str, str]]: ...


def finite_json(obj: object, where: str = "") -> tuple[object, dict[str, str]]:
    """(a JSON-safe copy of ``obj``, {path: original value} of every non-finite number in it).

    NaN/Inf (Python or NumPy floats, at any depth of dicts, lists, tuples and arrays) become
    None; NumPy scalars and arrays become Python numbers and lists. The notes say where each
    null came from, so a record never shows a made-up number or a silent null."""
    notes: dict[str, str] = {}

    def walk(o: object, path: str) -> object:
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


def condition_record(kind: str | None, **fields: float | str | None) -> dict:
    """A record's condition: every field of CONDITION_FIELDS (null where it does not apply), then
    the parameters of a condition kind that has others (``cutoff_hz``: a name in lower case with
    its unit, as the built-in fields are)."""
    bad = [k for k in fields if k not in CONDITION_FIELDS and not _PARAM_NAME.fullmatch(k)]
    if bad:
        raise ValueError(f"condition fields {sorted(bad)}: use lower-case names with their unit (cutoff_hz); "
                         f"the built-in fields are {CONDITION_FIELDS}")
    extra = {k: v for k, v in fields.items() if k not in CONDITION_FIELDS}
    return {"kind": kind, **{k: fields.get(k) for k in CONDITION_FIELDS[1:]}, **extra}


_PARAM_NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+")


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
           "delta": None, "threshold": threshold, "passed": passed,
           "n_items": None if n_items is None else int(n_items), "test_id": test_id}
    rec.update({k: None for k in CI_FIELDS}, **extra)  # every record has its intervals (null: none)
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
    extra = tuple(sorted((k, v) for k, v in c.items() if k not in CONDITION_FIELDS and v is not None))
    return (str(r["codec"]), round(float(r["bitrate_kbps"]), 6), r["suite"],
            tuple((k, c.get(k)) for k in CONDITION_FIELDS) + extra, r["metric"])


def condition_text(condition: object) -> str:
    """A record's condition for people: its fields that apply (``kind=ambient, snr_db=10.0``)."""
    if isinstance(condition, dict):
        pairs = list(condition.items())
    elif isinstance(condition, (list, tuple)):  # a record key's condition: (field, value) pairs
        pairs = list(condition)
    else:
        return str(condition)
    return ", ".join(f"{k}={v}" for k, v in pairs if v is not None)


def describe_key(key: tuple) -> str:
    codec, br, suite, cond, metric = key
    return f"{codec} @ {br:g} kbps {suite} [{condition_text(cond)}] {metric}"


def verdict(doc: dict) -> tuple[str, str]:
    """(status, sentence) of a results document: ERROR (a codec could not be loaded), PASS, FAIL,
    or MEASURE ONLY (only when the run asked for it with --codec-measure-only). A run in which no check was gated fails: a green
    verdict must mean that something was verified."""
    run, recs = doc["run"], doc["records"]
    loads: dict[str, str] = {}
    for e in run.get("errors") or []:  # a codec that could not be loaded: said once, as such
        if isinstance(e, dict) and e.get("kind") == "codec_load":
            loads.setdefault(str(e.get("codec")), " ".join(str(e.get("message", "")).split()))
    if loads:
        return "ERROR", "ERROR: codec could not be loaded — " + "; ".join(f"{k}: {v}" for k, v in loads.items())
    gated = [r for r in recs if r.get("passed") is not None]
    n_fail = sum(1 for r in gated if r["passed"] is False)
    idle = cannot_fail_note(recs)
    errors = run.get("errors") or []
    problems = run.get("gate_errors") or []
    if n_fail or errors or problems:
        text = f"FAIL — {n_fail} of {len(gated)} gated checks failed, {len(errors)} test errors"
        if problems:
            text += "; " + "; ".join(problems)
        return "FAIL", text + idle
    if run.get("measure_only"):
        return "MEASURE ONLY", (f"MEASURE ONLY — {len(recs)} records measured, gating not requested "
                                "(--codec-measure-only)" + (f"; {len(gated)} would have been gated" if gated else ""))
    if not gated:
        return "FAIL", (f"FAIL — nothing was gated: no threshold or baseline covers any of the {len(recs)} "
                        "records, so nothing was verified (give thresholds, or --codec-measure-only to measure "
                        "without a verdict)" + idle)
    return "PASS", f"PASS — all {len(gated)} gated checks passed" + idle


def could_not_fail(r: dict) -> str | None:
    """Why the record's limit could not fail at its oracle (gate/thresholds.py), or None."""
    th = r.get("threshold")
    why = th.get("cannot_fail") if isinstance(th, dict) else None
    return str(why) if why else None


def cannot_fail_note(recs: list[dict]) -> str:
    """The verdict's note on records whose limit no value could cross at their oracle (not
    counted as checks), or ''."""
    n = sum(1 for r in recs if could_not_fail(r))
    return (f"; {n} limit{'s' if n != 1 else ''} could not fail at {'their' if n != 1 else 'its'} oracle "
            "(not counted)") if n else ""


def load_results(path: str | Path) -> dict:
    """Read a results file (or RUN_DIR/results.json) and check it against the contract: a file that
    is not JSON or does not follow the contract is one ResultsFormatError naming file and field."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    check_regular_file(p, ResultsFormatError, "a results.json file or its run folder")
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"results file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFormatError(f"{p}: cannot read ({exc})") from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ResultsFormatError(f"{p}: not a results file (nested too deeply)") from None
    except ValueError as exc:
        raise ResultsFormatError(f"{p}: not valid JSON ({_short(str(exc), 200)})") from None
    validate_results(data, p)
    return data


def _no_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


# ------------------------------------------------------------------ validation (the contract)
_NUM = "a finite number"


def _short(text: str, n: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _what(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"{str(v).lower()}"
    if isinstance(v, int):
        digits = len(str(abs(v))) if abs(v) < 10 ** 4000 else 4000
        return f"{v}" if digits <= 20 else f"an integer of {digits} digits"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return f"the text {_short(json.dumps(v), 40)}"
    names: dict[type, str] = {dict: "an object", list: "an array"}
    return names.get(type(v), type(v).__name__)


def is_number(v) -> bool:
    """A JSON number usable as a float: not a bool, finite, not beyond float range."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


class _Checker:
    def __init__(self, source):
        self.source = str(source)

    def fail(self, where: str, want: str, got: object) -> NoReturn:
        raise ResultsFormatError(f"{self.source}: {where} must be {want}, not {_what(got)} "
                                 "(see docs/results-contract.md)")

    def obj(self, v, where, keys=()) -> dict:
        if not isinstance(v, dict):
            self.fail(where, "an object", v)
        missing = [k for k in keys if k not in v]
        if missing:
            raise ResultsFormatError(f"{self.source}: {where} lacks {', '.join(map(repr, missing))} "
                                     "(fields that do not apply are null, never absent; see docs/results-contract.md)")
        return v

    def arr(self, v, where) -> list:
        if not isinstance(v, list):
            self.fail(where, "an array", v)
        return v

    def num(self, v, where, null=False, integer=False, minimum=None):
        if v is None and null:
            return
        if integer and not (isinstance(v, int) and not isinstance(v, bool)):
            self.fail(where, "an integer" + (" or null" if null else ""), v)
        if not is_number(v):
            self.fail(where, _NUM + (" or null" if null else ""), v)
        if minimum is not None and v < minimum:
            self.fail(where, f"at least {minimum}", v)

    def text(self, v, where, null=False):
        if not (isinstance(v, str) or (null and v is None)):
            self.fail(where, "a string" + (" or null" if null else ""), v)

    def flag(self, v, where, null=False):
        if not (isinstance(v, bool) or (null and v is None)):
            self.fail(where, "true or false" + (" or null" if null else ""), v)

    def scalar(self, v, where):
        if v is None or isinstance(v, (str, bool)):
            return
        self.num(v, where)

    def numbers(self, v, where, null_items=False):
        for i, x in enumerate(self.arr(v, where)):
            self.num(x, f"{where}[{i}]", null=null_items)

    def json_value(self, v, where, depth=0):
        """Any JSON, but its numbers finite and float-sized (free-form fields)."""
        if depth > 50:
            self.fail(where, "nested at most 50 deep", v)
        if isinstance(v, dict):
            for k, x in v.items():
                self.json_value(x, f"{where}.{k}", depth + 1)
        elif isinstance(v, list):
            for i, x in enumerate(v):
                self.json_value(x, f"{where}[{i}]", depth + 1)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            self.num(v, where)


def validate_results(doc, source="results") -> dict:
    """Check ``doc`` against the results contract (docs/results-contract.md): the shape and the type
    of every field compare, merge and the report use. Raises ResultsFormatError on the first
    problem, naming ``source`` and the field (``records[3].bitrate_kbps``); returns ``doc``."""
    ck = _Checker(source)
    ck.obj(doc, "the file", keys=("schema", "run", "codecs", "records", "curves"))
    if doc["schema"] != SCHEMA:
        raise ResultsFormatError(f"{source}: schema {_short(repr(doc['schema']))} is not {SCHEMA!r}")
    run = ck.obj(doc["run"], "run")
    for k in ("id", "started", "finished", "profile", "device"):
        if k in run:
            ck.text(run[k], f"run.{k}", null=True)
    if "seed" in run:
        ck.num(run["seed"], "run.seed", null=True, integer=True)
    if "argv" in run:
        for i, a in enumerate(ck.arr(run["argv"], "run.argv")):
            ck.text(a, f"run.argv[{i}]")
    for k in ("versions", "corpora", "settings", "timing", "shard"):
        if k in run:
            ck.obj(run[k], f"run.{k}")
            ck.json_value(run[k], f"run.{k}")
    if "evaluators" in run:
        for k, v in ck.obj(run["evaluators"], "run.evaluators").items():
            ev = ck.obj(v, f"run.evaluators.{k}")
            if "stand_in" in ev:
                ck.flag(ev["stand_in"], f"run.evaluators.{k}.stand_in", null=True)
            ck.json_value(ev, f"run.evaluators.{k}")
    if "errors" in run:
        for i, e in enumerate(ck.arr(run["errors"], "run.errors")):
            ck.obj(e, f"run.errors[{i}]", keys=("test_id", "message"))
            for k in ("test_id", "when", "message"):
                if k in e:
                    ck.text(e[k], f"run.errors[{i}].{k}", null=k == "when")
    if "merged_from" in run:
        for i, m in enumerate(ck.arr(run["merged_from"], "run.merged_from")):
            ck.text(m, f"run.merged_from[{i}]", null=True)
    for i, c in enumerate(ck.arr(doc["codecs"], "codecs")):
        w = f"codecs[{i}]"
        ck.obj(c, w, keys=("name",))
        ck.text(c["name"], f"{w}.name")
        if "sample_rate" in c:
            ck.num(c["sample_rate"], f"{w}.sample_rate", null=True, minimum=1)
        if "bitrates_kbps" in c:
            ck.numbers(c["bitrates_kbps"], f"{w}.bitrates_kbps")
        for k in ("checkpoint", "checkpoint_sha256", "weights", "device", "precision", "licence"):
            if k in c:
                ck.text(c[k], f"{w}.{k}", null=True)
        ck.json_value(c, w)
    for k, m in ck.obj(doc.get("metrics", {}), "metrics").items():  # optional: files before it have none
        w = f"metrics.{k}"
        ck.obj(m, w, keys=("label", "unit", "direction"))
        ck.text(m["label"], f"{w}.label")
        ck.text(m["unit"], f"{w}.unit")
        if m["direction"] not in DIRECTIONS:
            ck.fail(f"{w}.direction", f"one of {', '.join(DIRECTIONS)}", m["direction"])
        if "min_meaningful_difference" in m:
            ck.num(m["min_meaningful_difference"], f"{w}.min_meaningful_difference", null=True, minimum=0)
        for f in ("gated", "stand_in"):
            if f in m:
                ck.flag(m[f], f"{w}.{f}", null=True)
    for k, c in ck.obj(doc.get("conditions", {}), "conditions").items():
        w = f"conditions.{k}"
        ck.obj(c, w, keys=("label",))
        ck.text(c["label"], f"{w}.label")
        for f in ("axis", "axis_label"):
            if f in c:
                ck.text(c[f], f"{w}.{f}", null=True)
    for i, r in enumerate(ck.arr(doc["records"], "records")):
        _check_record(ck, r, f"records[{i}]")
    for i, c in enumerate(ck.arr(doc["curves"], "curves")):
        w = f"curves[{i}]"
        ck.obj(c, w, keys=("codec", "bitrate_kbps", "kind", "x", "y"))
        ck.text(c["codec"], f"{w}.codec")
        ck.num(c["bitrate_kbps"], f"{w}.bitrate_kbps")
        ck.text(c["kind"], f"{w}.kind")
        ck.num(c.get("level_dbfs"), f"{w}.level_dbfs", null=True)
        ck.numbers(c["x"], f"{w}.x", null_items=True)
        ck.numbers(c["y"], f"{w}.y", null_items=True)
        for k in ("x_unit", "y_unit", "label"):
            if k in c:
                ck.text(c[k], f"{w}.{k}", null=True)
    return doc


def _check_record(ck: _Checker, r, w: str) -> None:
    ck.obj(r, w, keys=RECORD_KEYS)
    for k in ("codec", "suite", "metric", "test_id"):
        ck.text(r[k], f"{w}.{k}")
    ck.num(r["bitrate_kbps"], f"{w}.bitrate_kbps")
    for k, v in ck.obj(r["condition"], f"{w}.condition").items():
        ck.scalar(v, f"{w}.condition.{k}")
    ck.flag(r["higher_is_better"], f"{w}.higher_is_better")
    for k in ("value", "oracle", "delta"):
        ck.num(r[k], f"{w}.{k}", null=True)
    if r["threshold"] is not None:
        th = ck.obj(r["threshold"], f"{w}.threshold", keys=("kind", "limit"))
        ck.text(th["kind"], f"{w}.threshold.kind")
        ck.num(th["limit"], f"{w}.threshold.limit")
        for k in ("source", "cannot_fail"):
            if k in th:
                ck.text(th[k], f"{w}.threshold.{k}", null=True)
    ck.flag(r["passed"], f"{w}.passed", null=True)
    ck.num(r["n_items"], f"{w}.n_items", null=True, integer=True, minimum=0)
    # optional fields the report and the gates read
    if "n_undefined" in r:
        ck.num(r["n_undefined"], f"{w}.n_undefined", null=True, integer=True, minimum=0)
    if "median" in r:
        ck.num(r["median"], f"{w}.median", null=True)
    for k in ("stand_in",):
        if k in r:
            ck.flag(r[k], f"{w}.{k}", null=True)
    for k in ("failure", "unit"):
        if k in r:
            ck.text(r[k], f"{w}.{k}", null=True)
    for k in CI_FIELDS:  # optional (files written before intervals existed lack them)
        if r.get(k) is not None:
            ci = ck.arr(r[k], f"{w}.{k}")
            if len(ci) != 2:
                ck.fail(f"{w}.{k}", "[lo, hi] (two numbers) or null", ci)
            ck.numbers(ci, f"{w}.{k}")
            if ci[0] > ci[1]:
                ck.fail(f"{w}.{k}", "[lo, hi] with lo <= hi", ci)
    if r.get("per_item") is not None:
        pi = ck.obj(r["per_item"], f"{w}.per_item", keys=("ids", "value"))
        ids = ck.arr(pi["ids"], f"{w}.per_item.ids")
        for i, x in enumerate(ids):
            ck.text(x, f"{w}.per_item.ids[{i}]")
        for k in ("value", "oracle", "weights"):
            if k in pi:
                ck.numbers(pi[k], f"{w}.per_item.{k}", null_items=True)
                if len(pi[k]) != len(ids):
                    ck.fail(f"{w}.per_item.{k}", f"an array of {len(ids)} entries (one per id)", pi[k])
    if r.get("baseline") is not None:
        b = ck.obj(r["baseline"], f"{w}.baseline", keys=("value", "passed"))
        ck.num(b["value"], f"{w}.baseline.value")
        for k in ("min_meaningful_difference", "p_value"):
            if k in b:
                ck.num(b[k], f"{w}.baseline.{k}", null=True)
        if b.get("change_ci") is not None:
            ck.numbers(b["change_ci"], f"{w}.baseline.change_ci")
        ck.flag(b["passed"], f"{w}.baseline.passed")
    if r.get("device") is not None:  # optional: files before it have none
        dev = ck.obj(r["device"], f"{w}.device", keys=("codec", "evaluator"))
        for k in ("codec", "evaluator"):
            ck.text(dev[k], f"{w}.device.{k}", null=True)
    if r.get("device") is not None:  # optional: files before it have none
        dev = ck.obj(r["device"], f"{w}.device", keys=("codec", "evaluator"))
        for k in ("codec", "evaluator"):
            ck.text(dev[k], f"{w}.device.{k}", null=True)
    if r.get("audio") is not None:
        for k, v in ck.obj(r["audio"], f"{w}.audio").items():
            ck.text(v, f"{w}.audio.{k}", null=True)
    ck.json_value(r, w)


