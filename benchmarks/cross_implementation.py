"""Cross-implementation conformance (issue 25, item 2), at the real architectures: EnCodec 24 kHz
(``encodec`` vs ``transformers.EncodecModel``; ``--encodec-rates 24000,48000`` adds the 48 kHz
model, whose 1 s segments are laid out as well) and DAC 44.1 kHz (``descript-audio-codec`` vs
``transformers.DacModel``; ``--dac-rates 24000,16000`` adds the other variants), each built at
random-init by the suite's adapters (codecs/encodec.py, codecs/dac.py: seed 1234), its weights
converted with transformers' conversion rules (probes/cross_implementation.py). Per bitrate, on
each input (1 s of shipped speech, the same plus 123 samples: not whole frames; a 0.5 s sweep):
the fraction of identical codes, and the decoded difference (max |diff|, SNR in dB; inf =
identical) of the two decoders on the same codes and of each implementation's own round trip, and
the first sample where the round trips differ (-1: nowhere).

    python benchmarks/cross_implementation.py [--threads 1] [--encodec-rates 24000] [--dac-rates 44100]

Random-init weights: a check of the two implementations, not of a trained codec's quality.
About 1-2 min on 2 cores.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

from codec_conformance.codecs.dac import DacCodec
from codec_conformance.codecs.encodec import EncodecCodec
from codec_conformance.engine.golden import golden_inputs
from codec_conformance.probes import cross_implementation as ci


def inputs(sr: int, hop: int) -> dict[str, np.ndarray]:
    g = golden_inputs(sr)
    speech = g["speech"]
    return {"speech-1s": speech[: (len(speech) // hop) * hop], "speech+123": np.concatenate([speech, speech[:123]]),
            "sweep-0.5s": g["sweep"]}


def snr(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:.1f}"


def show(codec: str, name: str, points: list[ci.BitratePoint]) -> None:
    for p in points:
        print(f"{codec:8} {name:11} {p.bitrate_kbps:7.3g} {p.n_codebooks:3d}  {p.identical_codes:8.4f}  "
              f"{p.decode_max_abs:10.3g} {snr(p.decode_snr_db):>8}  {p.roundtrip_max_abs:10.3g} "
              f"{snr(p.roundtrip_snr_db):>8}  {p.samples_original:>7} {p.samples_transformers:>7} "
              f"{p.roundtrip_first_difference:>7}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--encodec-rates", default="24000", help="EnCodec variants by sample rate (24000,48000)")
    ap.add_argument("--dac-rates", default="44100", help="DAC variants by sample rate (44100,24000,16000; none: '')")
    a = ap.parse_args()
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    import transformers
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, threads {torch.get_num_threads()}")
    print(f"{'codec':8} {'input':11} {'kbps':>7} {'n_q':>3}  {'same codes':>8}  "
          f"{'decode max|d|':>10} {'SNR dB':>8}  {'own rt max|d|':>10} {'SNR dB':>8}  {'len orig':>7} {'len hf':>7} "
          f"{'1st diff':>7}")
    t0 = time.perf_counter()
    layouts = []
    for sr in (int(s) for s in a.encodec_rates.split(",") if s):
        enc = EncodecCodec(weights="random-init", sample_rate=sr, device="cpu")
        hf = ci.encodec_to_transformers(enc.model)
        for name, x in inputs(sr, 320).items():
            show(enc.name, name, ci.measure_encodec(enc.model, hf, x))
            if enc.model.segment:
                layouts.append((enc.name, name, len(x), ci.encodec_segments(enc.model, hf, x, enc.model.target_bandwidths[0])))
    for sr in (int(s) for s in a.dac_rates.split(",") if s):
        dac = DacCodec(weights="random-init", sample_rate=sr, device="cpu")
        hfd = ci.dac_to_transformers(dac.model, dac.kwargs)
        for name, x in inputs(sr, dac.hop).items():
            show(dac.name, name, ci.measure_dac(dac.model, hfd, x, dac.frame_rate))
    for codec, name, n, lay in layouts:
        print(f"{codec} {name} ({n} samples): frames per segment original {lay['frames_original']}, transformers "
              f"{lay['frames_transformers']}; scales original {[round(v, 5) for v in lay['scales_original']]}, "
              f"transformers {[round(v, 5) for v in lay['scales_transformers']]}")
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
