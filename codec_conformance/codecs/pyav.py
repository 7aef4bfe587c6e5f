"""Classical reference codecs through PyAV (the wheel bundles FFmpeg with libopus, AMR-NB,
G.722, G.711 and LAME). Real encoders at their real sample rates and bitrates; the codec's
algorithmic delay is measured once per operating point (cross-correlation on a fixed probe
signal) and removed, so outputs are time-aligned to inputs."""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..errors import CodecError
from .base import BaseCodec

_S16 = 32768.0


def _to_float(frame: Any) -> np.ndarray:
    a = frame.to_ndarray()
    name = frame.format.name
    if a.ndim == 2:
        a = a[0] if frame.format.is_planar else a.reshape(-1)
    if name.startswith("s16"):
        return a.astype(np.float32) / _S16
    if name.startswith("s32"):
        return a.astype(np.float32) / 2147483648.0
    return a.astype(np.float32)


class AvCodec(BaseCodec):
    encoder: str = ""
    decoder: str = ""
    sample_format: str = "s16"
    options: dict[str, str] = {}
    max_delay_s: float = 0.1

    def __init__(self, device: str = "cpu", weights: str = "pretrained") -> None:
        # FFmpeg runs on the CPU whatever the device, and has no weights (its info says "none",
        # so a mixed run with a random-init neural codec works); a checkpoint or config given for
        # one of these is a usage error (the factory takes no such parameter)
        import av  # noqa: F401  (fail early with a clear message)

        self._delay: dict[float, int] = {}
        self._lock = threading.Lock()
        self.description = f"FFmpeg {self.encoder} via PyAV"

    def cache_identity(self) -> tuple[object, ...]:
        import av
        return (type(self).__name__, self.version, av.__version__, self.encoder, self.decoder,
                self.sample_format, sorted(self.options.items()))

    def _raw(self, x: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        import av

        try:
            enc = av.CodecContext.create(self.encoder, "w")
        except Exception as exc:
            raise CodecError(f"{self.name}: FFmpeg encoder {self.encoder!r} unavailable in PyAV ({exc})") from None
        if not isinstance(enc, av.AudioCodecContext):
            raise CodecError(f"{self.name}: FFmpeg encoder {self.encoder!r} is not an audio encoder")
        enc.sample_rate = self.sample_rate
        enc.layout = "mono"
        enc.format = self.sample_format
        enc.bit_rate = int(round(bitrate_kbps * 1000))
        if self.options:
            enc.options = dict(self.options)
        from fractions import Fraction
        enc.time_base = Fraction(1, self.sample_rate)
        enc.open()
        fs = enc.frame_size or 1024
        n = len(x)
        total = int(np.ceil((n + int(self.max_delay_s * self.sample_rate)) / fs)) * fs
        buf = np.zeros(total, dtype=np.float32)
        buf[:n] = x
        pcm: np.ndarray
        if self.sample_format.startswith("s16"):
            pcm = np.clip(np.round(buf * _S16), -32768, 32767).astype(np.int16)
        else:
            pcm = buf
        packets = []
        for i in range(0, total, fs):
            chunk = pcm[i : i + fs][None, :]
            frame = av.AudioFrame.from_ndarray(chunk, format=self.sample_format, layout="mono")
            frame.sample_rate = self.sample_rate
            frame.pts = i
            packets.extend(enc.encode(frame))
        packets.extend(enc.encode(None))
        dec = av.CodecContext.create(self.decoder, "r")
        if not isinstance(dec, av.AudioCodecContext):
            raise CodecError(f"{self.name}: FFmpeg decoder {self.decoder!r} is not an audio decoder")
        dec.sample_rate = self.sample_rate
        dec.layout = "mono"
        if enc.extradata:
            dec.extradata = enc.extradata
        out: list[np.ndarray] = []
        for p in packets:
            out.extend(_to_float(f) for f in dec.decode(p))
        out.extend(_to_float(f) for f in dec.decode(None))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def delay_samples(self, bitrate_kbps: float) -> int:
        """Measured algorithmic delay at this operating point (cached)."""
        with self._lock:
            if bitrate_kbps not in self._delay:
                self._delay[bitrate_kbps] = self._measure_delay(bitrate_kbps)
            return self._delay[bitrate_kbps]

    def _measure_delay(self, bitrate_kbps: float) -> int:
        """Lag (samples, may be negative) maximising the cross-correlation of output and input
        for a speech-shaped probe: noise flat to 500 Hz then -6 dB/octave up to 7.5 kHz, with a
        4 Hz syllabic envelope. Codecs are not linear-phase; this probe matches the lag that
        real speech shows (LibriSpeech, Opus: within one sample)."""
        sr = self.sample_rate
        n = 2 * sr
        rng = np.random.default_rng(1234)
        f = np.fft.rfftfreq(n, 1 / sr)
        shape = np.where((f > 80) & (f < min(7500, 0.45 * sr)), 1 / np.maximum(f, 500), 0.0)
        probe = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * shape, n)
        probe *= 0.55 + 0.45 * np.sin(2 * np.pi * 4 * np.arange(n) / sr)
        probe = (probe * 0.1 / np.std(probe)).astype(np.float32)
        y = self._raw(probe, bitrate_kbps)[: n + int(self.max_delay_s * sr)]
        return best_lag(y, probe, int(self.max_delay_s * sr))

    def roundtrip_one(self, x: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        d = self.delay_samples(bitrate_kbps)
        y = self._raw(x, bitrate_kbps)
        y = np.pad(y, (-d, 0))[: len(x)] if d < 0 else y[d : d + len(x)]
        if len(y) < len(x):
            y = np.pad(y, (0, len(x) - len(y)))
        return y


def best_lag(y: np.ndarray, x: np.ndarray, max_lag: int) -> int:
    """The integer lag L in [-max_lag, max_lag] maximising sum_n y[n + L] x[n]."""
    m = len(x) + len(y)
    xc = np.fft.irfft(np.fft.rfft(y, m) * np.conj(np.fft.rfft(x, m)), m)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    vals = np.r_[xc[: max_lag + 1], xc[m - max_lag:]]
    return int(lags[int(np.argmax(vals))])


class OpusCodec(AvCodec):
    name = "opus"
    encoder, decoder = "libopus", "libopus"
    sample_rate = 48000
    sample_format = "flt"
    bitrates_kbps = (6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0)
    options = {"application": "voip", "vbr": "off"}


class AmrNbCodec(AvCodec):
    name = "amrnb"
    encoder, decoder = "libopencore_amrnb", "libopencore_amrnb"
    sample_rate = 8000
    bitrates_kbps = (4.75, 5.15, 5.9, 6.7, 7.4, 7.95, 10.2, 12.2)


class G722Codec(AvCodec):
    name = "g722"
    encoder, decoder = "g722", "g722"
    sample_rate = 16000
    bitrates_kbps = (64.0,)


class MuLawCodec(AvCodec):
    name = "mulaw"
    encoder, decoder = "pcm_mulaw", "pcm_mulaw"
    sample_rate = 8000
    bitrates_kbps = (64.0,)


class Mp3Codec(AvCodec):
    name = "mp3"
    encoder, decoder = "libmp3lame", "mp3float"
    sample_rate = 16000
    sample_format = "s16p"
    bitrates_kbps = (16.0, 24.0, 32.0, 48.0, 64.0)
    max_delay_s = 0.2
