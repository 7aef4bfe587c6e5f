"""Turn a measurement into a contract record: threshold lookup, baseline gate, attachment to the
test report, and a failure message that shows the measured value, oracle and limit."""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Iterable

import pytest

from ..catalogue import catalogue_json, info
from ..catalogue import suite as suite_info
from ..codecs.base import codec_info
from ..codecs.checkpoint import provenance
from ..engine.session import ConformanceSession
from ..gate.baseline import BAD, Status, family_sizes, judge, judged_text
from ..gate.thresholds import Threshold, limit_text
from ..results.contract import NON_FINITE_WHY, direction_of, finite_json, is_number, load_results, make_record, record_key
from ..results.run_folder import safe_name
from .ids import hand_over, test_id


@lru_cache(maxsize=4)
def _baseline(path: str) -> tuple[dict, dict]:
    """The baseline's records by key, and its family sizes per (codec, bitrate)."""
    records = load_results(path)["records"]
    return {record_key(r): r for r in records}, dict(family_sizes(records))


def limit(sess: ConformanceSession, codec: str, bitrate: float, suite: str, condition: dict,
          metric: str) -> Threshold | None:
    """The threshold of one measurement: looked up by the suite's own key of the record's
    condition (the key calibration writes limits under)."""
    return sess.thresholds(codec).lookup(bitrate, suite, suite_info(suite).key(condition), metric)


def build_record(sess: ConformanceSession, request: pytest.FixtureRequest, *, codec: str, bitrate: float, suite: str,
                 condition: dict, metric: str,
                 value, direction: str | None = None, oracle=None, n_items: int = 0, gated: bool | None = None,
                 **extra) -> dict:
    """A contract record of one measurement of codec ``codec`` (its ``--codec`` id), with its
    threshold (looked up by the suite's key of the record's condition) and baseline verdict.
    Direction, unit and whether it is gated are the quantity's declaration (catalogue); only a
    quantity the catalogue does not know gives them here (``gated=False`` may also turn a gated
    quantity into a recorded one)."""
    q = info(metric)
    if q is not None:
        restated = [k for k, v in (("direction", direction), ("unit", extra.get("unit"))) if v is not None]
        if restated:
            raise ValueError(f"metric {metric!r}: {', '.join(restated)} is declared in its MetricInfo; "
                             "do not restate it in build_record")
        direction = q.direction
        gated = q.gated if gated is None else (gated and q.gated)
        extra["unit"] = q.unit
    if direction is None:
        raise ValueError(f"metric {metric!r} is not in the catalogue: give its direction")
    gated = True if gated is None else gated
    rec = make_record(codec=codec, bitrate_kbps=bitrate, suite=suite, condition=condition, metric=metric,
                      direction=direction, value=value, oracle=oracle, n_items=n_items,
                      test_id=test_id(request.node.nodeid), gated=gated, **extra)
    if not gated:
        return rec
    th = limit(sess, codec, bitrate, suite, rec["condition"], metric)
    if th is not None:
        rec["threshold"] = th.to_record()
        rec["passed"] = th.check(rec["value"], rec["delta"], direction == "higher")
        # a delta limit judged at this record's oracle: where no value of the quantity can cross
        # it (PESQ in 0 dB noise, oracle 1.05 at the floor), the check is not counted as passed
        why = None if q is None or th.kind != "max_delta" or rec["oracle"] is None else \
            th.cannot_fail(q.bounds, direction == "higher", rec["oracle"], q.label)
        if why:
            rec["threshold"]["cannot_fail"] = why
            rec["passed"] = None
    s = sess.settings
    if s.baseline:
        by_key, family = _baseline(str(s.path(s.baseline)))
        base = by_key.get(record_key(rec))
        if base is not None:
            row = judge(base, rec, family.get(record_key(rec)[:2], 1))
            if row["status"] not in (Status.NO_BASE, Status.NOT_GATED):
                ok = row["status"] not in BAD
                rec["baseline"] = {"value": row["base"], "min_meaningful_difference": row["min_meaningful_difference"],
                                   "passed": ok, "status": row["status"], "source": str(s.baseline),
                                   "judged": judged_text(row), "change_ci": row["change_ci"],
                                   "change_ci_confidence": row["change_ci_confidence"], "p_value": row["p_value"]}
                if row.get("test"):
                    rec["baseline"]["test"] = row["test"]
                rec["passed"] = ok if rec["passed"] is None else (rec["passed"] and ok)
    return rec


def rejudge_resumed(records: Iterable[dict]) -> int:
    """A resumed run's old records judged again from their values (issue 29): a stored ``passed:
    true`` that its value, oracle and threshold (or its baseline verdict) contradict becomes a
    failure saying so. Only a pass is checked (a stored failure stays one: a test may fail for
    reasons beyond its numbers). Direction from the catalogue, else the record. Returns how many
    records were changed."""
    changed = 0
    for r in records:
        if r.get("passed") is not True:
            continue
        why = None
        base = r.get("baseline")
        if isinstance(base, dict) and base.get("passed") is False:
            why = "its baseline verdict failed"
        th = r.get("threshold")
        if why is None and isinstance(th, dict) and "cannot_fail" not in th:
            q = info(str(r.get("metric")))
            direction = q.direction if q is not None else direction_of(r)
            value: Any = r.get("value") if is_number(r.get("value")) else None
            oracle: Any = r.get("oracle") if is_number(r.get("oracle")) else None
            delta = None if value is None or oracle is None else float(value) - float(oracle)
            try:
                t = Threshold("range" if th.get("kind") == "range" else str(th.get("kind")), float(th["limit"]),
                              str(th.get("source", "")), None if th.get("upper") is None else float(th["upper"]))
                ok = t.check(None if value is None else float(value), delta, direction == "higher")
            except (KeyError, TypeError, ValueError):
                ok = None
            if ok is not True:
                why = f"value {value} (oracle {oracle}) against {limit_text(th)}"
        if why is not None:
            r["passed"] = False
            r["failure"] = f"resumed record stored as passed, but {why}: judged from its values, it fails"
            changed += 1
    return changed


def emit(sess: ConformanceSession, request: pytest.FixtureRequest, codec: str, records: list[dict],
         curves: Iterable[dict] = (), audio_files: dict[str, str] | None = None) -> None:
    """Attach the test's records and curves to its report. Non-finite numbers anywhere in them
    become null with a note (``non_finite``); a test with any fails through :func:`check`
    (its records are marked failed in place), and the payload is always valid JSON."""
    curve_list = list(curves)
    bad_curves = []
    for c in curve_list:
        clean, notes = finite_json(c)
        if notes:
            clean["non_finite"], clean["non_finite_reason"] = notes, NON_FINITE_WHY
            bad_curves.append(f"curve {c.get('kind')}: " + ", ".join(f"{k}={v}" for k, v in list(notes.items())[:5]))
        c.clear()
        c.update(clean)
    for r in records:
        clean, notes = finite_json(r)
        if notes:
            clean["non_finite"] = {**(clean.get("non_finite") or {}), **notes}
            clean["non_finite_reason"] = NON_FINITE_WHY
        r.clear()
        r.update(clean)
        why = []
        if r.get("non_finite"):
            why.append("non-finite numbers written as null: "
                       + ", ".join(f"{k}={v}" for k, v in list(r["non_finite"].items())[:5]))
        why += bad_curves
        if why:
            r["passed"] = False
            r["failure"] = "; ".join(filter(None, [r.get("failure"), *why])) + f" ({NON_FINITE_WHY})"
    codec_device = str(getattr(sess.runner.codec(codec), "device", None) or "cpu")
    for r in records:  # where this record's codec and evaluator computed (results contract: device)
        r.setdefault("device", {"codec": codec_device, "evaluator": sess.scorer.device_of(str(r.get("metric")))})
    payload: dict[str, Any] = {"records": records, "curves": curve_list, "codecs": [sess_codec_info(sess, codec)],
               **catalogue_json([r["metric"] for r in records], [r["condition"]["kind"] for r in records]),
               "evaluators": sess.scorer.evaluator_infos(), "corpora": sess.corpus_infos(), "device": sess.device,
               "telemetry": sess.telemetry()}
    cache_warnings = sess.cache.new_problems()
    if cache_warnings:
        payload["cache_warnings"] = cache_warnings
    if audio_files:
        payload["audio_files"] = audio_files
    hand_over(request.node, payload)


def flac_b64(x, sr: int) -> str:
    import base64
    import io

    import numpy as np
    import soundfile as sf
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1, 1), sr, format="FLAC", subtype="PCM_16")
    return base64.b64encode(buf.getvalue()).decode()


def worst_case_clips(name: str, item_id: str, sr: int, clean, noisy, coded) -> tuple[dict, dict]:
    """(record field, files for the controller) for the clean / noisy / coded clips of one item."""
    safe = safe_name(name, 120)
    files, field = {}, {"item": item_id}
    for kind, x in (("clean", clean), ("noisy", noisy), ("coded", coded)):
        rel = f"audio/{safe}-{kind}.flac"
        files[rel] = flac_b64(x, sr)
        field[kind] = rel
    return field, files


def sess_codec_info(sess: ConformanceSession, codec: str) -> dict:
    """The results-file entry of a codec; ``name`` is its id (the ``--codec`` value, as in its
    records and curves), ``reported_name`` the name the codec gives itself when that differs."""
    info = codec_info(sess.runner.codec(codec))
    s = sess.settings
    given = s.path(s.checkpoint)
    if given is not None and not info.get("checkpoint"):  # a plugin codec: the run knows what it was given
        info.update(provenance(given))
    if info["name"] != codec:
        info["reported_name"] = info["name"]
        info["name"] = codec
    return info


def describe(rec: dict) -> str:
    c = rec["condition"]
    cond = ", ".join(f"{k}={v}" for k, v in c.items() if v is not None)
    th = rec.get("threshold") or {}
    parts = [f"{rec['codec']} @ {rec['bitrate_kbps']:g} kbps, {rec['suite']} [{cond}], {rec['metric']}: "
             f"value={_fmt(rec['value'])}"]
    if rec.get("oracle") is not None:
        parts.append(f"oracle={_fmt(rec['oracle'])} delta={_fmt(rec['delta'])}")
    if th:
        parts.append(f"limit {limit_text(th)} ({th['source']})")
    if rec.get("baseline"):
        b = rec["baseline"]
        how = f" ({b['judged']})" if b.get("judged") else ""
        parts.append(f"baseline={_fmt(b['value'])} {b.get('status') or ('ok' if b['passed'] else 'REGRESSED')}{how}")
    if rec.get("n_undefined"):
        parts.append(f"{rec['n_undefined']}/{rec['n_items']} items undefined")
    if rec.get("counterexample"):
        parts.append("counterexample=" + json.dumps(rec["counterexample"]))
    if rec.get("failure"):
        parts.append(rec["failure"])
    return "; ".join(parts)


def _fmt(v):
    return "undefined" if v is None else f"{v:.4g}"


def check(records: list[dict]) -> None:
    """Fail the test (after its records were attached) when any gated record failed."""
    bad = [r for r in records if r.get("passed") is False]
    if bad:
        pytest.fail("conformance check failed:\n  " + "\n  ".join(describe(r) for r in bad), pytrace=False)
