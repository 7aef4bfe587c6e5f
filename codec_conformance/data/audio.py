"""Audio helpers: validation, conversion, resampling, levels. NumPy/SciPy only."""
from __future__ import annotations

import hashlib
from math import gcd
from pathlib import Path

import numpy as np

from ..errors import BadAudioError, check_regular_file

EPS = 1e-12


def to_mono_float(x, name: str = "audio", notes: list[str] | None = None) -> np.ndarray:
    """Return a float32 mono 1-D copy of ``x`` or raise BadAudioError naming ``name``.

    int16/int32 input is scaled to [-1, 1]; 2-D input of shape [samples, channels] (as
    soundfile returns) or [channels, samples] with <= 8 channels is averaged to mono. Every
    conversion made is appended to ``notes`` so that a report can say so.
    """
    a = np.asarray(x)
    if a.size == 0:
        raise BadAudioError(f"{name}: empty audio (0 samples); give at least one frame of signal")
    if np.issubdtype(a.dtype, np.integer):
        scale = float(np.iinfo(a.dtype).max) + 1.0
        a = a.astype(np.float64) / scale
        if notes is not None:
            notes.append(f"{name}: integer PCM scaled to float")
    elif not np.issubdtype(a.dtype, np.floating):
        raise BadAudioError(f"{name}: unsupported sample type {a.dtype}; pass float or integer PCM")
    if a.ndim == 2:
        ch_axis = 1 if a.shape[1] <= 8 and a.shape[0] > a.shape[1] else 0
        if a.shape[ch_axis] > 8:
            raise BadAudioError(f"{name}: shape {a.shape} is not mono or multichannel audio")
        a = a.mean(axis=ch_axis)
        if notes is not None:
            notes.append(f"{name}: {x.shape} multichannel audio averaged to mono")
    elif a.ndim != 1:
        raise BadAudioError(f"{name}: expected 1-D (or [samples, channels]) audio, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        n_bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise BadAudioError(f"{name}: {n_bad} NaN/Inf samples; clean the file or the codec output")
    return a.astype(np.float32, copy=True)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling (scipy.signal.resample_poly, Kaiser window)."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    from scipy.signal import resample_poly

    g = gcd(int(sr_in), int(sr_out))
    y = resample_poly(np.asarray(x, dtype=np.float64), sr_out // g, sr_in // g, axis=-1)
    return y.astype(np.float32)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad the last axis to ``n`` samples."""
    if x.shape[-1] >= n:
        return x[..., :n]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])]
    return np.pad(x, pad)


def load_audio(path: str | Path, target_sr: int | None = None, notes: list[str] | None = None):
    """Read a sound file as mono float32; resample to ``target_sr`` when given."""
    import soundfile as sf

    p = Path(path)
    check_regular_file(p, BadAudioError, "an audio file")  # a FIFO would block, /dev/zero never end
    if not p.is_file():
        raise BadAudioError(f"audio file not found: {p}")
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=False)
    except Exception as exc:  # soundfile raises its own LibsndfileError / RuntimeError
        raise BadAudioError(f"cannot read audio file {p}: {exc}") from None
    x = to_mono_float(data, name=str(p), notes=notes)
    if target_sr is not None and sr != target_sr:
        if notes is not None:
            notes.append(f"{p.name}: resampled {sr} Hz -> {target_sr} Hz")
        x = resample(x, sr, target_sr)
        sr = target_sr
    return x, int(sr)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + EPS))


def db(x: float) -> float:
    return float(20.0 * np.log10(max(float(x), EPS)))


def active_rms(x: np.ndarray, sr: int, frame_ms: float = 20.0, floor_db: float = 40.0) -> float:
    """RMS over active frames: frames whose energy is within ``floor_db`` of the loudest.

    A simple stand-in for ITU-T P.56 active speech level, robust to leading/trailing silence.
    """
    n = max(1, int(sr * frame_ms / 1000))
    m = len(x) // n
    if m < 1:
        return rms(x)
    frames = np.asarray(x[: m * n], dtype=np.float64).reshape(m, n)
    e = np.mean(frames**2, axis=1)
    if e.max() <= 0:
        return 0.0
    active = e >= e.max() * 10 ** (-floor_db / 10)
    return float(np.sqrt(np.mean(e[active])))


def content_hash(*parts) -> str:
    """Stable SHA-256 over arrays (by dtype, shape, bytes) and strings/numbers."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            a = np.ascontiguousarray(p)
            h.update(str(a.dtype).encode() + str(a.shape).encode())
            h.update(a.tobytes())
        else:
            h.update(repr(p).encode())
        h.update(b"\x00")
    return h.hexdigest()


def stable_seed(*parts) -> int:
    """A 32-bit seed derived from its parts, independent of order of evaluation."""
    return int(content_hash(*parts)[:8], 16)
