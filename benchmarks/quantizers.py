"""Uniform quantisers as stand-in codecs of known quality for the power benchmark
(benchmarks/bench_gate_power.py): ``benchmarks.quantizers:q8`` and ``:q6``. Not codecs."""
import numpy as np

from codec_conformance.codecs.base import BaseCodec


class Quant(BaseCodec):
    """Rounds each sample to ``bits`` bits (a toy codec whose error grows 6 dB per bit removed)."""
    sample_rate, bitrates_kbps = 16000, (64.0,)

    def __init__(self, bits: int):
        self.bits, self.name = bits, f"quant{bits}"

    def roundtrip_one(self, x, br):
        q = 2.0 ** (self.bits - 1)
        return (np.round(np.clip(x, -1, 1) * q) / q).astype(np.float32)


def q8(**kw):
    return Quant(8)


def q6(**kw):
    return Quant(6)
