"""The table of docs/implementation-suite.md from runs of the implementation suite.

    python scripts/implementation_table.py RUN_DIR_OR_RESULTS.json ...

One row per codec x bitrate: each check's measured value(s) and verdict (pass / FAIL / refused /
error), the seconds its tests took and the run's command. A record of a --codec-measure-only run
has no verdict of its own: it is judged here against the codec's limits in thresholds/ (as the
gate would) and marked ``*``."""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from codec_conformance.catalogue import info
from codec_conformance.catalogue import suite as suite_info
from codec_conformance.gate.thresholds import BUILTIN_DIR, ThresholdSet
from codec_conformance.results.contract import record_key

COLUMNS = (("batch", "batch_ser_db", "batch (dB)"), ("batch_padded", "batch_ser_db", "padded batch (dB)"),
           ("batch", "batch_code_agreement", "batch codes"),
           ("batch_padded", "batch_code_agreement", "padded batch codes"), ("length", "length_error_samples", "length error (samples)"),
           ("chunked", "chunked_ser_db", "chunked 0.5/1/2 s (dB)"),
           ("chunked_decode", "chunked_decode_ser_db", "chunked decode 0.5/1/2 s (dB)"),
           ("repeat", "repeat_ser_db", "repeat (dB)"), ("fresh_process", "repeat_ser_db", "fresh process (dB)"))


def load(p: str) -> dict:
    path = Path(p)
    return json.loads((path / "results.json" if path.is_dir() else path).read_text())


def verdict(r: dict, later: dict) -> str:
    if r.get("refused"):
        return "refused"
    if r.get("value") is None:
        return "FAIL" if r.get("passed") is False else "—"
    if not r.get("_measure_only"):
        return {True: "pass", False: "FAIL"}.get(r.get("passed"), "—")
    key = suite_info("implementation").key(r["condition"])
    th = later[r["codec"]].lookup(r["bitrate_kbps"], "implementation", key, r["metric"])
    if th is None:
        return "no limit"
    ok = th.check(r["value"], None, info(r["metric"]).higher_is_better)
    return ("pass" if ok else "FAIL") + "*"


def cell(recs: list[dict], later: dict) -> str:
    if not recs:
        return "n/a"
    order = sorted(recs, key=lambda r: (r["condition"].get("input_samples") or 0, r["condition"].get("chunk_s") or 0))
    vals = "/".join("—" if r.get("value") is None else f"{r['value']:.4g}" for r in order)
    vs = [verdict(r, later) for r in order]
    worst = next((v for v in vs if v.startswith("FAIL")), None) or next((v for v in vs if v != "pass"), vs[0])
    return f"{vals} {worst}"


def main(paths: list[str]) -> None:
    """Runs later on the command line win: a record of the same key (codec, bitrate, suite,
    condition, metric), a test's duration."""
    recs: dict = {}
    durs: dict = {}
    errors: dict = {}
    commands: dict = defaultdict(list)
    for p in paths:
        doc = load(p)
        run = doc["run"]
        for r in doc["records"]:
            if r["suite"] == "implementation":
                recs[record_key(r)] = dict(r, _measure_only="--codec-measure-only" in str(run.get("command")))
                if run.get("command") not in commands[r["codec"]]:
                    commands[r["codec"]].append(run.get("command"))
        durs.update({k: v for k, v in (run.get("durations") or {}).items() if "test_implementation" in k})
        for e in run.get("errors") or []:
            if "test_implementation" in str(e.get("test_id")):
                errors[e.get("test_id")] = e
    runs = list(dict.fromkeys(c for cs in commands.values() for c in cs))
    by = defaultdict(list)
    for r in recs.values():
        by[(r["codec"], r["bitrate_kbps"])].append(r)
    later = {c: ThresholdSet.for_codec(c, BUILTIN_DIR) for c, _ in by}
    print("| codec | kbps | " + " | ".join(t for _, _, t in COLUMNS) + " | test errors | seconds | run |")
    print("|" + "---|" * (len(COLUMNS) + 5))
    for (codec, br), rs in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        point = f"[{codec}-{br:g}kbps"
        secs = sum(float(v) for k, v in durs.items() if point in k)
        cells = [cell([r for r in rs if r["condition"]["kind"] == k and r["metric"] == m], later) for k, m, _ in COLUMNS]
        errs = [e for t, e in errors.items() if point in str(t)]
        cmd = ", ".join(f"[{runs.index(c) + 1}]" for c in commands[codec])
        print(f"| {codec} | {br:g} | " + " | ".join(cells) + f" | {len(errs)} | {secs:.0f} | {cmd} |")
    print()
    for i, c in enumerate(runs, 1):
        print(f"[{i}] `{c}`  ")


if __name__ == "__main__":
    main(sys.argv[1:])
