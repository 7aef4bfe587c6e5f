"""codec-conformance: re-render reports, compare runs (the checkpoint gate), merge shards, list
codecs and metrics. The suites themselves run under pytest: pytest --pyargs codec_conformance.suites
--codec=NAME."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__, fetch
from .catalogue import metrics
from .codecs.base import check_declared
from .engine import golden
from .engine.session import ConformanceSession
from .errors import ConformanceError
from .gate.baseline import RULE, BaselineMismatch, compare, ordered_rows, p_text
from .gate.calibration import calibrate
from .registry import codec_names, family_variants, load_codec_factory, make_codec
from .report import write_html
from .report.compare import write_compare_html
from .results.contract import condition_text, load_results, validate_results
from .results.merge import merge_results
from .results.run_folder import atomic_write_json, lock_run_dir, recover_from_journal
from .settings import OPTIONS, build_settings, flag


def _cmd_report(a) -> int:
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


def _num(v, spec: str) -> str:
    """``v`` formatted with ``spec`` (e.g. "9.4g"), or a dash of the same width when undefined."""
    if v is not None:
        return format(v, spec)
    width = spec.lstrip("+").split(".")[0]
    return "—".rjust(int(width)) if width else "—"


def _interval_text(r: dict) -> str:
    """The change's interval with its confidence, or a dash where the quantity had no test."""
    if r.get("change_ci") is None:
        return "—"
    lo, hi = r["change_ci"]
    return f"[{lo:+.3g}, {hi:+.3g}] {100 * r['change_ci_confidence']:.3g} %"


def compare_table(rows: list[dict]) -> list[str]:
    """The compare rows as aligned text; every column as wide as its longest value (no cut names)."""
    head = ("status", "codec", "kbps", "suite", "condition", "metric", "base", "new", "change", "interval", "p",
            "min diff")
    body = [(r["status"], str(r["codec"]), f"{r['bitrate_kbps']:g}", str(r["suite"]), condition_text(r["condition"]),
             str(r["metric"]), _num(r["base"], ".4g"), _num(r["new"], ".4g"), _num(r["change"], "+.3g"),
             _interval_text(r), p_text(r), _num(r.get("min_meaningful_difference"), "g"))
            for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    right = {2, 6, 7, 8, 11}
    fmt = (lambda cells: "  ".join(c.rjust(w) if i in right else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(cells, widths))).rstrip())
    return [fmt(head)] + [fmt(b) for b in body]


def _declared(*docs: dict) -> dict:
    """The results files' ``metrics`` blocks (the new file's declaration wins)."""
    out: dict = {}
    for d in docs:
        out.update(d.get("metrics") or {})
    return out


def _cmd_compare(a) -> int:
    base_doc, new_doc = load_results(a.base), load_results(a.new)
    try:
        cmp = compare(base_doc["records"], new_doc["records"], base_name=f"BASE ({a.base})",
                      new_name=f"NEW ({a.new})", declared=_declared(base_doc, new_doc))
    except BaselineMismatch as exc:
        print(f"codec-conformance compare: {exc}", file=sys.stderr)
        return 2
    rows = ordered_rows(cmp.rows)
    shown = cmp.regressions if a.only_regressions else rows
    shown = [r for r in rows if r in shown]
    if a.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "key"} for r in shown], indent=1))
    else:
        for line in compare_table(shown):
            print(line)
    if a.html:
        out = write_compare_html(base_doc, new_doc, cmp, a.base, a.new, a.html)
        print(f"comparison report: {out}", file=sys.stderr if a.json else sys.stdout)
    n_bad = len(cmp.regressions)
    # with --json, stdout is the JSON document alone: the summary goes to stderr
    print(f"{len(rows)} comparable records, {n_bad} regressed or undefined/missing ({RULE})",
          file=sys.stderr if a.json else sys.stdout)
    return 1 if n_bad else 0


def _cmd_merge(a) -> int:
    doc = merge_results([load_results(p) for p in a.inputs], [str(p) for p in a.inputs], a.allow_different_runs)
    _write(atomic_write_json, Path(a.output), doc)
    print(f"merged {len(a.inputs)} files, {len(doc['records'])} records -> {a.output}")
    return 0


def _write(writer, path: Path, doc) -> None:
    try:
        writer(path, doc)
    except OSError as exc:  # disk full: the old file (if any) stays, no temporary is left
        raise OSError(f"cannot write {path} ({exc.strerror or exc}); it was left as it was") from None


def rate_text(b: float) -> str:
    """A bitrate rounded for reading: 0.861328125 -> 0.86, 12.2 -> 12.2, 64 -> 64."""
    return f"{b:.3g}" if b < 10 else f"{b:.4g}" if b < 1000 else f"{b:.0f}"


def licence_text(codec, name: str = "") -> str:
    """The licence a codec declares (``licence``: of its weights where they restrict use), "—"
    when it declares none. A codec that could not be built (missing weights) still shows the
    licence its class declares, so that a non-commercial licence is seen before downloading."""
    lic = getattr(codec, "licence", None)
    if lic is None and name:
        try:
            lic = getattr(load_codec_factory(name), "licence", None)
        except Exception:  # noqa: BLE001  (listing only: an unloadable factory shows no licence)
            lic = None
    return str(lic) if lic else "—"


def weights_status(codec) -> str:
    """Whether the codec's weights are on this machine: "no weights needed", "available (PATH)",
    "random-init only", or what is missing."""
    from pathlib import Path as P
    own = getattr(codec, "weights_status", None)
    if callable(own):  # a codec that knows better says so itself
        return str(own())
    kind = getattr(codec, "weights", None)
    if kind in (None, "none"):
        return "no weights needed"
    if kind == "random-init":
        return "random-init"
    ck = getattr(codec, "checkpoint", None)
    if ck and P(ck).exists():
        return f"weights available ({ck})"
    where = f" (looked for {ck})" if ck else ""
    return (f"weights MISSING{where}: pass --codec-checkpoint PATH, or --codec-weights random-init "
            "for a pipeline check")


def _cmd_list_codecs(a) -> int:
    """Every registered codec as it is here. It only looks: nothing is downloaded (a codec whose
    published weights are not in the cache says so, naming the file it would fetch)."""
    rows = []
    names = []
    for name in codec_names():  # a codec family (ladder) lists its members: --codec=family:member
        members = family_variants(name)
        names += [f"{name}:{m}" for m in members] if members is not None else [name]
    with fetch.downloads_off("list-codecs only looks, it downloads nothing"):
        for name in names:
            try:
                c = make_codec(name)
                check_declared(name, c)
                rows.append((name, f"{int(c.sample_rate)} Hz", ", ".join(rate_text(float(b)) for b in c.bitrates_kbps),
                             licence_text(c), weights_status(c)))
            except Exception as exc:
                rows.append((name, "—", "—", licence_text(None, name), f"unavailable: {' '.join(str(exc).split())}"))
    head = ("codec", "rate", "bitrates (kbps)", "licence", "weights here")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    for r in [head] + rows:
        print(f"{r[0]:{w[0]}}  {r[1]:>{w[1]}}  {r[2]:{w[2]}}  {r[3]:{w[3]}}  {r[4]}")
    return 0


def _cmd_calibrate(a) -> int:
    """Thresholds files from repeated runs (seeds) of one profile: the shipped files' policy."""
    docs = [load_results(p) for p in a.runs]
    for path in calibrate(docs, Path(a.out), a.margin, name=a.name):
        print(path)
    return 0


def _cmd_list_metrics(a) -> int:
    """Every registered metric as it declares itself (nothing is built: no model is loaded)."""
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


# the run options the golden command takes (the same flags as under pytest, generated from settings.py)
GOLDEN_OPTIONS = ("bitrate", "checkpoint", "config", "weights", "trust_checkpoint", "device", "precision",
                  "offline", "model_mirror", "timeout", "goldens_dir")


def _arg_type(fn):
    """An option's type for argparse: its own message (``'abc': use seconds, ...``) on a bad value."""
    if fn is None:
        return None

    def convert(text: str):
        try:
            return fn(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return convert


def _cmd_golden(a) -> int:
    """Record golden vectors (engine/golden.py) of each ``--codec`` into ``--out`` (default: the
    project's goldens/, --codec-goldens-dir)."""
    values = {f"codec_{n}": getattr(a, f"codec_{n}") for n in GOLDEN_OPTIONS}
    values["codec"] = a.codec
    s = build_settings(lambda name: values.get(name), os.getcwd())
    s.no_cache = True  # goldens come from the codec itself, never from the output cache
    fetch.configure_from(s)
    out_dir = Path(a.out).resolve() if a.out else s.given_path("goldens_dir")
    sess = ConformanceSession(s)
    command = " ".join(["codec-conformance", *(sys.argv[1:] if a.argv is None else a.argv)])
    for name in s.codecs:
        rates = sess.runner.bitrates(name)
        doc = golden.record(sess.runner, name, rates, a.tolerance_db, command)
        path = golden.write_goldens(doc, golden.golden_path(out_dir, name))
        tier = "bit-exact where the key matches" if doc["deterministic"] else \
            "within the tolerance only: its output varied between two calls"
        print(f"{path}: {name} at {', '.join(f'{b:g}' for b in rates)} kbps, {len(golden.SIGNALS)} signals; compared "
              f"{tier} (tolerance {a.tolerance_db:g} dB); key: device {doc['key']['device']}, precision "
              f"{doc['key']['precision']}, " + ", ".join(f"{k} {v}" for k, v in doc["key"]["libraries"].items()))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="codec-conformance", description=__doc__)
    p.add_argument("--version", action="version", version=f"codec-conformance {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="re-render RUN_DIR/index.html from RUN_DIR/results.json")
    r.add_argument("run_dir")
    r.add_argument("--recover", action="store_true", help="rebuild results.json from the journal first")
    r.set_defaults(fn=_cmd_report)
    compare_help = ("per-quantity changes, regressions first; exit 1 on a regression (worse by at least the "
                    "quantity's minimal meaningful difference and, where there is a test, significantly), 2 when "
                    "nothing matches")
    c = sub.add_parser("compare", help=compare_help, description=compare_help[0].upper() + compare_help[1:] + ". " + RULE)
    c.add_argument("base", help="results.json (or run folder) of the baseline")
    c.add_argument("new", help="results.json (or run folder) of the new checkpoint")
    c.add_argument("--json", action="store_true", help="rows as JSON")
    c.add_argument("--only-regressions", action="store_true", help="print only the regressed, undefined and missing rows")
    c.add_argument("--html", metavar="OUT.html", help="also write a checkpoint-vs-checkpoint HTML report")
    c.set_defaults(fn=_cmd_compare)
    m = sub.add_parser("merge", help="join results files of shards or runs")
    m.add_argument("inputs", nargs="+")
    m.add_argument("-o", "--output", required=True)
    m.add_argument("--allow-different-runs", action="store_true",
                   help="join runs with other settings (codecs, profile, seed...) or other values of one record "
                        "(the later file wins); default: only the shards of one run")
    m.set_defaults(fn=_cmd_merge)
    k = sub.add_parser("calibrate", help="write thresholds files from runs of one codec under several seeds "
                                         "(worst value across them + a capped margin; docs/thresholds.md)")
    k.add_argument("runs", nargs="+", help="results.json files (or run folders), one per seed, one profile")
    k.add_argument("-o", "--out", default="thresholds", help="folder of the written <codec>.toml (default thresholds/)")
    k.add_argument("--margin", type=float, default=0.2,
                   help="relative margin x |worst| (each metric's minimum and maximum margin apply; default 0.2)")
    k.add_argument("--name", help="file name instead of the codec's (e.g. default: the limits of any codec "
                                  "without its own file)")
    k.set_defaults(fn=_cmd_calibrate)
    g = sub.add_parser("golden", help="record golden vectors of a codec (tokens, decoded-PCM checksum and "
                                      "fingerprint of a fixed input set; docs/golden.md) for the golden suite")
    g.add_argument("--codec", action="append", required=True, metavar="NAME|module:factory",
                   help="codec to record (repeatable): a registered name or package.module:factory")
    for n in GOLDEN_OPTIONS:
        opt = OPTIONS[n]
        if opt.is_flag:
            g.add_argument(opt.flag, action="store_true", default=False, dest=f"codec_{n}", help=opt.help)
        else:
            g.add_argument(opt.flag, dest=f"codec_{n}", type=_arg_type(opt.type),
                           default="all" if n == "bitrate" else None,
                           help=opt.help + (" [default here: all]" if n == "bitrate" else ""))
    g.add_argument("--out", metavar="DIR", help="folder of the written <codec>.json (default: --codec-goldens-dir, "
                                                "the project's goldens/)")
    g.add_argument("--tolerance-db", type=float, default=golden.DEFAULT_TOLERANCE_SNR_DB,
                   help="the tolerance tier's limit: decoded difference at least this many dB below the golden "
                        f"(default {golden.DEFAULT_TOLERANCE_SNR_DB:g})")
    g.set_defaults(fn=_cmd_golden, argv=argv)
    sub.add_parser("list-codecs", help="registered codecs and their operating points").set_defaults(fn=_cmd_list_codecs)
    sub.add_parser("list-metrics", help="registered metrics").set_defaults(fn=_cmd_list_metrics)
    a = p.parse_args(argv)
    try:
        return a.fn(a)
    except (ConformanceError, OSError, ValueError) as exc:  # one line naming the file; no traceback
        print(f"codec-conformance {a.cmd}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
