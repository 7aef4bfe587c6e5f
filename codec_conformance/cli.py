"""``codec-conformance``: re-render reports, compare runs (the checkpoint gate), merge shards,
list codecs and metrics."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _cmd_report(a) -> int:
    from .results.report import write_html
    from .results.records import atomic_write_json, lock_run_dir, recover_from_journal, validate_results
    run_dir = Path(a.run_dir)
    if a.recover:
        if not run_dir.is_dir():
            raise FileNotFoundError(f"run folder not found: {run_dir}")
        lock = lock_run_dir(run_dir)  # not while a run is writing it
        try:
            doc = validate_results(recover_from_journal(run_dir), run_dir / "journal.jsonl")
            _write(atomic_write_json, run_dir / "results.json", doc)
        finally:
            if lock is not None:
                os.close(lock)
    print(write_html(run_dir))
    return 0


def _cond(c: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in c.items() if v is not None)


def _num(v, spec: str) -> str:
    """``v`` formatted with ``spec`` (e.g. "9.4g"), or a dash of the same width when undefined."""
    return format(v, spec) if v is not None else "—".rjust(int(spec.lstrip("+").split(".")[0]))


def _cmd_compare(a) -> int:
    from .gate.baseline import BaselineMismatch, compare
    from .results.records import load_results
    try:
        cmp = compare(load_results(a.base)["records"], load_results(a.new)["records"], a.tolerance,
                      base_name=f"BASE ({a.base})", new_name=f"NEW ({a.new})")
    except BaselineMismatch as exc:
        print(f"codec-conformance compare: {exc}", file=sys.stderr)
        return 2
    rows = cmp.rows
    if a.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "key"} for r in rows], indent=1))
    else:
        print(f"{'codec':10} {'kbps':>6} {'suite':18} {'condition':28} {'metric':20} {'base':>9} {'new':>9} {'change':>9}  status")
        for r in rows:
            print(f"{str(r['codec'])[:10]:10} {r['bitrate_kbps']:6g} {r['suite'][:18]:18} {_cond(r['condition'])[:28]:28} "
                  f"{r['metric'][:20]:20} {_num(r['base'], '9.4g')} {_num(r['new'], '9.4g')} "
                  f"{_num(r['change'], '+9.3g')}  {r['status']}")
    n_bad = len(cmp.regressions)
    print(f"{len(rows)} comparable records, {n_bad} regressed beyond tolerance or undefined/missing "
          f"({a.tolerance:g} x |base|, at least 0.01)")
    return 1 if n_bad else 0


def _cmd_merge(a) -> int:
    from .results.records import atomic_write_json, load_results, merge_results
    doc = merge_results([load_results(p) for p in a.inputs])
    _write(atomic_write_json, Path(a.output), doc)
    print(f"merged {len(a.inputs)} files, {len(doc['records'])} records -> {a.output}")
    return 0


def _write(writer, path: Path, doc) -> None:
    try:
        writer(path, doc)
    except OSError as exc:  # disk full: the old file (if any) stays, no temporary is left
        raise OSError(f"cannot write {path} ({exc.strerror or exc}); it was left as it was") from None


def _cmd_list_codecs(a) -> int:
    from .registry import codec_names, make_codec
    for name in codec_names():
        try:
            c = make_codec(name)
            print(f"{name:12} {c.sample_rate:6d} Hz  bitrates (kbps): {', '.join(f'{b:g}' for b in c.bitrates_kbps)}")
        except Exception as exc:
            print(f"{name:12} unavailable: {exc}")
    return 0


def _cmd_list_metrics(a) -> int:
    """Every registered metric as it declares itself (nothing is built: no model is loaded)."""
    from .catalogue import metrics
    from .plugin.settings import flag
    for name, m in metrics().items():
        extra = [] if m.default else ["only with --codec-metrics"]
        if m.requires:
            extra.append(f"needs {flag(m.requires)}")
        if m.stand_in:
            extra.append("stand-in evaluator by default")
        if not m.gated:
            extra.append("recorded, never gated")
        print(f"{name:14} {m.label} [{m.unit}], {m.direction} is better, smallest meaningful difference "
              f"{m.min_meaningful_difference:g}" + (f"; {'; '.join(extra)}" if extra else ""))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="codec-conformance", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="re-render RUN_DIR/index.html from RUN_DIR/results.json")
    r.add_argument("run_dir")
    r.add_argument("--recover", action="store_true", help="rebuild results.json from the journal first")
    r.set_defaults(fn=_cmd_report)
    c = sub.add_parser("compare", help="per-metric deltas; exit 1 on a regression beyond tolerance")
    c.add_argument("base")
    c.add_argument("new")
    c.add_argument("--tolerance", type=float, default=0.05, help="fraction of |base| (min 0.01 absolute)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(fn=_cmd_compare)
    m = sub.add_parser("merge", help="join results files of shards or runs")
    m.add_argument("inputs", nargs="+")
    m.add_argument("-o", "--output", required=True)
    m.set_defaults(fn=_cmd_merge)
    sub.add_parser("list-codecs", help="registered codecs and their operating points").set_defaults(fn=_cmd_list_codecs)
    sub.add_parser("list-metrics", help="registered metrics").set_defaults(fn=_cmd_list_metrics)
    a = p.parse_args(argv)
    from .errors import ConformanceError
    try:
        return a.fn(a)
    except (ConformanceError, OSError, ValueError) as exc:  # one line naming the file; no traceback
        print(f"codec-conformance {a.cmd}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
