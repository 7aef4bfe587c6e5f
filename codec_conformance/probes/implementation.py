"""Implementation faults: the measures of the implementation suite (issue 25, item 3).

The faults codec users report most are not robustness faults but implementation faults: batched
encoding differs from one-at-a-time encoding (transformers#43377, Mimi), the output is not as long
as the input (descript-audio-codec#67, #37), chunked decoding depends on the chunk length
(descript-audio-codec#39), two runs differ. Everything here takes a system ``f`` (a callable on
``[batch, samples]`` float32 arrays at the codec's own rate) or arrays, and is tested against
systems with known answers (identity, a batch-peak normaliser, a sample dropper, a chunk-length
dependent gain, a dithered codec).

Each quantity is declared once below (unit, direction, the smallest change that matters, the
smallest y-span a figure of it shows); the suite (``suites/test_implementation.py``) records them,
the thresholds files gate them under the suite key ``implementation``.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..catalogue import MetricInfo
from .analysis import SER_CAP_DB, ser_db

# An SER of SER_CAP_DB (120 dB) means identical up to 1e-12 of the energy: what a deterministic,
# batch-independent implementation gives (bit-exact outputs score exactly the cap).
IMPLEMENTATION_QUANTITIES = {q.name: q for q in (
    MetricInfo("batch_ser_db", "batched vs one at a time (SER, worst item)", "dB", "higher", 1.0, min_margin=3.0,
               bounds=(-math.inf, SER_CAP_DB), max_margin=10.0, plot_span=20.0),
    MetricInfo("batch_code_agreement", "batched vs one at a time (identical codes)", "fraction", "higher", 0.01,
               min_margin=0.0, bounds=(0.0, 1.0), max_margin=0.01, plot_span=0.2),
    MetricInfo("length_error_samples", "output length - input length", "samples", "two-sided", 1.0, min_margin=0.0,
               max_margin=0.0, plot_span=10.0),
    MetricInfo("chunked_ser_db", "chunked vs whole-file round trip (SER, worst item)", "dB", "higher", 1.0,
               min_margin=3.0, bounds=(-math.inf, SER_CAP_DB), max_margin=10.0, plot_span=20.0),
    MetricInfo("chunked_decode_ser_db", "codes decoded in chunks vs whole (SER, worst item)", "dB", "higher", 1.0,
               min_margin=3.0, bounds=(-math.inf, SER_CAP_DB), max_margin=10.0, plot_span=20.0),
    # no margin: a deterministic implementation repeats itself bit for bit (calibration writes 120 dB)
    MetricInfo("repeat_ser_db", "second run vs first (SER, worst item)", "dB", "higher", 1.0, min_margin=0.0,
               bounds=(-math.inf, SER_CAP_DB), max_margin=0.0, plot_span=20.0),
)}


def worst_ser(targets: Sequence[np.ndarray], estimates: Sequence[np.ndarray]) -> tuple[float, list[float]]:
    """(the lowest SER over items, each item's SER) of ``estimates`` against ``targets``, compared
    over the target's length (an estimate that is shorter is zero-padded: missing samples are
    errors, not ignored). An item whose target is silent has an undefined SER (NaN), which does not
    set the worst value unless every item is silent."""
    per = []
    for t, e in zip(targets, estimates, strict=True):
        t = np.asarray(t, np.float64)
        e = fit(np.asarray(e, np.float64), len(t))
        per.append(ser_db(t, e))
    defined = [v for v in per if not math.isnan(v)]
    return (min(defined) if defined else float("nan")), per


def fit(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` cut or zero-padded to ``n`` samples (last axis)."""
    x = np.asarray(x)
    if x.shape[-1] >= n:
        return x[..., :n]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])]
    return np.pad(x, pad)


# ----------------------------------------------------------------------------- batch
def batch_vs_single(f: Callable[[np.ndarray], np.ndarray], signals: Sequence[np.ndarray]) -> tuple[float, list[float]]:
    """Put ``signals`` (1-D) through ``f`` as one zero-padded batch and one at a time; the worst
    SER of each batched output (cut to its input's length) against its one-at-a-time output, and
    every item's. A batch-independent implementation scores the cap (120 dB) on every item."""
    n = max(len(x) for x in signals)
    batch = np.stack([fit(np.asarray(x, np.float32), n) for x in signals])
    together = np.asarray(f(batch))
    alone = [np.asarray(f(np.asarray(x, np.float32)[None]))[0] for x in signals]
    return worst_ser([fit(a, len(x)) for a, x in zip(alone, signals)],
                     [fit(together[i], len(x)) for i, x in enumerate(signals)])


def code_agreement(alone: Sequence[np.ndarray], together: Sequence[np.ndarray]) -> float:
    """Fraction of code entries (levels x frames, over every item's own frames) that are equal
    between each item's codes encoded alone and in a batch; a shape mismatch counts every entry
    of the item as different."""
    same = total = 0
    for a, b in zip(alone, together, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        total += a.size
        if a.shape == b.shape:
            same += int(np.sum(a == b))
    return same / total if total else float("nan")


# ----------------------------------------------------------------------------- length
def length_text(error: int, n_in: int) -> str:
    """What a length error means to a user: ``drops 160 of 16001 samples`` / ``adds 80 samples``."""
    if error < 0:
        return f"drops {-error} of {n_in} input samples (the output is {n_in + error} samples long)"
    if error > 0:
        return f"adds {error} samples to {n_in} input samples (the output is {n_in + error} samples long)"
    return f"keeps the length ({n_in} samples)"


# ----------------------------------------------------------------------------- chunks
def chunk_bounds(n: int, chunk: int) -> list[tuple[int, int]]:
    """[start, end) of consecutive chunks of ``chunk`` samples covering ``n`` (the last may be shorter)."""
    if chunk <= 0:
        raise ValueError(f"chunk length must be positive, got {chunk}")
    return [(s, min(n, s + chunk)) for s in range(0, n, chunk)]


def chunked(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, chunk: int) -> np.ndarray:
    """``x`` (1-D) put through ``f`` in consecutive chunks of ``chunk`` samples, each alone, the
    outputs (each cut or padded to its chunk's length) joined: what a streaming user gets."""
    parts = [fit(np.asarray(f(np.asarray(x[a:b], np.float32)[None]))[0], b - a) for a, b in chunk_bounds(len(x), chunk)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def decode_in_chunks(decode: Callable[[np.ndarray], np.ndarray], codes: np.ndarray, frames: int) -> np.ndarray:
    """``codes`` [n_q, frames] decoded in consecutive blocks of ``frames`` frames, each alone, the
    audio joined (1-D)."""
    parts = [np.asarray(decode(codes[None, :, a:b]))[0] for a, b in chunk_bounds(codes.shape[-1], frames)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


# ----------------------------------------------------------------------------- repeat
def digest(arrays: Sequence[np.ndarray]) -> str:
    """SHA-256 of float32 arrays (shape and bytes): equal digests mean bit-identical outputs."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a, np.float32)
        h.update(str(a.shape).encode() + b"\0" + a.tobytes())
    return h.hexdigest()


@dataclass
class Repeat:
    """Two runs of the same inputs: the worst SER of the second against the first, whether they
    are bit-identical, and how many items differ at all."""
    ser_db: float
    identical: bool
    differing: int
    first_digest: str
    second_digest: str


def compare_runs(first: Sequence[np.ndarray], second: Sequence[np.ndarray]) -> Repeat:
    worst, _ = worst_ser(first, second)
    differing = sum(1 for a, b in zip(first, second, strict=True)
                    if np.shape(a) != np.shape(b) or not np.array_equal(a, b))
    d1, d2 = digest(first), digest(second)
    return Repeat(worst, d1 == d2, differing, d1, d2)
