"""One prepared GPU run (a few minutes on one GPU): each neural codec's throughput in audio-seconds
per second (higher is better) at batch 1 and batched, in fp32 and bf16/fp16 (autocast, as
``--codec-precision``); Lyra on CPU for comparison; then the smoke suite with ``--codec-device cuda``.

    python benchmarks/bench_gpu.py --out "$OUT"              # on the GPU machine
    python benchmarks/bench_gpu.py --quick --out /tmp/bench  # anywhere: CPU, tiny inputs, checks the script

Weights: random-init by default (same architecture, so the same compute, as the published models;
a device machine has no network). ``--weights pretrained`` uses the published ones where the caches
hold them (``python -m codec_conformance.cli ...`` / a first run downloads them; docs/models.md).
The smoke suite's exit status is recorded as it is: with random-init weights the shipped gates
fail (an untrained model), so what it shows is that every suite runs on the device, and how long.
Results: ``<out>/bench_gpu.json`` and a table on stdout; every number is labelled with its device,
precision, batch, input length and weights.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NEURAL = ("encodec", "dac", "dac24", "dac16", "speechtokenizer", "freqcodec", "hificodec")


def throughput(codec, bitrate: float, batch: int, seconds: float, repeats: int) -> float:
    """Audio-seconds coded (encode + decode) per wall-clock second, best of ``repeats``."""
    import torch
    x = (0.1 * np.random.default_rng(0).standard_normal((batch, int(seconds * codec.sample_rate)))).astype(np.float32)
    cuda = str(getattr(codec, "device", "cpu")).startswith("cuda")
    codec.roundtrip(x, bitrate)  # warm-up: weights on the device, kernels chosen
    best = float("inf")
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        codec.roundtrip(x, bitrate)
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return batch * seconds / best


def bench_codecs(a, device: str) -> list[dict]:
    from codec_conformance.errors import ConformanceError
    from codec_conformance.registry import make_codec
    rows = []
    names = a.codec or (("encodec", "dac16") if a.quick else NEURAL)
    precisions = ("fp32", "bf16") if a.quick else ("fp32", "bf16", "fp16")
    for name in names:
        for precision in precisions:
            row = {"codec": name, "device": device, "precision": precision, "weights": a.weights,
                   "seconds_per_item": a.seconds}
            try:
                codec = make_codec(name, weights=a.weights, device=device)
                codec.set_precision(precision)
                row["bitrate_kbps"] = br = max(codec.bitrates_kbps)
                for batch in (1, a.batch):
                    row[f"audio_s_per_s_batch{batch}"] = round(throughput(codec, br, batch, a.seconds, a.repeats), 2)
            except (ConformanceError, RuntimeError, ValueError) as exc:  # e.g. no complex bf16 (freqcodec)
                row["skipped"] = str(exc).splitlines()[0][:200]
            rows.append(row)
            print(json.dumps(row), flush=True)
        _free(device)
    # Lyra on CPU (TFLite), for comparison: batch 1, its own precision
    row = {"codec": "lyra", "device": "cpu", "precision": "tflite", "weights": "shipped", "seconds_per_item": a.seconds}
    try:
        lyra = make_codec("lyra")
        row["bitrate_kbps"] = br = max(lyra.bitrates_kbps)
        row["audio_s_per_s_batch1"] = round(throughput(lyra, br, 1, a.seconds, a.repeats), 2)
    except (ConformanceError, RuntimeError, ImportError) as exc:
        row["skipped"] = str(exc).splitlines()[0][:200]
    print(json.dumps(row), flush=True)
    rows.append(row)
    return rows


def _free(device: str) -> None:
    import gc
    gc.collect()
    if device.startswith("cuda"):
        import torch
        torch.cuda.empty_cache()


def smoke_suite(a, device: str, out: Path) -> dict:
    """The smoke suite on the device (measure-only: random-init weights have no thresholds)."""
    codec = (a.codec or ["dac"])[0]
    args = [sys.executable, "-m", "pytest", "suites/" if not a.quick else "suites/test_frequency_response.py",
            f"--codec={codec}", f"--codec-weights={a.weights}", f"--codec-device={device}", "--codec-measure-only",
            "--codec-profile=smoke", "-q", "-p", "no:randomly", "--codec-report-dir", str(out / "reports"),
            "--codec-cache-dir", str(out / "cache")]
    t0 = time.perf_counter()
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=a.suite_timeout,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    tail = (r.stdout + r.stderr).strip().splitlines()[-3:]
    res = {"command": " ".join(args[1:]), "exit_status": r.returncode, "wall_s": round(time.perf_counter() - t0, 1),
           "summary": tail}
    print(json.dumps(res), flush=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CPU, 2 codecs, 0.5 s items, random-init: checks the script")
    ap.add_argument("--device", default=None, help="default: cuda when present (cpu with --quick)")
    ap.add_argument("--codec", action="append", help="only these codecs (repeatable)")
    ap.add_argument("--weights", default="random-init", choices=("random-init", "pretrained"))
    ap.add_argument("--seconds", type=float, default=None, help="audio seconds per item (default 10; 0.5 quick)")
    ap.add_argument("--batch", type=int, default=None, help="the batched size (default 16; 2 quick)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--no-suite", action="store_true", help="skip the smoke suite")
    ap.add_argument("--suite-timeout", type=float, default=420.0)
    ap.add_argument("--out", default=os.environ.get("OUT", "bench_gpu_out"))
    a = ap.parse_args()
    import torch
    device = a.device or ("cpu" if a.quick or not torch.cuda.is_available() else "cuda")
    a.seconds = a.seconds or (0.5 if a.quick else 10.0)
    a.batch = a.batch or (2 if a.quick else 16)
    a.repeats = a.repeats or (1 if a.quick else 3)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    info = {"device": device, "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
            "torch": torch.__version__, "python": platform.python_version(), "quick": a.quick,
            "weights": a.weights, "unit": "audio-seconds coded (encode+decode) per wall-clock second; higher is better"}
    print(json.dumps(info), flush=True)
    doc = {"info": info, "codecs": bench_codecs(a, device)}
    if not a.no_suite:
        doc["smoke_suite"] = smoke_suite(a, device, out)
    (out / "bench_gpu.json").write_text(json.dumps(doc, indent=1))
    print(f"\n{'codec':16s} {'precision':9s} {'batch 1':>10s} {'batch ' + str(a.batch):>10s}  (audio-s per s, {device})")
    for r in doc["codecs"]:
        b1, bn = r.get("audio_s_per_s_batch1"), r.get(f"audio_s_per_s_batch{a.batch}")
        print(f"{r['codec']:16s} {r['precision']:9s} {b1 if b1 is not None else '-':>10} "
              f"{bn if bn is not None else '-':>10}  {r.get('skipped', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
