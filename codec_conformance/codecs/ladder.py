"""A degradation ladder: known, deterministic degradations as codecs, and the table of which
checks each one MUST fail and MUST pass by physics (mutation testing for the gate).

Select a rung with ``--codec=ladder:<rung>`` (the ``ladder`` entry point is a codec *family*:
:func:`make_ladder_codec` takes the rung as ``variant``), or without the entry point with
``--codec=codec_conformance.codecs.ladder:<rung>`` (every rung name is also a module-level
factory). ``benchmarks/bench_ladder.py`` runs the suites on every rung and writes which claims of
:data:`CLAIMS` held (docs/ladder.md).

Every rung works at 16 kHz (``opus64`` at Opus's 48 kHz) and is a fixed function of its input:
the noise of ``mnru*`` and ``noise20db`` comes from a generator seeded with :data:`SEED` and the
signal's length, so f(x) and f(a x) see the same noise. The one deliberate exception is
``corrupt5pct``: its token corruption is drawn afresh on every ``encode`` call (seeded with
:data:`SEED`, the length and a per-instance call count, so a run is reproducible given its call
order): an encoder that does not give the same codes twice is what it models.

MNRU follows ITU-T Recommendation P.810 (1996), "Modulated noise reference unit (MNRU)": the
output is the input plus noise modulated by the input, y(n) = x(n) + x(n) 10^(-Q/20) N(n), with N
white Gaussian noise of unit variance; Q (dB) is the ratio of the signal power to the modulated
noise power. (P.810's wideband MNRU also band-limits the noise; this rung keeps it white over
0-8 kHz.)
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import CodecError
from .base import BaseCodec
from .pyav import OpusCodec

SEED = 20240824            # fixed seed of every rung's noise
SR = 16000
DELAY_SAMPLES = 80         # 5 ms: the must-pass gain+delay rungs
DROP_BLOCK = 160           # 10 ms blocks ...
DROP_EVERY = 5             # ... every 5th one zeroed (20 % of the samples)
CLIP_LEVEL = 0.01          # hard clip at -40 dBFS (see CLAIMS: a clipper at full scale passes homogeneity)
SOFT_DRIVE = 100.0         # soft clip tanh(d x) / d: small-signal gain 1, saturates at 1/d = -40 dBFS
TOKEN_HOP = 16             # the token rungs: one frame = 16 samples, one code level per sample (8-bit mu-law)
TOKEN_BITS = 8
CORRUPT_FRACTION = 0.05


def _noise(n: int, salt: int = 0) -> np.ndarray:
    """Unit-variance white Gaussian noise, a fixed function of the length ``n`` (and ``salt``)."""
    return np.random.default_rng([SEED, int(n), int(salt)]).standard_normal(n)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2))) if len(x) else 0.0


# ----------------------------------------------------------------------------- the degradations
def gain(db: float) -> Callable[[np.ndarray], np.ndarray]:
    a = 10 ** (db / 20)
    return lambda x: a * x


def gain_delay(db: float, delay: int = DELAY_SAMPLES) -> Callable[[np.ndarray], np.ndarray]:
    a = 10 ** (db / 20)

    def f(x: np.ndarray) -> np.ndarray:
        y = np.zeros_like(x)
        if delay < len(x):
            y[delay:] = a * x[: len(x) - delay]
        return y
    return f


def _sos_filter(kind: str, cutoff_hz: float, order: int = 8) -> Callable[[np.ndarray], np.ndarray]:
    """Zero-phase Butterworth (forward-backward: no delay, |H|^2 of an order-``order`` design)."""
    from scipy.signal import butter, sosfiltfilt
    sos = butter(order, cutoff_hz, btype=kind, fs=SR, output="sos")

    def f(x: np.ndarray) -> np.ndarray:
        if len(x) < 2:
            return np.array(x, copy=True)
        return sosfiltfilt(sos, np.asarray(x, np.float64), padlen=min(3 * (2 * len(sos) + 1), len(x) - 1))
    return f


def hard_clip(level: float = CLIP_LEVEL) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: np.clip(x, -level, level)


def soft_clip(drive: float = SOFT_DRIVE) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: np.tanh(drive * np.asarray(x, np.float64)) / drive


def quantise(bits: int) -> Callable[[np.ndarray], np.ndarray]:
    """Uniform mid-tread quantiser of ``bits`` bits over [-1, 1): step 2 / 2**bits."""
    step = 2.0 / 2 ** bits
    return lambda x: np.clip(np.round(np.asarray(x, np.float64) / step) * step, -1.0, 1.0 - step)


def mnru(q_db: float) -> Callable[[np.ndarray], np.ndarray]:
    """ITU-T P.810 MNRU: y = x + x 10^(-Q/20) N, N white Gaussian, unit variance."""
    c = 10 ** (-q_db / 20)
    return lambda x: x + c * x * _noise(len(x), salt=1)


def white_noise(snr_db: float) -> Callable[[np.ndarray], np.ndarray]:
    """x plus white Gaussian noise ``snr_db`` below the signal's RMS (over the whole signal)."""
    return lambda x: x + _rms(x) * 10 ** (-snr_db / 20) * _noise(len(x), salt=2)


def tv_gain(depth_db: float = 6.0, rate_hz: float = 2.0) -> Callable[[np.ndarray], np.ndarray]:
    """A slow sinusoidal gain, +-``depth_db`` at ``rate_hz`` (a linear, time-varying system)."""
    def f(x: np.ndarray) -> np.ndarray:
        n = np.arange(len(x))
        return x * 10 ** (depth_db * np.sin(2 * np.pi * rate_hz * n / SR) / 20)
    return f


def drops(block: int = DROP_BLOCK, every: int = DROP_EVERY) -> Callable[[np.ndarray], np.ndarray]:
    """Every ``every``-th block of ``block`` samples (the last of each group) replaced by zeros."""
    def f(x: np.ndarray) -> np.ndarray:
        y = np.array(x, copy=True)
        idx = np.arange(len(x))
        y[(idx // block) % every == every - 1] = 0
        return y
    return f


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Rung:
    name: str
    description: str
    kind: str                               # "degradation" (must be caught) | "control" (must pass)
    fn: Callable[[np.ndarray], np.ndarray] | None = None   # None: a special class (tokens, opus)
    must_fail: tuple = ()                   # check groups the rung MUST fail (see below)
    must_pass: tuple = ()                   # ... and MUST pass
    blind: tuple = ()                       # groups the rung degrades that default.toml does not catch
    notes: tuple = field(default=())        # the argument for each claim


# A check group: (suite, condition key, metric) — matched against a record's suite, the thresholds
# key of its condition (the noise kind, the mixture, "gain", "sweep", "determinism", ...) and its
# metric; "*" matches anything. A rung's claim on a group, over the gated records of one run:
#   must_fail: at least one record of the group fails (the gate catches the rung there);
#   must_pass: the group has records and every one passes;
#   anything else: no claim.
# Claims hold against the PACKAGED default.toml (a ladder rung has no thresholds file of its own).
# A note marked "(default)" says the claim rests on the default's numbers, not on physics alone:
# a recalibrated default.toml must keep it true, or the claim goes. Measured values quoted in the
# notes: smoke profile, shipped corpus (4 x 4 utterances; 0 / -6 / -20 dBFS sweeps).
FR = "frequency_response"
HOMOGENEITY = ("homogeneity", "gain", "ser_db")
LINEARITY = (HOMOGENEITY, ("additivity", "*", "ser_db"))
LOW, RIPPLE, ROLLOFF = ((FR, "sweep", "low_band_boost_db"), (FR, "sweep", "mid_band_ripple_db"),
                        (FR, "sweep", "high_band_rolloff_db"))
FR_SHAPE = (LOW, RIPPLE, ROLLOFF)
PASSBAND = (FR, "sweep", "passband_gain_db")
PESQ, STOI, MEL = (("noise", "clean", "pesq"), ("noise", "clean", "stoi"), ("noise", "clean", "mel_distance"))
NOISE_CLEAN = (PESQ, STOI, MEL)
DETERMINISM = ("tokens", "determinism", "identical_codes")
LTI = "linear: f(a x) = a f(x) and f(x+y) = f(x) + f(y) up to float32 rounding (SER near the 120 dB cap)"

RUNGS: dict[str, Rung] = {r.name: r for r in (
    # ---- must pass
    Rung("identity", "uncoded signal (oracle)", "control", lambda x: x.copy(),
         must_pass=(("*", "*", "*"),),
         notes=("f(x) = x: every measure is at its ideal value; any failure is a bug in the suite or the gate",)),
    Rung("gain_p6db_delay", "+6 dB exact gain and a 5 ms delay", "control", gain_delay(6.0),
         must_fail=(PASSBAND,), must_pass=(*LINEARITY, *FR_SHAPE),
         notes=(LTI,
                "the sweep's impulse response moves 5 ms inside its 50 ms + 0.5 s window: its magnitude is flat, so "
                "every band SHAPE quantity (relative to the mid band) is 0 dB",
                "passband gain +6 dB: outside default.toml's +-3 dB (default); the must-pass claim is about the "
                "linearity and the shape of the response only",
                "noise suite: no claim; the Codec contract asks for time-aligned output, and STOI / Mel distance "
                "compare frame by frame, so a 5 ms delay is legitimately penalised (PESQ aligns itself)")),
    Rung("gain_m6db_delay", "-6 dB exact gain and a 5 ms delay", "control", gain_delay(-6.0),
         must_fail=(PASSBAND,), must_pass=(*LINEARITY, *FR_SHAPE),
         notes=("as gain_p6db_delay, at -6 dB",)),
    Rung("opus64", "Opus at 64 kbps (registered codec opus)", "control",
         must_pass=(HOMOGENEITY, ("additivity", "speech_speech", "ser_db"), *FR_SHAPE, PASSBAND, *NOISE_CLEAN),
         notes=("a transparent operating point, inside every default limit it is claimed for (default): "
                "thresholds/opus.toml's 64 kbps values (homogeneity SER >= 14 dB, passband -0.01 dB, PESQ drop "
                "0.4)",
                "no claim on additivity speech_noise: Opus 64 kbps measures ~ 1 dB there (opus.toml: 0.7 dB limit), "
                "too close to the default's 0 dB")),
    Rung("mulaw_tokens", "8-bit mu-law tokenizer (encode/decode), no corruption", "control",
         must_pass=(DETERMINISM,),
         notes=("encode is a fixed function: the same input gives the same codes",)),
    # ---- must be caught
    Rung("gain_m20db", "-20 dB gain", "degradation", gain(-20.0),
         must_fail=(PASSBAND, MEL), must_pass=(*LINEARITY, *FR_SHAPE, PESQ, STOI),
         notes=("passband gain -20 dB, outside the default's +-1 dB (any range around 0 dB narrower than +-20 dB)",
                LTI + "; band shapes: 0 dB",
                "log-mel L1 of a 20 dB gain is ~ 2 log10 units where the mel floor does not bite: 1.87 measured vs "
                "the default's 0.55 (default: MNRU Q = 20 dB's 0.35 + margin)",
                "PESQ (P.862 aligns the level) and STOI (scale-invariant) cannot see a gain: physics")),
    Rung("gain_m6db", "-6 dB gain", "degradation", gain(-6.0),
         must_fail=(PASSBAND,), must_pass=(*LINEARITY, *FR_SHAPE, PESQ, STOI),
         notes=("passband gain -6 dB, outside +-1 dB (default)", LTI,
                "PESQ and STOI are level-invariant: physics")),
    Rung("lowpass4k", "zero-phase Butterworth low-pass at 4 kHz", "degradation", _sos_filter("lowpass", 4000.0),
         must_fail=(ROLLOFF,), must_pass=(*LINEARITY, LOW, RIPPLE, PASSBAND),
         notes=(LTI, "below 2 kHz the response is flat: low band, ripple and passband at 0 dB",
                "roll-off: the 2-8 kHz band mean keeps 2-4 kHz, so only ~ 3 dB is measured; the default allows "
                "+-1 dB around Opus 64 kbps' and MNRU's ~ 0 dB (default)")),
    Rung("lowpass2k", "zero-phase Butterworth low-pass at 2 kHz", "degradation", _sos_filter("lowpass", 2000.0),
         must_fail=(ROLLOFF, MEL), must_pass=(*LINEARITY, LOW),
         notes=(LTI,
                "roll-off ~ 20 dB (the band mean is dominated by 2-2.5 kHz, where the filter is still near -6 dB) "
                "against +-1 dB; Mel distance 1.74 measured vs 0.55 (default)",
                "ripple and passband: the filter's -3 dB edge lies at the top of the 100 Hz-2 kHz band: no claim")),
    Rung("highpass300", "zero-phase Butterworth high-pass at 300 Hz", "degradation",
         _sos_filter("highpass", 300.0),
         must_fail=(LOW, RIPPLE), must_pass=LINEARITY,
         notes=("below 100 Hz the cut is > 100 dB (default's floor -5.6 dB: Opus 64 kbps' high-pass); 100-300 Hz "
                "falls by tens of dB inside the 100 Hz-2 kHz band (ripple > 100 dB measured vs 2.5 dB)", LTI,
                "passband: -2 dB measured: no claim")),
    Rung("hardclip", "hard clipper at -40 dBFS", "degradation", hard_clip(),
         must_fail=(HOMOGENEITY, PASSBAND, PESQ, STOI),
         notes=("homogeneity: where a x is not clipped (gains below ~ -26 dB), a f(x) vs f(a x) = a x has SER "
                "|clip x|^2 / |x - clip x|^2, below 0 dB when most of the energy of x (-14 dBFS peak) lies above "
                "the clip level (-11 dB measured; default: -3.9 dB, Opus 6 kbps' worst - margin). At +12 dB any "
                "clipper has SER > 0 dB (|v - clip v| < |v|): the failures are at the negative gains, and the -40 dB "
                "end is tested on every utterance in every profile",
                "passband: every sweep level (0, -6, -20 dBFS) is 20+ dB above the clip level: passband gain "
                "-18 dB or less (physics, against any range narrower than that)",
                "PESQ drop 3.6 (default 3.08) and STOI drop 0.43 (default 0.08) measured (default)")),
    Rung("softclip", "soft clipper tanh(100 x) / 100 (saturates at -40 dBFS)", "degradation", soft_clip(),
         must_fail=(HOMOGENEITY, PASSBAND),
         notes=("as hardclip: a smooth saturation at the same level (-11.5 dB SER measured; default)",)),
    Rung("quant4bit", "4-bit uniform quantiser (step 1/8)", "degradation", quantise(4),
         must_fail=(PESQ,),
         notes=("PESQ drop 3.6 measured (default 3.08) (default)",
                "homogeneity: no claim; SER is exactly 0 dB where f(a x) is silent and near 0 dB elsewhere, above "
                "the default's -3.9 dB")),
    Rung("quant6bit", "6-bit uniform quantiser (step 1/32)", "degradation", quantise(6),
         blind=(HOMOGENEITY,),
         notes=("BLIND SPOT: homogeneity SER >= 0 dB, inside the default's -3.9 dB",
                "PESQ drop ~ 2.9-3.1 measured, at the default's 3.08: caught on the smoke corpus, too close to "
                "claim")),
    Rung("mnru10", "ITU-T P.810 MNRU, Q = 10 dB", "degradation", mnru(10.0),
         must_fail=(PESQ, MEL), must_pass=LINEARITY,
         notes=("10 dB more modulated noise than the default's anchor (MNRU Q = 20 dB): PESQ drop 3.5 measured "
                "(default 3.08), Mel distance 0.7 (default 0.55) (default)",
                "the noise is a fixed function of the length, so y = x (1 + c N) is linear (time-varying): "
                "homogeneity and additivity are exact (physics)",
                "STOI drop ~ 0.08 measured, at the default's 0.079: caught on the smoke corpus, too close to "
                "claim")),
    Rung("mnru20", "ITU-T P.810 MNRU, Q = 20 dB", "degradation", mnru(20.0), must_pass=(*LINEARITY, *NOISE_CLEAN),
         notes=("the default's noise anchor: its noise limits are MNRU Q = 20 dB's worst delta over seeds 0-4 "
                "plus the margin, so it passes them (default); linear time-varying: exact linearity",)),
    Rung("mnru30", "ITU-T P.810 MNRU, Q = 30 dB", "degradation", mnru(30.0), must_pass=(*LINEARITY, *NOISE_CLEAN),
         notes=("10 dB less modulated noise than the anchor: inside every noise limit it sets (physics: every "
                "metric is monotone in Q); linear time-varying: exact linearity",)),
    Rung("noise20db", "white noise 20 dB below the signal's RMS", "degradation", white_noise(20.0),
         must_pass=(HOMOGENEITY,),
         notes=("the noise level follows the input's RMS, so f(a x) = a f(x) exactly (physics); additivity: no "
                "claim; PESQ drop 3.1 measured vs 3.08: too close to claim",)),
    Rung("tvgain", "sinusoidal gain +-6 dB at 2 Hz", "degradation", tv_gain(), must_pass=LINEARITY,
         must_fail=(RIPPLE, PASSBAND),
         notes=("linear time-varying: f(a x) = a f(x) and f(x+y) = f(x)+f(y) exactly; a linearity gate cannot "
                "see it",
                "the sweep maps time to frequency, so the gain becomes ~ 12 dB of mid-band ripple (default 2.5 dB) "
                "and +1.8 dB of passband gain (default +-1 dB) (default)")),
    Rung("drops", "every 5th 10 ms block zeroed", "degradation", drops(), must_pass=LINEARITY,
         must_fail=(PESQ,),
         notes=("a fixed mask: linear time-varying, exact linearity",
                "PESQ drop 3.3 measured vs the default's 3.08 (default)")),
    Rung("corrupt5pct", "8-bit mu-law tokenizer, 5 % of the tokens replaced at random on every encode",
         "degradation", must_fail=(DETERMINISM,),
         notes=("fresh corruption per encode: two encodings of one item differ in ~ 2 x 5 % of the tokens",)),
)}
CLAIMS = {name: {"must_fail": r.must_fail, "must_pass": r.must_pass} for name, r in RUNGS.items()}


# ----------------------------------------------------------------------------- the codecs
class LadderCodec(BaseCodec):
    """One rung of the ladder: ``roundtrip`` applies the rung's fixed degradation."""

    sample_rate = SR
    bitrates_kbps = (256.0,)   # 16 kHz x 16 bit, for bookkeeping
    version = "1"

    def __init__(self, rung: str, **_: object) -> None:
        r = RUNGS[rung]
        if r.fn is None:
            raise CodecError(f"ladder rung {rung!r} is not a plain degradation")
        self.rung = r
        self.name = f"ladder:{rung}"
        self.description = r.description

    def cache_identity(self) -> tuple[object, ...]:
        return ("ladder", self.rung.name, self.version, SEED)

    def roundtrip_one(self, x: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        assert self.rung.fn is not None
        return np.asarray(self.rung.fn(np.asarray(x, np.float32)), np.float32)


def _mulaw_encode(x: np.ndarray, bits: int = TOKEN_BITS) -> np.ndarray:
    mu = 2 ** bits - 1
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.clip(np.round((y + 1) / 2 * mu), 0, mu).astype(np.int64)


def _mulaw_decode(c: np.ndarray, bits: int = TOKEN_BITS) -> np.ndarray:
    mu = 2 ** bits - 1
    y = 2 * np.asarray(c, np.float64) / mu - 1
    return np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu


class TokenLadderCodec(BaseCodec):
    """A codec with codes (``encode``/``decode``, so the token suite runs): 8-bit mu-law samples,
    ``TOKEN_HOP`` samples a frame, one code level per sample of the frame ([batch, 16, frames]).
    With ``corrupt`` > 0, that fraction of the codes is replaced by uniform random codes on every
    ``encode`` call (a fresh draw each call: see the module docstring)."""

    sample_rate = SR
    bitrates_kbps = (SR * TOKEN_BITS / 1000.0,)
    token_hop = TOKEN_HOP
    version = "1"

    def __init__(self, rung: str, corrupt: float = 0.0, **_: object) -> None:
        self.rung = RUNGS[rung]
        self.name = f"ladder:{rung}"
        self.description = self.rung.description
        self.corrupt = float(corrupt)
        self._calls = itertools.count()

    def cache_identity(self) -> tuple[object, ...] | None:
        # corrupted codes differ per call: never reuse outputs across runs
        return None if self.corrupt > 0 else ("ladder", self.rung.name, self.version)

    def encode(self, audio: Any, bitrate_kbps: float) -> np.ndarray:
        batch = np.atleast_2d(np.asarray(audio, np.float32))
        if batch.ndim != 2 or not np.all(np.isfinite(batch)):
            raise CodecError(f"{self.name}: encode takes finite audio [batch, samples], got shape {batch.shape}")
        self.check_bitrate(bitrate_kbps)
        n = batch.shape[1]
        frames = max(1, -(-n // TOKEN_HOP))
        pcm = np.zeros((batch.shape[0], frames * TOKEN_HOP), np.float32)
        pcm[:, :n] = batch
        codes = _mulaw_encode(pcm).reshape(batch.shape[0], frames, TOKEN_HOP).transpose(0, 2, 1).copy()
        if self.corrupt > 0:
            rng = np.random.default_rng([SEED, n, next(self._calls)])
            hit = rng.random(codes.shape) < self.corrupt
            codes[hit] = rng.integers(0, 2 ** TOKEN_BITS, int(hit.sum()))
        return codes

    def decode(self, codes: Any, bitrate_kbps: float | None = None) -> np.ndarray:
        c = np.asarray(codes)
        if c.ndim != 3 or c.shape[1] != TOKEN_HOP:
            raise CodecError(f"{self.name}: decode takes codes [batch, {TOKEN_HOP}, frames], got shape {c.shape}")
        return _mulaw_decode(c.transpose(0, 2, 1).reshape(c.shape[0], -1)).astype(np.float32)

    def roundtrip_batch(self, batch: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        return self.decode(self.encode(batch, bitrate_kbps))[:, : batch.shape[1]]


class OpusLadderCodec(BaseCodec):
    """Opus at 64 kbps (the registered ``opus`` codec at one operating point), gated as a ladder
    rung (default.toml, not opus.toml)."""

    bitrates_kbps = (64.0,)

    def __init__(self, rung: str = "opus64", **_: object) -> None:
        self.inner = OpusCodec()
        self.rung = RUNGS[rung]
        self.name = f"ladder:{rung}"
        self.description = self.rung.description
        self.sample_rate = self.inner.sample_rate

    def cache_identity(self) -> tuple[object, ...] | None:
        inner = self.inner.cache_identity()
        return None if inner is None else ("ladder", self.rung.name, *inner)

    def roundtrip_batch(self, batch: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        return np.asarray(self.inner.roundtrip(batch, 64.0), np.float32)


def make_ladder_codec(variant: str | None = None, **_: object) -> BaseCodec:
    """The codec of ladder rung ``variant`` (``--codec=ladder:<rung>``)."""
    if variant is None or variant not in RUNGS:
        what = "no rung given" if variant is None else f"unknown rung {variant!r}"
        raise CodecError(f"ladder: {what}; select one as --codec=ladder:<rung>, rungs: {', '.join(RUNGS)}")
    if variant in ("mulaw_tokens", "corrupt5pct"):
        return TokenLadderCodec(variant, corrupt=CORRUPT_FRACTION if variant == "corrupt5pct" else 0.0)
    if variant == "opus64":
        return OpusLadderCodec(variant)
    return LadderCodec(variant)


make_ladder_codec.__dict__["variants"] = tuple(RUNGS)  # the family's members, read by list-codecs


def _rung_factory(rung: str) -> Callable[..., BaseCodec]:
    def factory(**_: object) -> BaseCodec:
        return make_ladder_codec(rung)
    factory.__name__ = factory.__qualname__ = rung
    factory.__doc__ = f"ladder rung {rung!r} (``--codec=codec_conformance.codecs.ladder:{rung}``)"
    return factory


# every rung as a module-level factory: --codec=codec_conformance.codecs.ladder:<rung> works
# without the entry point
globals().update({name: _rung_factory(name) for name in RUNGS})
