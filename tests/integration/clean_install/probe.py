"""Run by tests/integration/test_clean_install.py with a clean venv's Python, outside the
repository: builds every registered codec (neural ones at random-init; Lyra with its shipped
weights, the only ones it has), round-trips a quarter second of noise at its lowest bitrate, and
imports what the paper's evaluators need. Writes one JSON document (name -> ok or the error) to
the file named by its argument (libraries print on import: stdout is not ours)."""
import importlib
import json
import sys
import time

import numpy as np

from codec_conformance.errors import ConformanceError
from codec_conformance.registry import codec_names, family_variants, make_codec

PAPER_EVALUATOR_MODULES = ("whisper", "speechbrain.inference.speaker", "funasr")


def probe(spec: str) -> dict:
    t = time.perf_counter()
    try:
        try:
            codec = make_codec(spec, weights="random-init")
        except ConformanceError as exc:
            if "random-init" not in str(exc):
                raise
            codec = make_codec(spec)  # a codec without random-init (Lyra: shipped weights only)
        sr = int(codec.sample_rate)
        x = (0.1 * np.random.default_rng(0).standard_normal((1, sr // 4))).astype(np.float32)
        y = np.asarray(codec.roundtrip(x, min(codec.bitrates_kbps)))
        if y.shape != x.shape or not np.all(np.isfinite(y)):
            return {"ok": False, "error": f"round trip returned shape {y.shape} (finite: {np.isfinite(y).all()})"}
        return {"ok": True, "weights": getattr(codec, "weights", "none"), "s": round(time.perf_counter() - t, 2)}
    except Exception as exc:  # noqa: BLE001  (reported, one line per codec)
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:600]}


def main() -> None:
    out = {}
    for name in codec_names():
        members = family_variants(name)
        spec = f"{name}:{members[0]}" if members else name
        out[spec] = probe(spec)
    for module in PAPER_EVALUATOR_MODULES:
        try:
            importlib.import_module(module)
            out[f"import {module}"] = {"ok": True}
        except Exception as exc:  # noqa: BLE001
            out[f"import {module}"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:600]}
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
