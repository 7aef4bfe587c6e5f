"""Degradation conditions: small immutable value objects with stable ids, applied with seeded,
order-independent randomness (the seed of an item is derived from run seed, condition id and
item id)."""
from __future__ import annotations

import numpy as np

from ..catalogue import Condition, ConditionContext, ConditionKind, condition_kinds
from ..errors import ConformanceError
from ..settings import Profile, Settings
from .audio import active_rms, stable_seed
from .corpus import AUDIO_EXT, AudioBank
from .shipped import SYNTHETIC, shipped_rir_dir


def clean() -> Condition:
    return Condition("clean")


def white(snr_db: float) -> Condition:
    return Condition.of("white", snr_db=snr_db)


def ambient(snr_db: float) -> Condition:
    return Condition.of("ambient", snr_db=snr_db)


def reverb(rir: str | None = None, rt60_s: float | None = None) -> Condition:
    if (rir is None) == (rt60_s is None):
        raise ConformanceError("reverb: give either a measured RIR name or an RT60 to simulate")
    return Condition.of("reverb", rt60_s=rt60_s, source=rir)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, sr: int) -> np.ndarray:
    """Return speech + noise scaled so that active-speech level / noise RMS = ``snr_db``."""
    if len(noise) < len(speech):
        raise ConformanceError(f"noise ({len(noise)} samples) shorter than speech ({len(speech)})")
    n = noise[: len(speech)].astype(np.float64)
    s_lvl = active_rms(speech, sr)
    n_rms = float(np.sqrt(np.mean(n**2)))
    if s_lvl <= 0 or n_rms <= 0:
        raise ConformanceError("mix_at_snr: speech or noise is silent; the SNR is undefined")
    g = s_lvl / (n_rms * 10 ** (snr_db / 20))
    return (speech + g * n).astype(np.float32)


def _noise_segment(bank: AudioBank, rng: np.random.Generator, n: int) -> tuple[np.ndarray, str]:
    names = bank.names()
    name = names[int(rng.integers(len(names)))]
    x = bank.signals[name]
    if len(x) < n:
        x = np.tile(x, int(np.ceil(n / len(x))) + 1)
    start = int(rng.integers(0, len(x) - n + 1))
    return x[start : start + n], name


def simulate_rir(rt60_s: float, sr: int, seed: int = 0) -> np.ndarray:
    """Shoebox room (6 x 5 x 3 m) image-source RIR with the given RT60 (pyroomacoustics)."""
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise ConformanceError("simulated reverb needs pyroomacoustics (pip install pyroomacoustics) "
                               "or a folder of measured RIRs (--codec-rir-dir)") from None
    room_dim = [6.0, 5.0, 3.0]
    e_abs, max_order = pra.inverse_sabine(rt60_s, room_dim)
    rng = np.random.default_rng(seed)
    room = pra.ShoeBox(room_dim, fs=sr, materials=pra.Material(e_abs), max_order=min(max_order, 30))
    room.add_source([1.5 + rng.uniform(0, 0.5), 2.0, 1.6])
    room.add_microphone([4.0 + rng.uniform(0, 0.5), 3.0, 1.5])
    room.compute_rir()
    return np.asarray(room.rir[0][0], dtype=np.float32)


def convolve_rir(speech: np.ndarray, rir: np.ndarray, sr: int) -> np.ndarray:
    """Reverberant speech aligned to the direct path (RIR peak) and scaled to the input's level."""
    from scipy.signal import fftconvolve  # scipy loads when a condition needs it, not with the plugin

    peak = int(np.argmax(np.abs(rir)))
    y = fftconvolve(speech, rir[peak:])[: len(speech)]
    g = active_rms(speech, sr) / max(active_rms(y, sr), 1e-9)
    return (y * g).astype(np.float32)


Signal = np.ndarray


def _clean(cond: Condition, speech: Signal, sr: int, rng: np.random.Generator, ctx: ConditionContext) -> Signal:
    return speech.astype(np.float32, copy=True)


def _white(cond: Condition, speech: Signal, sr: int, rng: np.random.Generator, ctx: ConditionContext) -> Signal:
    return mix_at_snr(speech, rng.standard_normal(len(speech)), float(cond["snr_db"]), sr)


def _ambient(cond: Condition, speech: Signal, sr: int, rng: np.random.Generator, ctx: ConditionContext) -> Signal:
    if ctx.noise_bank is None:
        raise ConformanceError(f"{cond.id}: no noise bank (give --codec-noise-dir)")
    seg, _ = _noise_segment(ctx.noise_bank, rng, len(speech))
    return mix_at_snr(speech, seg, float(cond["snr_db"]), sr)


def _reverb(cond: Condition, speech: Signal, sr: int, rng: np.random.Generator, ctx: ConditionContext) -> Signal:
    rt60_s, source = cond.get("rt60_s"), cond.get("source")
    if rt60_s is not None:
        rir = simulate_rir(float(rt60_s), sr, seed=stable_seed(ctx.seed, cond.id))
    else:
        bank = ctx.rir_bank
        if bank is None or source not in bank.signals:
            why = getattr(bank, "skipped", {}).get(source)
            raise ConformanceError(f"{cond.id}: RIR {source!r} not in the RIR bank"
                                   + (f" (it could not be read: {why})" if why else ""))
        rir = bank.signals[source]
    return convolve_rir(speech, rir, sr)


def _gain(cond: Condition, speech: Signal, sr: int, rng: np.random.Generator, ctx: ConditionContext) -> Signal:
    return (speech * 10 ** (float(cond["gain_db"]) / 20)).astype(np.float32)


def _snr_grid(kind: str):
    return lambda profile, settings=None: [Condition.of(kind, snr_db=s) for s in profile.snrs_db]


def _reverb_grid(profile: Profile, settings: Settings | None = None) -> list[Condition]:
    """Measured RIRs (up to the profile's count): those of --codec-rir-dir, else the ones shipped in
    the package; simulated RT60s only with --codec-corpus=synthetic (as before real recordings
    were shipped)."""
    rir_dir = settings.rir_dir if settings is not None else None
    corpus = (settings.corpus if settings is not None else None) or ""
    if rir_dir or corpus != SYNTHETIC:
        root = (settings.path(rir_dir) if settings is not None else None) or shipped_rir_dir()
        names = sorted(str(q.relative_to(root)) for q in root.rglob("*") if q.suffix.lower() in AUDIO_EXT)
        if not names:
            raise ConformanceError(f"--codec-rir-dir {root}: no audio files")
        return [reverb(rir=n) for n in names[: profile.max_rirs]]
    return [reverb(rt60_s=r) for r in profile.rt60s_s]


CLEAN = ConditionKind("clean", "clean", _clean, grid=lambda profile, settings=None: [clean()], reference=True)
AMBIENT = ConditionKind("ambient", "ambient noise", _ambient, grid=_snr_grid("ambient"), axis="snr_db",
                        axis_label="SNR (dB)", needs=("noise_bank",))
WHITE = ConditionKind("white", "white noise", _white, grid=_snr_grid("white"), axis="snr_db", axis_label="SNR (dB)")
REVERB = ConditionKind("reverb", "reverberation", _reverb, grid=_reverb_grid, axis="rt60_s", axis_label="RT60 (s)",
                       needs=("rir_bank",))
GAIN = ConditionKind("gain", "gain", _gain, axis="gain_db", axis_label="gain (dB)", suites=())


def apply(cond: Condition, speech: Signal, sr: int, *, item_id: str, seed: int,
          noise_bank: AudioBank | None = None, rir_bank: AudioBank | None = None) -> Signal:
    """Degrade ``speech`` by ``cond`` (its kind's ``apply``); deterministic in (seed, cond.id, item_id)."""
    kinds = condition_kinds()
    if cond.kind not in kinds:
        raise ConformanceError(f"unknown condition kind {cond.kind!r}; known: {', '.join(kinds)}")
    rng = np.random.default_rng(stable_seed(seed, cond.id, item_id))
    ctx = ConditionContext(seed=seed, item_id=item_id, noise_bank=noise_bank, rir_bank=rir_bank)
    return kinds[cond.kind].apply(cond, speech, sr, rng, ctx)
