"""``--codec-update-thresholds``: write ``thresholds/<codec>.toml`` from a run's measurements
with a stated margin (regeneration in the style of pytest-regressions). Noise records become
``max_delta`` limits (the worst delta over SNRs of a condition kind, loosened by the margin),
linearity SERs ``min_value`` limits, frequency-response summaries ``max_value`` limits.

An existing file is merged, not replaced: limits of other bitrates are kept, and where both
have a limit the looser one wins, so a file calibrated on the smoke profile at every bitrate and
then on the standard profile (harsher SNRs, more Hypothesis examples) holds for both."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from .results import now_iso

# Smallest margin per metric, in its own unit: the run-to-run spread we expect from other
# machines/library builds and, for EER/WER, from small item sets (smoke: 6 utterances).
MIN_ABS_MARGIN = {"ser_db": 3.0, "low_band_boost_db": 1.0, "mid_band_ripple_db": 2.0,
                  "high_band_rolloff_db": 1.0, "pesq": 0.15, "stoi": 0.03, "estoi": 0.03, "wer": 0.1,
                  "eer": 0.1, "mel_distance": 0.1, "prosody_corr": 0.05, "dnsmos": 0.2, "emotion_acc": 0.1}
NOT_GATED = {"si_sdr"}  # codecs need not preserve phase: SI-SDR is recorded, never gated


def cond_key(rec: dict) -> str:
    c = rec["condition"]
    if rec["suite"] == "noise":
        return c["kind"]
    if rec["suite"] == "additivity":
        return c.get("mixture", "speech_speech")
    return {"homogeneity": "gain", "frequency_response": "sweep"}[rec["suite"]]


def derive(records: list[dict], margin: float) -> dict:
    """{bitrate: {suite: {cond: {metric: (kind, limit)}}}} from records."""
    worst: dict = defaultdict(dict)
    for r in records:
        if r.get("value") is None or r["metric"] in NOT_GATED:
            continue
        hib = r["higher_is_better"]
        if r["suite"] == "noise":
            if r.get("delta") is None:
                continue
            kind, v = "max_delta", r["delta"]
            scale = abs(v)
        elif r["suite"] in ("additivity", "homogeneity"):
            if r["metric"] != "ser_db":
                continue
            kind, v, scale = "min_value", r["value"], abs(r["value"])
        else:
            kind, v, scale = "max_value", r["value"], abs(r["value"])
        m = max(MIN_ABS_MARGIN.get(r["metric"], 0.05), margin * scale)
        if r["metric"] == "wer":  # 6 utterances: 1 word of ~50 is 0.02; keep WER limits honest
            m = max(m, 0.1)
        if kind == "max_delta":
            limit = v - m if hib else v + m
        elif kind == "min_value":
            limit = v - m
        else:
            limit = v + m
        key = (r["bitrate_kbps"], r["suite"], cond_key(r), r["metric"])
        old = worst.get(key)
        looser = old is None or (limit < old[1] if (kind == "min_value" or (kind == "max_delta" and hib)) else limit > old[1])
        if looser:
            worst[key] = (kind, limit)
    out: dict = {}
    for (br, suite, cond, metric), (kind, limit) in worst.items():
        out.setdefault(br, {}).setdefault(suite, {}).setdefault(cond, {})[metric] = (kind, limit)
    return out


def looser(kind: str, a: float, b: float, higher_is_better: bool) -> float:
    if kind == "min_value" or (kind == "max_delta" and higher_is_better):
        return min(a, b)
    return max(a, b)


def merge_existing(table: dict, old: dict, higher_is_better: dict) -> dict:
    """``table`` (from :func:`derive`) merged with a parsed thresholds file: the looser limit
    where both have one, every other limit of either kept."""
    out = {br: {su: {c: dict(m) for c, m in conds.items()} for su, conds in suites.items()}
           for br, suites in table.items()}
    for br_text, suites in (old.get("bitrate") or {}).items():
        br = float(br_text)
        for suite, conds in suites.items():
            for cond, metrics in conds.items():
                for metric, spec in metrics.items():
                    (kind, limit), = spec.items()
                    slot = out.setdefault(br, {}).setdefault(suite, {}).setdefault(cond, {})
                    if metric in slot and slot[metric][0] == kind:
                        slot[metric] = (kind, looser(kind, slot[metric][1], float(limit),
                                                     higher_is_better.get(metric, True)))
                    elif metric not in slot:
                        slot[metric] = (kind, float(limit))
    return out


def render(codec: str, table: dict, run: dict, margin: float, merged_from: str | None, bitrate: str) -> str:
    lines = [f"# Thresholds for {codec}, written by --codec-update-thresholds on {now_iso()}",
             f"# from run {run.get('id')} (profile {run.get('profile')}, seed {run.get('seed')}) with margin "
             f"{margin:g} x |measured| (noise: x |delta|), at least: "
             + ", ".join(f"{k} {v:g}" for k, v in MIN_ABS_MARGIN.items()) + ".",
             "# Noise limits are on delta = codec - oracle, taken at the worst SNR of each condition kind.",
             f"# This run: pytest suites/ --codec={codec} --codec-bitrate={bitrate} --codec-profile={run.get('profile')} "
             f"--codec-update-thresholds --codec-threshold-margin={margin:g}",
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
                    lines.append(f"{metric} = {{ {kind} = {limit:.4g} }}")
                lines.append("")
    return "\n".join(lines)


def write_thresholds(results: dict, settings) -> list[Path]:
    out = []
    d = settings.path(settings.thresholds_dir)
    d.mkdir(parents=True, exist_ok=True)
    for codec in sorted({r["codec"] for r in results["records"]}):
        recs = [r for r in results["records"] if r["codec"] == codec]
        table = derive(recs, settings.threshold_margin)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in codec)
        p = d / f"{safe}.toml"
        merged_from = None
        if p.is_file():
            import tomllib
            old = tomllib.loads(p.read_text())
            table = merge_existing(table, old, {r["metric"]: r["higher_is_better"] for r in recs})
            merged_from = str((old.get("meta") or {}).get("source", p.name)).replace('"', "'")
            merged_from = merged_from.split("; merged with: ")  # keep the list flat
            merged_from = "; ".join(dict.fromkeys(merged_from))
        p.write_text(render(codec, table, results["run"], settings.threshold_margin, merged_from,
                            bitrate=settings.bitrate))
        out.append(p)
    return out
