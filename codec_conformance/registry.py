"""Find codecs and metrics by name: entry points (groups ``codec_conformance.codecs`` and
``codec_conformance.metrics``) or ``package.module:factory``. Loading a name imports only that
entry's module, so optional backends never break ``import codec_conformance``."""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from .errors import CodecError, ConformanceError

CODEC_GROUP = "codec_conformance.codecs"
METRIC_GROUP = "codec_conformance.metrics"


def _eps(group: str) -> dict:
    return {ep.name: ep for ep in entry_points(group=group)}


def codec_names() -> list[str]:
    return sorted(_eps(CODEC_GROUP))


def metric_names() -> list[str]:
    return sorted(_eps(METRIC_GROUP))


def _load_target(spec: str):
    mod, _, attr = spec.partition(":")
    try:
        obj = importlib.import_module(mod)
    except ImportError as exc:
        raise CodecError(f"cannot import module {mod!r} for {spec!r}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise CodecError(f"module {mod!r} has no attribute {attr!r} (from {spec!r})")
        obj = getattr(obj, part)
    return obj


def load_codec_factory(name: str):
    if ":" in name:
        return _load_target(name)
    eps = _eps(CODEC_GROUP)
    if name not in eps:
        raise CodecError(f"unknown codec {name!r}; registered: {', '.join(sorted(eps))}; "
                         "or pass --codec=package.module:factory")
    try:
        return eps[name].load()
    except ImportError as exc:
        raise CodecError(f"codec {name!r} needs a package that is not installed: {exc}") from None


def make_codec(name: str, **options):
    """Build a codec; ``options`` (checkpoint, weights, device, ...) go to the factory."""
    factory = load_codec_factory(name)
    try:
        codec = factory(**options)
    except TypeError:
        codec = factory()
    for attr in ("name", "sample_rate", "bitrates_kbps", "roundtrip"):
        if not hasattr(codec, attr):
            raise CodecError(f"codec {name!r} does not meet the Codec interface: no {attr!r}")
    if not list(codec.bitrates_kbps):
        raise CodecError(f"codec {name!r} declares no bitrates_kbps")
    return codec


def load_metric_class(name: str):
    eps = _eps(METRIC_GROUP)
    if name not in eps:
        raise ConformanceError(f"unknown metric {name!r}; registered: {', '.join(sorted(eps))}")
    return eps[name].load()
