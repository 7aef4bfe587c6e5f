"""Write the packaged default.toml (the limits of a codec without a file of its own) from anchor
runs, so the default promises something a reader can picture (docs/thresholds.md):

- noise robustness: no worse than MNRU at Q = 20 dB (ITU-T P.810; ``ladder:mnru20``) on each
  metric and condition kind;
- frequency response: inside the responses of MNRU (flat) and Opus at 64 kbps (a transparent
  codec that high-passes below 100 Hz), with each quantity's margin;
- additivity and homogeneity: at least as linear as Opus at its lowest bitrate (6 kbps).

    python scripts/calibrate_default.py RUNS_DIR      # RUNS_DIR/{mnru20,top,opus6}-s*/latest

(scripts/recalibrate.sh top and anchors make those runs.)
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codec_conformance.gate.calibration import calibrate  # noqa: E402
from codec_conformance.gate.thresholds import BUILTIN_DIR  # noqa: E402
from codec_conformance.results.contract import load_results  # noqa: E402

ANCHORS = (  # (run folder prefix, codec, bitrate in kbps, the suites whose records it contributes)
    ("mnru20", "ladder:mnru20", 256.0, ("noise", "frequency_response")),
    ("top", "opus", 64.0, ("frequency_response",)),
    ("opus6", "opus", 6.0, ("additivity", "homogeneity")),
)


def main(runs_dir: str, out_dir: Path = BUILTIN_DIR) -> Path:
    docs = []
    for prefix, codec, kbps, suites in ANCHORS:
        found = sorted(Path(runs_dir).glob(f"{prefix}-s*/latest/results.json"))
        for f in found:
            doc = load_results(f)
            doc["records"] = [r for r in doc["records"] if r["codec"] == codec and r["suite"] in suites
                              and abs(float(r["bitrate_kbps"]) - kbps) < 1e-6]
            docs.append(doc)
        if not any(d["records"] for d in docs[len(docs) - len(found):]):
            raise SystemExit(f"no {codec} records of {', '.join(suites)} in {runs_dir}/{prefix}-s*/latest "
                             "(scripts/recalibrate.sh top / anchors)")
    (path,) = calibrate(docs, out_dir, 0.2, name="default")
    lines = path.read_text().splitlines()
    promise = ["# The limits of a codec without a thresholds file of its own.",
               "# What it promises (scripts/calibrate_default.py): noise robustness no worse than MNRU Q = 20 dB;",
               "# frequency response inside MNRU's (flat) and Opus 64 kbps' with each quantity's margin; additivity",
               "# and homogeneity at least as linear as Opus at 6 kbps. docs/ladder.md: what it catches."]
    path.write_text("\n".join(promise + lines) + "\n")
    return path


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else "calibration-runs"))
