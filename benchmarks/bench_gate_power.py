"""False alarms and power of the gates on the smoke profile (the README's tables).

    PYTHONPATH=. python benchmarks/bench_gate_power.py OUT_DIR [false-alarms|power|all]

Runs the noise suite (``-k test_noise_robustness``, ``--codec-measure-only``) of
- false alarms: Opus 64 kbps with ``--codec-seed`` 0..4 (other noise draws, same codec); every
  pair of seeds is compared with the baseline gate (``gate.baseline.compare``: the paired test
  with minimal meaningful differences), and every seed's records are checked against the
  shipped thresholds (``thresholds/opus.toml``); a flag here is a false alarm;
- power: Opus 12 kbps against an Opus 24 kbps baseline, and a 6-bit against an 8-bit uniform
  quantiser (``benchmarks/quantizers.py``): the worse codec should be flagged.
Records are matched across codecs/bitrates by rewriting the new run's codec id and bitrate to
the baseline's (the gate itself only compares runs of one codec id). Prints the tables.
"""
import itertools
import subprocess
import sys
from collections import Counter
from pathlib import Path

from codec_conformance.gate.baseline import compare
from codec_conformance.gate.thresholds import ThresholdSet
from codec_conformance.catalogue import suite as suite_info
from codec_conformance.results.contract import load_results

ROOT = Path(__file__).resolve().parents[1]


def run(out: Path, name: str, *args) -> dict:
    """The noise-suite records of a run (made unless OUT/NAME/latest/results.json exists: a full
    run of the same settings may be linked there)."""
    rep = out / name
    if not (rep / "latest" / "results.json").is_file():
        cmd = [sys.executable, "-m", "pytest", str(ROOT / "suites"), "-q", "-p", "no:randomly", "-k",
               "test_noise_robustness", "--codec-measure-only", f"--codec-report-dir={rep}",
               f"--codec-cache-dir={out / 'cache'}", *args]
        subprocess.run(cmd, cwd=ROOT, check=False, capture_output=True)
    doc = load_results(rep / "latest" / "results.json")
    doc["records"] = [r for r in doc["records"] if r["suite"] == "noise"]
    return doc


def aligned(doc: dict, codec: str, bitrate: float) -> list[dict]:
    return [dict(r, codec=codec, bitrate_kbps=bitrate) for r in doc["records"]]


def flags(base: list[dict], new: list[dict]) -> Counter:
    return Counter(r["metric"] for r in compare(base, new, 0.05).rows if r["status"] == "REGRESSED")


def threshold_failures(doc: dict) -> Counter:
    th = ThresholdSet.load(ROOT / "thresholds" / "opus.toml")
    out = Counter()
    for r in doc["records"]:
        t = th.lookup(r["bitrate_kbps"], r["suite"], suite_info(r["suite"]).key(r["condition"]), r["metric"])
        if t is not None and r.get("gated", True) and t.check(r["value"], r["delta"], r["higher_is_better"]) is False:
            out[r["metric"]] += 1
    return out


def have(out: Path, name: str) -> bool:
    """A finished run of that name exists."""
    p = out / name / "latest" / "results.json"
    return p.is_file() and load_results(p)["run"].get("finished") is not None


def main(out: Path, what: str) -> None:
    """``what``: false-alarms | power | all (runs what is missing), or report (tables of the runs
    that exist only)."""
    out.mkdir(parents=True, exist_ok=True)
    if what in ("false-alarms", "all", "report"):
        seeds = [s for s in range(5) if what != "report" or have(out, f"opus-seed{s}")]
        docs = {s: run(out, f"opus-seed{s}", "--codec=opus", f"--codec-seed={s}") for s in seeds}
        n_rec = len(docs[seeds[0]]["records"]) if seeds else 0
        print(f"False alarms: Opus 64 kbps, smoke noise suite, {n_rec} records per run, seeds {seeds}")
        print("| comparison | verdict flips (REGRESSED records) |\n|---|---|")
        for a, b in itertools.combinations(seeds, 2):
            f = flags(docs[a]["records"], docs[b]["records"])
            print(f"| seed {b} vs baseline seed {a} | {sum(f.values())} {dict(f) or ''} |")
        for s in seeds:
            f = threshold_failures(docs[s])
            print(f"| seed {s} vs shipped thresholds | {sum(f.values())} {dict(f) or ''} |")
    if what in ("power", "all") or (what == "report" and have(out, "opus-12") and have(out, "opus-24")):
        print("\nPower: the worse codec against a baseline of the better one (smoke noise suite)")
        print("| new vs baseline | records | flagged REGRESSED, by metric |\n|---|---|---|")
        b24, b12 = run(out, "opus-24", "--codec=opus", "--codec-bitrate=24"), run(out, "opus-12", "--codec=opus",
                                                                                     "--codec-bitrate=12")
        f = flags(aligned(b24, "opus", 24.0), aligned(b12, "opus", 24.0))
        print(f"| Opus 12 kbps vs Opus 24 kbps | {len(b12['records'])} | {sum(f.values())}: {dict(sorted(f.items()))} |")
        if what != "report" or (have(out, "quant8") and have(out, "quant6")):
            q8, q6 = run(out, "quant8", "--codec=benchmarks.quantizers:q8"), run(out, "quant6",
                                                                                "--codec=benchmarks.quantizers:q6")
            f = flags(aligned(q8, "q", 64.0), aligned(q6, "q", 64.0))
            print(f"| 6-bit vs 8-bit quantiser | {len(q6['records'])} | {sum(f.values())}: {dict(sorted(f.items()))} |")
        f = flags(aligned(b24, "opus", 24.0), aligned(b24, "opus", 24.0))
        print(f"| Opus 24 kbps vs itself (sanity) | {len(b24['records'])} | {sum(f.values())} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "all")
