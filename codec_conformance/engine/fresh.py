"""The fresh process of the implementation suite's determinism check: ``python -m
codec_conformance.engine.fresh DIR`` builds the codec named in ``DIR/spec.json`` from the run's
settings (as :class:`~codec_conformance.engine.runner.CodecRunner` does), puts each signal of
``DIR/in.npz`` through it alone at each bitrate (``raw_roundtrip``: uncached) and writes the
outputs to ``DIR/out.npz`` (``b<bitrate index>_<signal index>``). Started by
``CodecRunner.fresh_process``; nothing else."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..codecs.cache import Cache
from ..fetch import configure_from
from ..progress import Stages
from ..settings import Settings
from .runner import CodecRunner


def main(folder: str) -> None:
    d = Path(folder)
    spec = json.loads((d / "spec.json").read_text(encoding="utf-8"))
    name = spec["name"]
    settings = Settings(codecs=[name], **spec["settings"])
    configure_from(settings)
    runner = CodecRunner(settings, spec["device"], Cache(None, enabled=False), {"codec_s": 0.0}, Stages())
    with np.load(d / "in.npz") as z:
        signals = [z[f"arr_{j}"] for j in range(len(z.files))]
    out = {}
    for i, b in enumerate(spec["bitrates"]):
        for j, x in enumerate(signals):
            out[f"b{i}_{j}"] = runner.raw_roundtrip(name, float(b), x[None])[0]
    np.savez(d / "out.npz", **out)


if __name__ == "__main__":
    main(sys.argv[1])
