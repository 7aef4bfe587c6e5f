"""Signal metrics between a clean reference and a processed signal."""
from __future__ import annotations

from functools import lru_cache

import math

import numpy as np
from numpy.typing import ArrayLike

from ..catalogue import MetricInfo
from ..data.audio import resample
from .base import Metric, Undefined

# Multi-resolution log-mel distance, after the DAC paper's mel loss (descript-audio-codec
# MelSpectrogramLoss), at 16 kHz: Hann windows of these lengths, hop = window/4, Slaney-style
# mel filters (HTK mel scale, area-normalised) from 0 Hz to Nyquist, magnitude spectrogram,
# distance = mean over resolutions of mean |log10(max(M_ref, 1e-5)^2) - log10(max(M_deg, 1e-5)^2)|.
MEL_WINDOWS = (64, 128, 256, 512, 1024, 2048)
MEL_BANDS = (5, 10, 20, 40, 80, 160)
MEL_CLAMP = 1e-5
MEL_POW = 2.0


def _hz_to_mel(f: ArrayLike) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m: ArrayLike) -> np.ndarray:
    return 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)


@lru_cache(maxsize=32)
def mel_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    f = np.fft.rfftfreq(n_fft, 1.0 / sr)
    pts = _mel_to_hz(np.linspace(_hz_to_mel(0), _hz_to_mel(sr / 2), n_mels + 2))
    fb = np.zeros((n_mels, len(f)))
    for i in range(n_mels):
        lo, c, hi = pts[i], pts[i + 1], pts[i + 2]
        up = (f - lo) / max(c - lo, 1e-9)
        down = (hi - f) / max(hi - c, 1e-9)
        fb[i] = np.maximum(0, np.minimum(up, down)) * (2.0 / max(hi - lo, 1e-9))
    return fb


def stft_mag(x: np.ndarray, win: int) -> np.ndarray:
    hop = win // 4
    pad = win // 2
    xp = np.pad(np.asarray(x, dtype=np.float64), (pad, pad), mode="reflect" if len(x) > pad else "constant")
    n = 1 + max(0, (len(xp) - win) // hop)
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    frames = xp[idx] * np.hanning(win + 1)[:-1]
    return np.abs(np.fft.rfft(frames, axis=1))


def mel_distance(ref: np.ndarray, deg: np.ndarray, sr: int = 16000) -> float:
    n = min(len(ref), len(deg))
    total = 0.0
    for win, bands in zip(MEL_WINDOWS, MEL_BANDS):
        fb = mel_filterbank(sr, win, bands)
        a = stft_mag(ref[:n], win) @ fb.T
        b = stft_mag(deg[:n], win) @ fb.T
        la = np.log10(np.maximum(a, MEL_CLAMP) ** MEL_POW)
        lb = np.log10(np.maximum(b, MEL_CLAMP) ** MEL_POW)
        total += float(np.mean(np.abs(la - lb)))
    return total / len(MEL_WINDOWS)


class MelDistance(Metric):
    info = MetricInfo("mel_distance", "Mel distance", "log10-mel L1", "lower", min_meaningful_difference=0.05,
                      cost=0.8, min_margin=0.1, bounds=(0.0, math.inf), max_margin=0.5, plot_span=0.2,
                      in_figure=True, figure_order=1)
    description = ("multi-resolution log-mel L1 (windows 64..2048 at 16 kHz, 5..160 mel bands, "
                   "hop win/4, log10(max(mag,1e-5)^2)); 0 for identical signals")

    def item(self, ref: np.ndarray, deg: np.ndarray, sr: int, utt: object) -> float:
        return mel_distance(ref, deg, sr)


class Pesq(Metric):
    # MOS-LQO of raw PESQ -0.5..4.5 through the P.862.2 (wide-band) / P.862.1 (narrow-band) mapping
    info = MetricInfo("pesq", "PESQ", "MOS-LQO", "higher", min_meaningful_difference=0.1, cost=0.8, min_margin=0.15,
                      bounds=(1.04, 4.64), max_margin=0.5, plot_span=0.5, in_figure=True, figure_order=2)
    VARIANTS = {"pesq_nb": (dict(label="PESQ-NB", default=False, bounds=(1.02, 4.55), in_figure=False,
                                 figure_order=None), {"mode": "nb"})}
    evaluator = "ITU-T P.862.2 (pesq package)"
    description = "wide-band PESQ (P.862.2) at 16 kHz; narrow-band (P.862) at 8 kHz"

    def __init__(self, mode: str = "wb") -> None:
        self.mode = mode

    def item(self, ref: np.ndarray, deg: np.ndarray, sr: int, utt: object) -> float:
        from pesq import pesq as _pesq, NoUtterancesError, BufferTooShortError

        fs = 16000 if self.mode == "wb" else 8000
        for what, sig in (("reference", ref), ("signal under test", deg)):
            if not np.any(sig):
                raise Undefined(f"PESQ: the {what} is digital silence (no utterance)")
        if sr != fs:
            ref, deg = resample(ref, sr, fs), resample(deg, sr, fs)
        try:
            return _pesq(fs, ref.astype(np.float64), deg.astype(np.float64), self.mode)
        except NoUtterancesError:
            raise Undefined("PESQ found no utterance (silence or very low level)") from None
        except BufferTooShortError:
            raise Undefined("PESQ: signal too short (needs >= 0.25 s)") from None
        except Exception as exc:  # the C library reports other failures as generic errors
            raise Undefined(f"PESQ failed: {exc}") from None


class Stoi(Metric):
    # a mean correlation of short-time envelopes: unrelated signals score about 0
    info = MetricInfo("stoi", "STOI", "0-1", "higher", min_meaningful_difference=0.01, cost=0.3, min_margin=0.03,
                      bounds=(0.0, 1.0), max_margin=0.1, plot_span=0.1)
    VARIANTS = {"estoi": (dict(label="ESTOI", default=False), {"extended": True})}
    evaluator = "pystoi"
    description = "short-time objective intelligibility (Taal 2011); extended=True gives ESTOI"

    def __init__(self, extended: bool = False) -> None:
        self.extended = extended

    def item(self, ref: np.ndarray, deg: np.ndarray, sr: int, utt: object) -> float:
        from pystoi import stoi

        n = min(len(ref), len(deg))
        if np.sum(ref[:n] ** 2) <= 0:
            raise Undefined("STOI: silent reference")
        return float(stoi(ref[:n], deg[:n], sr, extended=self.extended))


SI_SDR_CAP_DB = 100.0


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR (Le Roux 2019), zero-mean, capped at +100 dB (an exact scaled copy
    has zero error and would be +inf; the cap keeps JSON finite and is documented)."""
    n = min(len(ref), len(est))
    s = np.asarray(ref[:n], np.float64) - np.mean(ref[:n])
    e = np.asarray(est[:n], np.float64) - np.mean(est[:n])
    # np.sum(a * b), not np.dot: BLAS splits a dot product over its threads, so the last digits
    # followed the thread count (-n 2 vs one process; docs/reproducibility.md)
    ss = np.sum(s * s)
    if ss <= 0:
        raise Undefined("SI-SDR: silent reference")
    target = (np.sum(e * s) / ss) * s
    err = e - target
    num, den = np.sum(target * target), np.sum(err * err)
    if den <= num * 10 ** (-SI_SDR_CAP_DB / 10):
        return SI_SDR_CAP_DB
    if num <= 0:
        return -SI_SDR_CAP_DB
    return float(10 * np.log10(num / den))


class SiSdr(Metric):
    # codecs need not preserve phase or sample alignment: recorded, never gated
    info = MetricInfo("si_sdr", "SI-SDR", "dB", "higher", min_meaningful_difference=0.5, gated=False, cost=0.05,
                      bounds=(-math.inf, SI_SDR_CAP_DB), plot_span=5.0)
    description = f"scale-invariant SDR, capped at +{SI_SDR_CAP_DB:g} dB"

    def item(self, ref: np.ndarray, deg: np.ndarray, sr: int, utt: object) -> float:
        return si_sdr(ref, deg)
