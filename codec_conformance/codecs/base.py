"""The codec adapter contract.

Other repositories implement :class:`Codec` (structurally: no inheritance needed) and register a
factory under the entry-point group ``codec_conformance.codecs``, or pass
``--codec=package.module:factory``. :class:`BaseCodec` adds the batch method with a per-item
loop fallback, input validation and output checks.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import CodecError


@runtime_checkable
class Codec(Protocol):
    name: str
    sample_rate: int                 # Hz
    bitrates_kbps: Sequence[float]   # operating points, ascending

    def roundtrip(self, audio: Any, bitrate_kbps: float) -> Any:
        """audio: float32 [batch, samples] in [-1, 1] at ``sample_rate`` (torch.Tensor or
        numpy); returns the decoded signal, same shape and type, time-aligned to the input."""
        ...


class BaseCodec:
    """Convenience base: subclasses implement :meth:`roundtrip_one` (1-D numpy in/out) or
    override :meth:`roundtrip_batch` for real batching."""

    name: str = "base"
    sample_rate: int = 16000
    bitrates_kbps: Sequence[float] = ()
    weights: str = "none"        # none | pretrained | checkpoint | random-init
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    device: str = "cpu"
    version: str = "0"           # part of the cache key: bump when outputs change
    description: str = ""
    licence: str | None = None   # of the weights (or the codec), where it restricts use: list-codecs, results, report

    # -- to implement ----------------------------------------------------------------
    def roundtrip_one(self, x: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        raise NotImplementedError

    def roundtrip_batch(self, batch: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        return np.stack([self.roundtrip_one(row, bitrate_kbps) for row in batch])

    def cache_identity(self) -> tuple[object, ...] | None:
        """Everything that determines this codec's output, for the on-disk cache; ``None``
        (the default) means outputs are not cached across runs (memoised within a run only),
        because an adapter's configuration cannot be inferred safely."""
        return None

    # -- contract --------------------------------------------------------------------
    def check_bitrate(self, bitrate_kbps: float) -> float:
        for b in self.bitrates_kbps:
            if abs(float(b) - float(bitrate_kbps)) < 1e-6:
                return float(b)
        raise CodecError(f"{self.name}: no operating point at {bitrate_kbps} kbps; "
                         f"available: {', '.join(f'{b:g}' for b in self.bitrates_kbps)}")

    def roundtrip(self, audio: Any, bitrate_kbps: float) -> Any:
        is_torch = type(audio).__module__.startswith("torch")
        arr = audio.detach().cpu().numpy() if is_torch else np.asarray(audio)
        squeeze = arr.ndim == 1
        batch = np.atleast_2d(arr).astype(np.float32)
        if batch.ndim != 2:
            raise CodecError(f"{self.name}: roundtrip takes [batch, samples], got shape {arr.shape}")
        if not np.all(np.isfinite(batch)):
            raise CodecError(f"{self.name}: input has NaN/Inf samples")
        br = self.check_bitrate(bitrate_kbps)
        out = check_output(self.name, batch, self.roundtrip_batch(batch, br))
        out = out[0] if squeeze else out
        if is_torch:
            import torch
            return torch.from_numpy(np.ascontiguousarray(out)).to(audio.device)
        return out

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "sample_rate": int(self.sample_rate),
                "bitrates_kbps": [float(b) for b in self.bitrates_kbps],
                "checkpoint": self.checkpoint, "checkpoint_sha256": self.checkpoint_sha256,
                "weights": self.weights, "device": self.device, "description": self.description,
                "licence": self.licence}


def check_output(name: str, batch: np.ndarray, out: Any, bitrate_kbps: float | None = None) -> np.ndarray:
    """The codec's output as float32 numpy, or a CodecError naming the codec and what it returned.

    Only a real floating-point array (numpy or torch) of the input's shape, without NaN/Inf, is
    accepted (also after the cast to float32: 1e300 in float64 would become Inf): integer PCM (whose scale fakes perfect scale-invariant scores), complex, boolean or
    object output is refused, never converted. The output is at the codec's ``sample_rate`` (the
    protocol's only rate), so a different length is refused too."""
    arr = as_samples(name, batch, out, bitrate_kbps)
    at = "" if bitrate_kbps is None else f" at {bitrate_kbps:g} kbps"
    if arr.shape != batch.shape:
        raise CodecError(f"codec {name!r}{at} returned shape {tuple(arr.shape)} for input "
                         f"{tuple(batch.shape)}; an adapter must trim/pad to the input length "
                         "(output is at the codec's sample_rate)")
    if not np.all(np.isfinite(arr)):
        raise CodecError(f"codec {name!r}{at} returned NaN/Inf samples")
    with np.errstate(over="ignore"):
        out32 = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(out32)):  # finite float64 beyond float32's range (1e300) casts to Inf
        peak = float(np.max(np.abs(arr)))
        raise CodecError(f"codec {name!r}{at} returned {arr.dtype} samples up to {peak:.3g} in magnitude, beyond "
                         f"float32's range (they become Inf); return float32 samples in [-1, 1]")
    return out32


def as_samples(name: str, batch: np.ndarray, out: Any, bitrate_kbps: float | None = None) -> np.ndarray:
    """The codec's output as a real floating-point numpy array, as it returned it (any shape,
    NaN/Inf kept), or a CodecError naming the codec and what it returned: the first half of
    :func:`check_output`, and what the implementation suite measures lengths and finiteness on."""
    at = "" if bitrate_kbps is None else f" at {bitrate_kbps:g} kbps"
    try:
        arr = np.asarray(host_array(out))
    except Exception as exc:  # noqa: BLE001  (ragged lists, exotic objects)
        raise CodecError(f"codec {name!r}{at} returned {type(out).__name__}, not an array of samples "
                         f"({exc}); return a float32 array of the input's shape") from None
    if not np.issubdtype(arr.dtype, np.floating):
        hint = {"i": "scale integer PCM to [-1, 1] (x / 32768 for int16) ", "u": "scale unsigned PCM to [-1, 1] ",
                "c": "return the real signal, not a complex one, "}.get(arr.dtype.kind, "")
        raise CodecError(f"codec {name!r}{at} returned {arr.dtype} samples of shape {tuple(arr.shape)}; "
                         f"{hint}and return real floating-point samples (float32 in [-1, 1]) of the input's "
                         f"shape {tuple(batch.shape)}")
    return arr


def host_array(out: Any) -> Any:
    """A torch tensor as numpy on the CPU (a floating one as float32: bfloat16 has no numpy
    dtype); anything else as it is. How the output checks read a codec's samples, in this
    process or in a codec's worker process."""
    if hasattr(out, "detach"):
        t = out.detach().cpu()
        return (t.float() if t.is_floating_point() else t).numpy()
    return out


def check_declared(spec: str, codec: Any) -> None:
    """A CodecError naming the codec and the field unless its declared facts are usable: a name
    (a non-empty string), ``sample_rate`` a positive whole number of Hz and ``bitrates_kbps`` a
    non-empty list of finite positive numbers. Checked once, when the codec is built, so that a
    NaN, Inf, zero or negative declaration is one clear error instead of a crash in whatever
    first uses it (resampling, test ids, the results file)."""
    def number(v: Any) -> bool:
        return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(float(v)) and float(v) > 0

    name = getattr(codec, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise CodecError(f"codec {spec!r} declares name {name!r}; declare a non-empty string")
    sr: Any = getattr(codec, "sample_rate", None)
    if not number(sr) or float(sr) != int(float(sr)):
        raise CodecError(f"codec {spec!r} declares sample_rate {sr!r}; declare a positive whole number of Hz "
                         "(e.g. 16000)")
    try:
        rates = list(codec.bitrates_kbps)
    except TypeError:
        raise CodecError(f"codec {spec!r} declares bitrates_kbps {codec.bitrates_kbps!r}; declare a list of "
                         "finite positive kbps numbers (e.g. (6.0, 12.0))") from None
    if not rates:
        raise CodecError(f"codec {spec!r} declares no bitrates_kbps; declare at least one operating point")
    for i, b in enumerate(rates):
        if not number(b):
            raise CodecError(f"codec {spec!r} declares bitrates_kbps[{i}] = {b!r}; every bitrate must be a finite "
                             "positive number of kbps (e.g. (6.0, 12.0))")


def codec_info(codec: Codec) -> dict[str, Any]:
    """Results-file entry for any object meeting the Codec protocol."""
    if hasattr(codec, "info"):
        return codec.info()
    return {"name": codec.name, "sample_rate": int(codec.sample_rate),
            "bitrates_kbps": [float(b) for b in codec.bitrates_kbps], "checkpoint": None,
            "checkpoint_sha256": None, "weights": getattr(codec, "weights", "unknown"),
            "device": getattr(codec, "device", "cpu"), "description": ""}
