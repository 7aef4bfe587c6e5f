"""``--codec-update-thresholds``: write ``thresholds/<codec>.toml`` from a run's measurements
with a stated margin (regeneration in the style of pytest-regressions). Noise records become
``max_delta`` limits (the worst delta over SNRs of a condition kind, loosened by the margin),
linearity SERs ``min_value`` limits, frequency-response summaries ``max_value`` limits.

An existing file is merged, not replaced: limits of other bitrates are kept, and where both
have a limit the looser one wins, so a file calibrated on the smoke profile at every bitrate and
then on the standard profile (harsher SNRs, more Hypothesis examples) holds for both."""
from __future__ import annotations

import shlex
from pathlib import Path

from ..catalogue import info
from ..catalogue import suites as declared_suites
from ..results.records import direction_of, now_iso
from .thresholds import file_stem

DEFAULT_MIN_MARGIN = 0.05


def min_margin(metric: str) -> float:
    """Smallest margin of a metric's limits, in its own unit (``MetricInfo.min_margin``): the
    run-to-run spread we expect from other machines/library builds and, for EER/WER, from small
    item sets. The margin is also at least the half-width of the record's 95 % bootstrap
    interval (half_width), which covers the sampling spread of small item sets."""
    q = info(metric)
    return q.min_margin if q is not None else DEFAULT_MIN_MARGIN


def derive(records: list[dict], margin: float) -> dict:
    """{bitrate: {suite: {cond: {metric: (kind, limit)}}}} from records; a range's limit is
    (lower, upper). Records of quantities that are never gated, and of metrics a suite does not
    calibrate (``SuiteInfo.calibrated``), are skipped; the condition key is the suite's own."""
    worst: dict = {}
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
        m = max(min_margin(r["metric"]), margin * abs(v), half_width(r, kind))
        if kind == "max_delta":
            limit = v - m if direction == "higher" else v + m
        elif kind == "range":
            limit = (v - m, v + m)
        else:
            limit = v - m if kind == "min_value" else v + m
        key = (r["bitrate_kbps"], r["suite"], suite.key(r["condition"]), r["metric"])
        old = worst.get(key)
        worst[key] = (kind, limit if old is None else looser(kind, old[1], limit, direction == "higher"))
    out: dict = {}
    for (br, suite, cond, metric), (kind, limit) in worst.items():
        out.setdefault(br, {}).setdefault(suite, {}).setdefault(cond, {})[metric] = (kind, limit)
    return out


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


def parse_limit(spec: dict) -> tuple:
    """(kind, limit) of one entry of a thresholds file."""
    if set(spec) == {"min_value", "max_value"}:
        return "range", (float(spec["min_value"]), float(spec["max_value"]))
    (kind, limit), = spec.items()
    return kind, float(limit)


def merge_existing(table: dict, old: dict, higher_is_better: dict) -> dict:
    """``table`` (from :func:`derive`) merged with a parsed thresholds file: the looser limit
    where both have one of the same kind, this run's where the kinds differ, every other limit of
    either kept."""
    out = {br: {su: {c: dict(m) for c, m in conds.items()} for su, conds in suites.items()}
           for br, suites in table.items()}
    for br_text, suites in (old.get("bitrate") or {}).items():
        br = float(br_text)
        for suite, conds in suites.items():
            for cond, metrics in conds.items():
                for metric, spec in metrics.items():
                    kind, limit = parse_limit(spec)
                    slot = out.setdefault(br, {}).setdefault(suite, {}).setdefault(cond, {})
                    if metric in slot and slot[metric][0] == kind:
                        slot[metric] = (kind, looser(kind, slot[metric][1], limit, higher_is_better.get(metric, True)))
                    elif metric not in slot:
                        slot[metric] = (kind, limit)
    return out


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


def render(codec: str, table: dict, run: dict, margin: float, merged_from: str | None, bitrate: str) -> str:
    lines = [f"# Thresholds for {codec}, written by --codec-update-thresholds on {now_iso()}",
             f"# from run {run.get('id')} (profile {run.get('profile')}, seed {run.get('seed')}) with margin "
             f"{margin:g} x |measured| (noise: x |delta|), at least: "
             + ", ".join(f"{k} {min_margin(k):g}" for k in sorted({m for br in table.values() for su in br.values()
                                                                   for c in su.values() for m in c})) + ".",
             "# Noise limits are on delta = codec - oracle, taken at the worst SNR of each condition kind;",
             "# every margin is at least the half-width of the measurement's 95 % bootstrap interval.",
             "# This run: pytest " + (shlex.join(command_line(run["argv"])) if run.get("argv") else
                                      f"suites/ --codec={codec} --codec-bitrate={bitrate} --codec-profile="
                                      f"{run.get('profile')} --codec-update-thresholds --codec-threshold-margin={margin:g}"),
             *([f"# Merged with the limits already in this file (looser limit kept): {merged_from}",
                "# To regenerate, delete this file and rerun each merged run's command in turn."]
               if merged_from else []),
             "", "[meta]", f'source = "measured: run {run.get("id")} (profile {run.get("profile")}), margin {margin:g}'
             + (f"; merged with: {merged_from}" if merged_from else "") + '"', ""]
    for br in sorted(table):
        for suite in sorted(table[br]):
            for cond in sorted(table[br][suite]):
                lines.append(f'[bitrate."{br:g}".{suite}.{cond}]')
                for metric, (kind, limit) in sorted(table[br][suite][cond].items()):
                    lines.append(f"{metric} = {_entry(kind, limit)}")
                lines.append("")
    return "\n".join(lines)


def write_thresholds(results: dict, settings) -> list[Path]:
    out = []
    d = settings.path(settings.thresholds_dir)
    d.mkdir(parents=True, exist_ok=True)
    for codec in sorted({r["codec"] for r in results["records"]}):
        recs = [r for r in results["records"] if r["codec"] == codec]
        table = derive(recs, settings.threshold_margin)
        p = d / f"{file_stem(codec)}.toml"  # the name the lookup tries first
        merged_from = None
        if p.is_file():
            import tomllib
            old = tomllib.loads(p.read_text())
            table = merge_existing(table, old, {r["metric"]: direction_of(r) == "higher" for r in recs})
            source = str((old.get("meta") or {}).get("source", p.name)).replace('"', "'")
            merged_from = "; ".join(dict.fromkeys(source.split("; merged with: ")))  # keep the list flat
        p.write_text(render(codec, table, results["run"], settings.threshold_margin, merged_from,
                            bitrate=settings.bitrate))
        out.append(p)
    return out
