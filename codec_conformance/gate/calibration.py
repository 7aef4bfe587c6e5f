"""Limits from measurements: ``codec-conformance calibrate RUN.json ...`` (the policy for the
shipped files: the same codec run under several seeds) and ``--codec-update-thresholds`` (this
one run). Noise records become ``max_delta`` limits (on codec - oracle), linearity SERs and token
measures ``min_value``/``max_value`` limits, two-sided frequency-response quantities ranges.

The policy (docs/thresholds.md): a limit = the worst value measured across the runs (every seed,
every SNR of a condition kind) plus a margin; the margin is the largest of the metric's
``min_margin``, ``--codec-threshold-margin`` x |worst| and the widest 95 % half-width of the
measurements, and at most the metric's ``max_margin``. A file is written whole from the runs
given: nothing is merged with the limits it held before, so a better codec gets tighter limits.
A limit that could not fail (its bound outside the metric's declared range at every record's
oracle: the measurement sits at the metric's floor) is not written; the header names it."""
from __future__ import annotations

import math
import shlex
from pathlib import Path

from ..catalogue import info
from ..catalogue import suites as declared_suites
from ..errors import ConformanceError
from ..results.contract import direction_of, now_iso
from ..settings import Settings
from .thresholds import Threshold, as_threshold, file_stem

DEFAULT_MIN_MARGIN = 0.05


def min_margin(metric: str) -> float:
    """Smallest margin of a metric's limits, in its own unit (``MetricInfo.min_margin``): the
    run-to-run spread we expect from other machines/library builds and, for EER/WER, from small
    item sets. The margin is also at least the half-width of the record's 95 % bootstrap
    interval (half_width), which covers the sampling spread of small item sets."""
    q = info(metric)
    return q.min_margin if q is not None else DEFAULT_MIN_MARGIN


def derive(records: list[dict], margin: float, skipped: list[str] | None = None) -> dict:
    """{bitrate: {suite: {cond: {metric: (kind, limit)}}}} from records (of one run or several:
    the worst of each key wins); a range's limit is (lower, upper). Records of quantities that
    are never gated, and of metrics a suite does not calibrate (``SuiteInfo.calibrated``), are
    skipped; the condition key is the suite's own. Keys whose limit could not fail at any of
    their records are left out and, when ``skipped`` is a list, described there."""
    worst: dict = {}
    recs_of: dict = {}
    known = declared_suites()
    for r in records:
        if r.get("value") is None or r.get("gated", True) is False or r["suite"] not in known:
            continue
        suite = known[r["suite"]]
        if suite.calibrated is not None and r["metric"] not in suite.calibrated:
            continue
        direction = direction_of(r)
        if suite.limit_on_delta:
            if r.get("delta") is None:
                continue
            kind, v = "max_delta", r["delta"]
        else:
            kind = {"two-sided": "range", "lower": "max_value", "higher": "min_value"}[direction]
            v = r["value"]
        m = margin_for(r["metric"], max(margin * abs(v), half_width(r, kind)))
        if kind == "max_delta":
            limit = v - m if direction == "higher" else v + m
        elif kind == "range":
            limit = (v - m, v + m)
        else:
            limit = v - m if kind == "min_value" else v + m
        key = (r["bitrate_kbps"], r["suite"], suite.key(r["condition"]), r["metric"])
        old = worst.get(key)
        worst[key] = (kind, limit if old is None else looser(kind, old[1], limit, direction == "higher"))
        recs_of.setdefault(key, []).append(r)
    out: dict = {}
    for (br, suite, cond, metric), (kind, limit) in worst.items():
        why = could_not_fail(kind, limit, metric, recs_of[(br, suite, cond, metric)])
        if why:
            if skipped is not None:
                where = "any bitrate" if br is None else f"{br:g} kbps"
                skipped.append(f"{where} {suite}.{cond}.{metric}: {why}")
            continue
        out.setdefault(br, {}).setdefault(suite, {}).setdefault(cond, {})[metric] = (kind, limit)
    return out


def margin_for(metric: str, wanted: float) -> float:
    """``wanted`` (a relative margin or a half-width), at least the metric's ``min_margin`` and
    at most its ``max_margin``."""
    q = info(metric)
    return min(max(min_margin(metric), wanted), q.max_margin if q is not None else math.inf)


def could_not_fail(kind: str, limit, metric: str, recs: list[dict]) -> str | None:
    """Why the derived limit could not fail at any of the records it was derived from (None
    when it can fail at one of them): the records' measurements sit at the metric's bound."""
    q = info(metric)
    if q is None:
        return None
    th = Threshold(kind, limit[0], "", limit[1]) if kind == "range" else Threshold(kind, limit, "")
    if kind != "max_delta":
        return th.cannot_fail(q.bounds, q.higher_is_better, label=q.label)
    whys = [th.cannot_fail(q.bounds, q.higher_is_better, r.get("oracle"), q.label) for r in recs
            if r.get("oracle") is not None]
    return whys[0] if whys and all(whys) else None


def half_width(r: dict, kind: str) -> float:
    """Half the width of the record's 95 % interval of the limited quantity (the delta for a
    ``max_delta`` limit, else the value): a limit closer than that to the measurement would fail
    a rerun of the same codec by chance. 0 when the record has no interval."""
    ci = r.get("delta_ci95" if kind == "max_delta" else "value_ci95")
    return (float(ci[1]) - float(ci[0])) / 2 if ci else 0.0


def looser(kind: str, a, b, higher_is_better: bool):
    if kind == "range":
        return (min(a[0], b[0]), max(a[1], b[1]))
    if kind == "min_value" or (kind == "max_delta" and higher_is_better):
        return min(a, b)
    return max(a, b)


def _entry(kind: str, limit) -> str:
    if kind == "range":
        return f"{{ min_value = {limit[0]:.4g}, max_value = {limit[1]:.4g} }}"
    return f"{{ {kind} = {limit:.4g} }}"


# options that say where files go or how pytest prints, not what was measured: left out of the
# command written into a thresholds file's header (with their values)
_NOISE_OPTIONS = {"--codec-cache-dir", "--codec-report-dir", "--codec-thresholds-dir", "--codec-resume",
                  "--codec-no-cache", "-p", "-n", "--dist", "-q", "-qq", "-v", "-x", "-s", "--tb", "-rA"}
_NOISE_WITH_VALUE = {"--codec-cache-dir", "--codec-report-dir", "--codec-thresholds-dir", "--codec-resume",
                     "-p", "-n", "--dist", "--tb"}


def command_line(argv: list[str]) -> list[str]:
    """The run's pytest arguments without paths of this machine and output options: what a reader
    needs to rerun the measurement (suite paths become relative ``suites/...``)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in _NOISE_OPTIONS:
            skip = name in _NOISE_WITH_VALUE and "=" not in a
            continue
        if a.startswith("/") and "suites" in a:
            a = "suites/" + a.split("suites", 1)[1].lstrip("/")
        elif a.startswith("/"):
            continue
        out.append(a)
    return out


def render(codec: str, table: dict, runs: list[dict], margin: float, skipped: list[str], bitrate: str,
           kept: dict | None = None) -> str:
    """The thresholds file of ``codec`` derived from ``runs`` (their ``run`` blocks), with a
    header that says what it was derived from and how. ``table``'s bitrate ``None`` is written as
    ``[default...]`` (limits for any bitrate); ``kept`` holds tables of a previous file for the
    bitrates these runs did not measure, copied as they were."""
    seeds = ", ".join(map(str, sorted({r.get("seed") for r in runs}, key=str)))
    profiles = sorted({str(r.get("profile")) for r in runs})
    metrics = sorted({m for br in table.values() for su in br.values() for c in su.values() for m in c})
    first = runs[0]
    lines = [f"# Thresholds for {codec}, derived on {now_iso()} from {len(runs)} run{'s' if len(runs) > 1 else ''} "
             f"(profile {', '.join(profiles)}; seed{'s' if len(runs) > 1 else ''} {seeds}):",
             *(f"#   {r.get('id')}" for r in runs),
             "# Policy (docs/thresholds.md): limit = the worst value across these runs (noise: the worst",
             "# delta = codec - oracle over every SNR of a condition kind) plus a margin: the largest of the",
             f"# metric's minimum, {margin:g} x |worst| and the widest 95 % half-width, capped at the metric's maximum:",
             "#   " + "; ".join(f"{k} {min_margin(k):g}..{_cap(k)}" for k in metrics) + ".",
             "# Written from these runs alone (no older limit of a suite they measured is kept): a better codec",
             "# gets tighter limits.",
             "# First run: pytest " + (shlex.join(command_line(first["argv"])) if first.get("argv") else
                                       f"suites/ --codec={codec} --codec-bitrate={bitrate} --codec-profile="
                                       f"{first.get('profile')} --codec-seed={first.get('seed')}"),
             *(["# Not written: a limit that could not fail (the measurement sits at the metric's bound):"]
               + [f"#   {w}" for w in skipped] if skipped else []),
             *([f"# Kept as they were (not measured by these runs): "
                f"{', '.join(f'{_head_text(h)} {s}' for h, suites in kept.items() for s in sorted(suites))}"]
               if kept else []),
             ]
    lines = [toml_comment(line) for line in lines]  # a newline in a run id or argv must not end a comment
    lines += ["", "[meta]",
              "source = " + toml_string(f"calibrated: {len(runs)} run(s), profile {', '.join(profiles)}, seeds {seeds}, "
                                        f"margin {margin:g}; first run {first.get('id')}"), ""]
    for br in sorted(table, key=lambda b: -1.0 if b is None else b):
        head = "default" if br is None else f'bitrate."{br:g}"'
        for suite in sorted(table[br]):
            for cond in sorted(table[br][suite]):
                lines.append(f"[{head}.{toml_key(suite)}.{toml_key(cond)}]")
                for metric, (kind, limit) in sorted(table[br][suite][cond].items()):
                    lines.append(f"{toml_key(metric)} = {_entry(kind, limit)}")
                lines.append("")
    for (top, br), suites in (kept or {}).items():
        head = top if br is None else f"{top}.{toml_key(br)}"
        for suite in sorted(suites):
            for cond in sorted(suites[suite]):
                lines.append(f"[{head}.{toml_key(suite)}.{toml_key(cond)}]")
                for metric, spec in sorted(suites[suite][cond].items()):
                    th = as_threshold(spec, "")
                    lines.append(f"{toml_key(metric)} = "
                                 f"{_entry(th.kind, (th.limit, th.upper) if th.kind == 'range' else th.limit)}")
                lines.append("")
    return "\n".join(lines)


def _cap(metric: str) -> str:
    q = info(metric)
    return "no cap" if q is None or math.isinf(q.max_margin) else f"{q.max_margin:g}"


def calibrate(docs: list[dict], out_dir: Path, margin: float, name: str | None = None,
              bitrate: str = "all") -> list[Path]:
    """Write ``out_dir/<codec>.toml`` for every codec of ``docs`` (results documents: one codec
    run under several seeds), each derived from all of them. A suite at a bitrate these runs
    measured is written from them alone; the other tables of an existing file are kept as they
    were (and named in the header). ``name`` writes ONE file of that name from every codec of ``docs``
    (anchors: the worst of them on each key), as limits for any bitrate (``[default...]``):
    ``--name default`` gives the limits of a codec without a file of its own."""
    profiles = {str(d["run"].get("profile")) for d in docs}
    if len(profiles) > 1:
        raise ConformanceError(f"calibrate: the runs were made with different profiles ({', '.join(sorted(profiles))}); "
                               "calibrate each profile's runs on their own")
    out_dir.mkdir(parents=True, exist_ok=True)
    records = [r for d in docs for r in d["records"]]
    runs = [d["run"] for d in docs]
    if name:
        skipped: list[str] = []
        table = derive([dict(r, bitrate_kbps=None) for r in records], margin, skipped)
        p = out_dir / f"{file_stem(name)}.toml"
        p.write_text(render(" + ".join(sorted({r["codec"] for r in records})) + f" (as {name})", table, runs, margin,
                            skipped, bitrate), encoding="utf-8")
        return [p]
    out = []
    for codec in sorted({r["codec"] for r in records}):
        skipped = []
        table = derive([r for r in records if r["codec"] == codec], margin, skipped)
        p = out_dir / f"{file_stem(codec)}.toml"  # the name the lookup tries first
        kept = _unmeasured(p, table) if p.is_file() else {}
        own = [d["run"] for d in docs if any(r["codec"] == codec for r in d["records"])]
        p.write_text(render(codec, table, own, margin, skipped, bitrate, kept), encoding="utf-8")
        out.append(p)
    return out


def _unmeasured(path: Path, table: dict) -> dict:
    """The tables of an existing thresholds file that ``table`` (the runs' limits) does not
    measure: a bitrate's suite the runs did not run, by table header (``bitrate."6"``)."""
    import tomllib
    old = tomllib.loads(path.read_text(encoding="utf-8"))
    kept: dict = {}
    for br, block in (old.get("bitrate") or {}).items():
        ran: dict = next((table[b] for b in table if b is not None and abs(float(br) - b) < 1e-6), {})
        rest = {suite: conds for suite, conds in block.items() if suite not in ran}
        if rest:
            kept[("bitrate", br)] = rest
    if old.get("default") and None not in table:
        kept[("default", None)] = old["default"]
    return kept


def _head_text(head: tuple) -> str:
    top, br = head
    return top if br is None else f'{top}."{br}"'


# TOML text (https://toml.io/en/v1.0.0): what a results file holds (run ids, profiles, argv, keys
# of an older file) may hold quotes, backslashes, newlines and control characters
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string that reads back as ``text`` (control characters as
    ``\\uXXXX``; a lone surrogate, which no file can hold, as U+FFFD)."""
    out = []
    for ch in str(text):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    """A bare key when ``key`` is one (letters, digits, ``_``, ``-``), else a quoted one."""
    key = str(key)
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) else toml_string(key)


def toml_comment(line: str) -> str:
    """One comment line as it is, but for the characters a TOML comment cannot hold (control
    characters but tab: a newline would end the comment), written as escapes."""
    return "".join(ch if ch == "\t" or (ord(ch) >= 0x20 and ord(ch) != 0x7F and not 0xD800 <= ord(ch) <= 0xDFFF)
                   else f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else "\ufffd" for ch in line)


def write_thresholds(results: dict, settings: Settings) -> list[Path]:
    """``--codec-update-thresholds``: each codec's file from this run alone (replaced whole)."""
    out_dir = settings.path(settings.thresholds_dir)
    if out_dir is None:
        raise ConformanceError("--codec-update-thresholds: --codec-thresholds-dir is empty; give the folder to write to")
    return calibrate([results], out_dir, settings.threshold_margin,
                     bitrate=settings.bitrate)
