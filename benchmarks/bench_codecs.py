"""Codec speed: seconds of compute per second of audio (real-time factor), per codec and bitrate,
at batch 1 and batch 8 (issue #3; on a GPU issue #7's batched-vs-batch-1 figure).

    python benchmarks/bench_codecs.py                          # CPU, every registered codec
    python benchmarks/bench_codecs.py --device cuda --codec encodec --codec dac --bitrate all
    python benchmarks/bench_codecs.py --device cuda --precision fp16 --codec encodec   # mixed precision

Neural codecs run with random-init weights (same architecture and compute as pretrained ones).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

NEURAL = {"encodec", "dac", "dac24", "dac16", "speechtokenizer", "freqcodec", "hificodec"}


def rtf(codec, br, batch: int, seconds: float, repeats: int = 2) -> float:
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((batch, int(seconds * codec.sample_rate)))).astype(np.float32)
    try:
        import torch
        xt = torch.from_numpy(x).to(codec.device) if codec.device != "cpu" else x
    except ImportError:
        xt = x
    codec.roundtrip(xt[:1] if batch > 1 else xt, br)  # warm-up (model load, kernels)
    best = float("inf")
    for _ in range(repeats):
        if codec.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        codec.roundtrip(xt, br)
        if codec.device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best / (batch * seconds)


def main():
    from codec_conformance.registry import codec_names, make_codec
    from codec_conformance.settings import select_bitrates

    ap = argparse.ArgumentParser()
    ap.add_argument("--codec", action="append")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bitrate", default="min,max", help="all | max | min | min,max")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="fp32", help="fp32 | fp16 | bf16 (neural codecs)")
    a = ap.parse_args()
    try:
        import torch
        torch.set_num_threads(a.threads)
    except ImportError:
        pass
    names = a.codec or [n for n in codec_names() if n != "identity"]
    print(f"device {a.device}; precision {a.precision}; {a.seconds:g} s of audio per item; seconds of compute per second of audio "
          "(lower is better)")
    print(f"{'codec':16} {'kbps':>8} {'batch 1':>9} {'batch 8':>9}  weights")
    for n in names:
        kw = {"weights": "random-init", "device": a.device} if n in NEURAL else {}
        c = make_codec(n, **kw)
        if a.precision != "fp32":
            if not hasattr(c, "set_precision") or a.precision not in c.supported_precisions:
                print(f"{n:16} skipped: no {a.precision}")
                continue
            c.set_precision(a.precision)
        brs = sorted({b for spec in a.bitrate.split(",") for b in select_bitrates(c.bitrates_kbps, spec)})
        for br in brs:
            r1 = rtf(c, br, 1, a.seconds)
            r8 = rtf(c, br, 8, a.seconds)
            print(f"{n:16} {br:8.3g} {r1:9.3f} {r8:9.3f}  {getattr(c, 'weights', 'none')}", flush=True)


if __name__ == "__main__":
    main()
