"""Black-box system analysis: linearity (additivity, homogeneity) and frequency response.

Everything here takes a system ``f`` as a callable on 1-D float32 arrays (a codec round trip
at one bitrate) and is tested on systems with analytic answers: gain, delay, FIR low-pass,
mu-law, hard clipper.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..catalogue import MetricInfo
from ..metrics.signal import mel_distance

SER_CAP_DB = 120.0
# the linearity suites' measure (additivity: f(x+y) vs f(x)+f(y); homogeneity: f(a x) vs a f(x))
SER_DB = MetricInfo("ser_db", "SER", "dB", "higher", min_meaningful_difference=0.5, min_margin=3.0,
                    bounds=(-math.inf, SER_CAP_DB), max_margin=6.0)


def ser_db(target: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-error ratio 10 log10(|t|^2 / |t - e|^2) in dB, capped at +120 dB."""
    n = min(len(target), len(estimate))
    t = np.asarray(target[:n], np.float64)
    e = t - np.asarray(estimate[:n], np.float64)
    num, den = float(np.sum(t * t)), float(np.sum(e * e))  # not np.dot: thread-count dependent
    if num <= 0:
        return float("nan")
    if den <= num * 10 ** (-SER_CAP_DB / 10):
        return SER_CAP_DB
    return float(10 * np.log10(num / den))


# ----------------------------------------------------------------------------- linearity
@dataclass
class AdditivityResult:
    ser_db: float            # f(x+y) against f(x)+f(y)
    mel_distance: float
    rel_level_db: float
    offset_s: float


def place(y: np.ndarray, n: int, offset: int) -> np.ndarray:
    """``y`` shifted right by ``offset`` samples within a length-``n`` frame (zero elsewhere)."""
    out = np.zeros(n, np.float32)
    m = max(0, min(len(y), n - offset))
    out[offset : offset + m] = y[:m]
    return out


def additivity(f, x: np.ndarray, y: np.ndarray, rel_level_db: float, offset: int, sr: int) -> AdditivityResult:
    """Mix ``y`` (shifted by ``offset`` samples, at ``rel_level_db`` relative to ``x`` in RMS)
    into ``x``; compare f(x + y) with f(x) + f(y)."""

    n = len(x)
    yy = place(y, n, offset)
    rx, ry = np.sqrt(np.mean(x.astype(np.float64) ** 2)), np.sqrt(np.mean(yy.astype(np.float64) ** 2))
    if ry > 0:
        yy = (yy * (rx / ry) * 10 ** (rel_level_db / 20)).astype(np.float32)
    mix = x + yy
    peak = float(np.max(np.abs(mix)))
    if peak > 0.99:  # guard clipping: scale all three inputs alike (a linear system does not care)
        g = 0.99 / peak
        x, yy, mix = x * g, yy * g, mix * g
    fx, fy, fxy = f(x.astype(np.float32)), f(yy.astype(np.float32)), f(mix.astype(np.float32))
    ssum = fx + fy
    return AdditivityResult(ser_db(ssum, fxy), mel_distance(ssum, fxy, sr), rel_level_db, offset / sr)


@dataclass
class HomogeneityResult:
    ser_db: float            # f(a x) against a f(x)
    output_gain_db: float    # 20 log10(rms(f(a x)) / rms(f(x)))
    gain_db: float


def homogeneity(f, x: np.ndarray, gain_db: float, fx: np.ndarray | None = None) -> HomogeneityResult:
    a = 10 ** (gain_db / 20)
    fx = f(x) if fx is None else fx
    fax = f((a * x).astype(np.float32))
    rfx = np.sqrt(np.mean(np.asarray(fx, np.float64) ** 2))
    rfax = np.sqrt(np.mean(np.asarray(fax, np.float64) ** 2))
    out_gain = 20 * np.log10(max(rfax, 1e-12) / max(rfx, 1e-12))
    return HomogeneityResult(ser_db(a * fx, fax), float(out_gain), gain_db)


# ----------------------------------------------------------------------------- sweeps
def ess(sr: int, seconds: float, f1: float, f2: float, peak: float = 1.0, fade_s: float = 0.02):
    """Exponential sine sweep (Farina 2000) and its inverse filter.

    x(t) = peak sin(2 pi f1 L (exp(t/L) - 1)), L = T / ln(f2/f1). The inverse filter is the
    time-reversed sweep with a -6 dB/octave envelope, so that x * inv is a band-limited impulse.
    """
    n = int(seconds * sr)
    t = np.arange(n) / sr
    L = seconds / np.log(f2 / f1)
    x = np.sin(2 * np.pi * f1 * L * (np.exp(t / L) - 1.0))
    nf = int(fade_s * sr)
    if nf > 0:
        w = np.hanning(2 * nf)
        x[:nf] *= w[:nf]
        x[-nf:] *= w[nf:]
    inv = x[::-1] * np.exp(-t / L)
    return (peak * x).astype(np.float64), inv


@dataclass
class FrequencyResponse:
    freqs_hz: np.ndarray
    mag_db: np.ndarray       # smoothed magnitude response, dB re. the input
    level_dbfs: float

    def band_mean(self, lo: float, hi: float) -> float:
        m = (self.freqs_hz >= lo) & (self.freqs_hz < hi)
        if not m.any():
            return float("nan")
        with np.errstate(divide="ignore"):
            return float(10 * np.log10(np.mean(10 ** (self.mag_db[m] / 10))))


def frequency_response(f, sr: int, level_dbfs: float = 0.0, seconds: float = 3.0, f1: float = 20.0,
                       f2: float | None = None, smoothing_octaves: float = 1 / 6,
                       points_per_octave: int = 24, tail_s: float = 0.5) -> FrequencyResponse:
    """Magnitude response of ``f`` from an ESS at peak level ``level_dbfs``.

    The system output and the input sweep are both deconvolved with the inverse filter; the
    linear impulse response is windowed (from min(50 ms, half the lead of the 2nd-harmonic product)
    before its peak, which drops the harmonic distortion products that precede it) and the ratio of the two spectra is the response, so
    the sweep's own colouring cancels. Then power-domain fractional-octave smoothing and a
    log-frequency grid from f1 to f2.
    """
    from scipy.signal import fftconvolve

    f2 = f2 or 0.95 * sr / 2
    peak = 10 ** (level_dbfs / 20)
    x, inv = ess(sr, seconds, f1, f2, peak=min(peak, 1.0))
    xin = np.concatenate([x, np.zeros(int(tail_s * sr))]).astype(np.float32)
    y = np.asarray(f(xin), np.float64)
    h_sys = fftconvolve(y, inv)
    h_ref = fftconvolve(xin.astype(np.float64), inv)
    k_ref = int(np.argmax(np.abs(h_ref)))
    # harmonic products of order k arrive L ln(k) before the linear IR: stay well clear of k=2
    L = seconds / np.log(f2 / f1)
    pre, post = int(min(0.5 * L * np.log(2), 0.05) * sr), int(tail_s * sr)

    def cut(h):
        seg = h[max(0, k_ref - pre) : k_ref + post]
        w = np.ones(len(seg))
        r = min(len(seg) // 4, int(0.002 * sr))
        if r > 0:
            w[:r] = np.hanning(2 * r)[:r]
            w[-r:] = np.hanning(2 * r)[r:]
        return seg * w

    nfft = 1 << int(np.ceil(np.log2(pre + post) + 1))
    H = np.abs(np.fft.rfft(cut(h_sys), nfft)) ** 2
    R = np.abs(np.fft.rfft(cut(h_ref), nfft)) ** 2
    fr = np.fft.rfftfreq(nfft, 1 / sr)
    n_oct = np.log2(f2 / f1)
    grid = f1 * 2 ** (np.arange(int(n_oct * points_per_octave) + 1) / points_per_octave)
    half = smoothing_octaves / 2
    mag = np.empty(len(grid))
    for i, fc in enumerate(grid):
        m = (fr >= fc * 2 ** -half) & (fr <= fc * 2 ** half)
        if not m.any():
            m = np.abs(fr - fc) == np.min(np.abs(fr - fc))
        with np.errstate(divide="ignore"):  # no output energy (a silent codec): -inf dB, not a made-up floor
            mag[i] = 10 * np.log10(np.sum(H[m]) / max(np.sum(R[m]), 1e-30))
    return FrequencyResponse(grid, mag, level_dbfs)


# Bands of the paper's Fig. 3 discussion.
LOW_BAND = (20.0, 100.0)
MID_BAND = (100.0, 2000.0)


# Direction of each band quantity (written beside the quantity, read by the suite, the gate and
# compare). A flat response has all three at 0 dB. The low-band figure is two-sided: a boost (the
# paper's finding for neural codecs) and a deeper cut are both departures from flat. The high-band
# roll-off is two-sided too: attenuation (positive) and a treble boost (negative) both colour the
# sound. The mid-band ripple is max - min, never negative: lower is better. These three are relative
# to the mid band, so blind to the overall gain; the passband gain is the mid band's own level
# relative to the input (0 dB for a unity-gain codec): a level bug (a codec that outputs 20 dB
# quieter) fails it, in either direction.
BAND_QUANTITIES = {q.name: q for q in (
    MetricInfo("low_band_boost_db", "low-band boost (<100 Hz)", "dB", "two-sided", 0.5, min_margin=1.0, max_margin=3.0),
    MetricInfo("mid_band_ripple_db", "mid-band ripple (100 Hz-2 kHz)", "dB", "lower", 0.5, min_margin=2.0,
               bounds=(0.0, math.inf), max_margin=3.0),
    MetricInfo("high_band_rolloff_db", "high-band roll-off (2-8 kHz)", "dB", "two-sided", 0.5, min_margin=1.0,
               max_margin=3.0),
    MetricInfo("passband_gain_db", "passband gain (100 Hz-2 kHz)", "dB", "two-sided", 0.5, min_margin=1.0,
               max_margin=3.0))}


def band_summary(fr: FrequencyResponse, sr: int) -> dict[str, float]:
    """low_band_boost_db: mean level below 100 Hz minus the mid-band mean (positive = boost);
    mid_band_ripple_db: max - min of the smoothed response in 100 Hz-2 kHz;
    high_band_rolloff_db: mid-band mean minus the mean from 2 kHz to min(8 kHz, 0.45 sr)
    (positive = attenuation);
    passband_gain_db: the mid-band mean itself, the output's level relative to the input over
    100 Hz-2 kHz (0 dB for identity; -inf for a silent output, reported as non-finite)."""
    mid = fr.band_mean(*MID_BAND)
    m = (fr.freqs_hz >= MID_BAND[0]) & (fr.freqs_hz < MID_BAND[1])
    hi_top = min(8000.0, 0.45 * sr)
    with np.errstate(invalid="ignore"):  # -inf - -inf (no output in a band): NaN, reported as undefined
        return {
            "low_band_boost_db": fr.band_mean(*LOW_BAND) - mid,
            "mid_band_ripple_db": float(np.max(fr.mag_db[m]) - np.min(fr.mag_db[m])),
            "high_band_rolloff_db": mid - fr.band_mean(2000.0, hi_top),
            "passband_gain_db": mid,
        }


def crossing_hz(fr: FrequencyResponse, level_db: float, reference_db: float | None = None) -> float | None:
    """First frequency above 100 Hz where the response falls below ``level_db`` relative to
    ``reference_db`` (default: the mid-band mean); log-interpolated."""
    ref = fr.band_mean(*MID_BAND) if reference_db is None else reference_db
    rel = fr.mag_db - ref
    start = int(np.searchsorted(fr.freqs_hz, MID_BAND[0]))
    for i in range(max(start, 1), len(rel)):
        if rel[i] < level_db <= rel[i - 1]:
            t = (rel[i - 1] - level_db) / (rel[i - 1] - rel[i])
            return float(fr.freqs_hz[i - 1] * (fr.freqs_hz[i] / fr.freqs_hz[i - 1]) ** t)
    return None


# ----------------------------------------------------------------------------- tokens
# What the token suite measures between two code arrays [n_q, frames] (a reference and a
# perturbed input), per RVQ level, and each quantity's direction.
TOKEN_QUANTITIES = {q.name: q for q in (
    MetricInfo("unit_edit_rate", "unit edit rate", "fraction", "lower", 0.01, bounds=(0.0, math.inf),
               max_margin=0.1),  # edits / reference length: insertions can take it above 1
    MetricInfo("unit_edit_rate_level1", "unit edit rate, level 1", "fraction", "lower", 0.01, bounds=(0.0, math.inf),
               max_margin=0.1),
    MetricInfo("token_agreement", "token agreement", "fraction", "higher", 0.01, bounds=(0.0, 1.0), max_margin=0.1),
    MetricInfo("token_agreement_level1", "token agreement, level 1", "fraction", "higher", 0.01, bounds=(0.0, 1.0),
               max_margin=0.1))}
TOKEN_METRICS = {k: q.direction for k, q in TOKEN_QUANTITIES.items()}
IDENTICAL_CODES = MetricInfo("identical_codes", "identical codes (encoding twice)", "fraction", "higher", 0.01,
                             bounds=(0.0, 1.0))


def level_edit_rates(ref: np.ndarray, test: np.ndarray) -> list[float]:
    """Per level: Levenshtein distance between the two code sequences / frames of ``ref`` (the
    unit edit rate; 0 = identical, about 1 for unrelated sequences of equal length)."""
    from rapidfuzz.distance import Levenshtein
    ref, test = np.asarray(ref), np.asarray(test)
    if ref.ndim != 2 or test.ndim != 2 or ref.shape[0] != test.shape[0]:
        raise ValueError(f"codes must be [n_q, frames] with equal n_q, got {ref.shape} and {test.shape}")
    return [Levenshtein.distance(r.tolist(), t.tolist()) / max(1, len(r)) for r, t in zip(ref, test)]


def level_agreement(ref: np.ndarray, test: np.ndarray) -> list[float]:
    """Per level: the fraction of frames (over the shorter sequence) whose codes are equal."""
    ref, test = np.asarray(ref), np.asarray(test)
    n = min(ref.shape[1], test.shape[1])
    if n == 0:
        return [0.0] * ref.shape[0]
    return [float(v) for v in np.mean(ref[:, :n] == test[:, :n], axis=1)]


def token_summary(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Mean over items of the per-level measures, and the TOKEN_METRICS values from them."""
    edit = np.mean([level_edit_rates(r, t) for r, t in pairs], axis=0)
    agree = np.mean([level_agreement(r, t) for r, t in pairs], axis=0)
    return {"unit_edit_rate": float(np.mean(edit)), "unit_edit_rate_level1": float(edit[0]),
            "token_agreement": float(np.mean(agree)), "token_agreement_level1": float(agree[0]),
            "edit_rate_per_level": [float(v) for v in edit], "agreement_per_level": [float(v) for v in agree]}
