"""Degradation conditions: small immutable value objects with stable ids, applied with seeded,
order-independent randomness (the seed of an item is derived from run seed, condition id and
item id)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from .audio import active_rms, stable_seed
from ..errors import ConformanceError


@dataclass(frozen=True)
class Condition:
    kind: str
    snr_db: float | None = None
    gain_db: float | None = None
    rt60_s: float | None = None
    level_dbfs: float | None = None
    source: str | None = None  # noise file / RIR name, when one is fixed

    @property
    def id(self) -> str:
        parts = [self.kind]
        if self.snr_db is not None:
            parts.append(f"{self.snr_db:g}dB")
        if self.rt60_s is not None:
            parts.append(f"rt60-{self.rt60_s:g}s")
        if self.gain_db is not None:
            parts.append(f"gain{self.gain_db:+g}dB")
        if self.level_dbfs is not None:
            parts.append(f"{self.level_dbfs:g}dBFS")
        if self.source is not None and self.rt60_s is None:
            parts.append(self.source.replace("/", "_").rsplit(".", 1)[0])
        return "-".join(parts)

    def to_record(self) -> dict:
        """The record's condition: every field, the noise file / RIR source included (two measured
        RIRs are two records)."""
        from ..results.contract import condition_record
        d = asdict(self)
        return condition_record(**d)


def clean() -> Condition:
    return Condition("clean")


def white(snr_db: float) -> Condition:
    return Condition("white", snr_db=float(snr_db))


def ambient(snr_db: float) -> Condition:
    return Condition("ambient", snr_db=float(snr_db))


def reverb(rir: str | None = None, rt60_s: float | None = None) -> Condition:
    if (rir is None) == (rt60_s is None):
        raise ConformanceError("reverb: give either a measured RIR name or an RT60 to simulate")
    return Condition("reverb", rt60_s=None if rt60_s is None else float(rt60_s), source=rir)


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


def _noise_segment(bank, rng: np.random.Generator, n: int) -> tuple[np.ndarray, str]:
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
    from scipy.signal import fftconvolve

    peak = int(np.argmax(np.abs(rir)))
    y = fftconvolve(speech, rir[peak:])[: len(speech)]
    g = active_rms(speech, sr) / max(active_rms(y, sr), 1e-9)
    return (y * g).astype(np.float32)


@dataclass(frozen=True)
class ConditionKind:
    """A kind of degradation, declared once: how it is applied, its grid per profile, the
    record field that varies across the grid (its record key beside ``kind``, and the x axis of
    its figure), which suites use it. New kinds come from the entry-point group
    ``codec_conformance.conditions`` (see :mod:`codec_conformance.catalogue`).

    ``apply(cond, speech, sr, rng, ctx)`` returns the degraded float32 signal; ``rng`` is seeded
    by (run seed, condition id, item id) and ``ctx`` has ``noise_bank``, ``rir_bank``, ``seed``.
    ``grid`` is either {profile name: axis values} or ``f(profile, settings) -> [Condition]``."""

    name: str
    label: str
    apply: Callable[..., np.ndarray]
    grid: Mapping[str, Sequence[float]] | Callable[..., list] = field(default_factory=dict)
    axis: str | None = None          # a Condition field (snr_db, rt60_s, gain_db, level_dbfs) or None
    axis_label: str = ""
    suites: tuple[str, ...] = ("noise", "tokens")
    reference: bool = False          # the undegraded reference (clean): no token comparison against itself

    def conditions(self, profile, settings=None) -> list[Condition]:
        if callable(self.grid):
            return list(self.grid(profile, settings))
        values = self.grid.get(profile.name, ())
        if self.axis is None:
            return [Condition(self.name)] if values or not self.grid else []
        fields: list[dict] = [{self.axis: float(v)} for v in values]
        return [Condition(self.name, **f) for f in fields]

    def to_json(self) -> dict:
        """The entry of results.json's top-level ``conditions`` block."""
        return {"label": self.label, "axis": self.axis, "axis_label": self.axis_label}


def _clean(cond, speech, sr, rng, ctx):
    return speech.astype(np.float32, copy=True)


def _white(cond, speech, sr, rng, ctx):
    return mix_at_snr(speech, rng.standard_normal(len(speech)), cond.snr_db, sr)


def _ambient(cond, speech, sr, rng, ctx):
    if ctx.noise_bank is None:
        raise ConformanceError(f"{cond.id}: no noise bank (give --codec-noise-dir)")
    seg, _ = _noise_segment(ctx.noise_bank, rng, len(speech))
    return mix_at_snr(speech, seg, cond.snr_db, sr)


def _reverb(cond, speech, sr, rng, ctx):
    if cond.rt60_s is not None:
        rir = simulate_rir(cond.rt60_s, sr, seed=stable_seed(ctx.seed, cond.id))
    else:
        bank = ctx.rir_bank
        if bank is None or cond.source not in bank.signals:
            why = getattr(bank, "skipped", {}).get(cond.source)
            raise ConformanceError(f"{cond.id}: RIR {cond.source!r} not in the RIR bank"
                                   + (f" (it could not be read: {why})" if why else ""))
        rir = bank.signals[cond.source]
    return convolve_rir(speech, rir, sr)


def _gain(cond, speech, sr, rng, ctx):
    return (speech * 10 ** (cond.gain_db / 20)).astype(np.float32)


def _snr_grid(kind):
    return lambda profile, settings=None: [Condition(kind, snr_db=float(s)) for s in profile.snrs_db]


def _reverb_grid(profile, settings=None) -> list[Condition]:
    """Measured RIRs (up to the profile's count): those of --codec-rir-dir, else the ones shipped in
    the package; simulated RT60s only with --codec-corpus=synthetic (as before real recordings
    were shipped)."""
    from .shipped import SYNTHETIC, shipped_rir_dir
    rir_dir = getattr(settings, "rir_dir", None)
    if rir_dir or str(getattr(settings, "corpus", None) or "") != SYNTHETIC:
        from .corpus import AUDIO_EXT
        root = settings.path(rir_dir) if rir_dir else shipped_rir_dir()
        names = sorted(str(q.relative_to(root)) for q in root.rglob("*") if q.suffix.lower() in AUDIO_EXT)
        if not names:
            raise ConformanceError(f"--codec-rir-dir {root}: no audio files")
        return [reverb(rir=n) for n in names[: profile.max_rirs]]
    return [reverb(rt60_s=r) for r in profile.rt60s_s]


CLEAN = ConditionKind("clean", "clean", _clean, grid=lambda profile, settings=None: [clean()], reference=True)
AMBIENT = ConditionKind("ambient", "ambient noise", _ambient, grid=_snr_grid("ambient"), axis="snr_db",
                        axis_label="SNR (dB)")
WHITE = ConditionKind("white", "white noise", _white, grid=_snr_grid("white"), axis="snr_db", axis_label="SNR (dB)")
REVERB = ConditionKind("reverb", "reverberation", _reverb, grid=_reverb_grid, axis="rt60_s", axis_label="RT60 (s)")
GAIN = ConditionKind("gain", "gain", _gain, axis="gain_db", axis_label="gain (dB)", suites=())


def apply(cond: Condition, speech: np.ndarray, sr: int, *, item_id: str, seed: int,
          noise_bank=None, rir_bank=None) -> np.ndarray:
    """Degrade ``speech`` by ``cond`` (its kind's ``apply``); deterministic in (seed, cond.id, item_id)."""
    from types import SimpleNamespace

    from ..catalogue import condition_kinds
    kinds = condition_kinds()
    if cond.kind not in kinds:
        raise ConformanceError(f"unknown condition kind {cond.kind!r}; known: {', '.join(kinds)}")
    rng = np.random.default_rng(stable_seed(seed, cond.id, item_id))
    ctx = SimpleNamespace(noise_bank=noise_bank, rir_bank=rir_bank, seed=seed, item_id=item_id)
    return kinds[cond.kind].apply(cond, speech, sr, rng, ctx)
