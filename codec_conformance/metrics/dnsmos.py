"""DNSMOS P.835 overall quality (non-intrusive), from the ONNX models the speechmos package ships."""
from __future__ import annotations

import numpy as np

from ..errors import EvaluatorUnavailable
from .base import Metric, Undefined


class Dnsmos(Metric):
    name = "dnsmos"
    unit = "MOS"
    evaluator = "DNSMOS P.835 (speechmos)"
    description = "non-intrusive overall MOS (OVRL) of the processed signal; the reference is unused"

    def item(self, ref, deg, sr, utt):
        try:
            from speechmos import dnsmos
        except ImportError:
            raise EvaluatorUnavailable("speechmos is not installed (pip install speechmos)") from None
        if np.max(np.abs(deg)) <= 0:
            raise Undefined("DNSMOS: silent signal")
        x = np.clip(deg, -1, 1).astype(np.float64)
        return float(dnsmos.run(x, sr)["ovrl_mos"])
