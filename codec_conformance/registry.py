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


FAMILY_PARAMS = ("variant", "rung")  # the parameter of a family's factory that takes the member's name


def family_param(factory) -> str | None:
    """The parameter (``variant`` or ``rung``) through which ``factory`` builds one member of a
    codec family, or None when it takes neither (a plain codec factory)."""
    import inspect
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return None
    return next((p for p in FAMILY_PARAMS if p in params
                 and params[p].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)),
                None)


def family_variants(name: str) -> list[str] | None:
    """The members of registered codec family ``name`` (its factory's ``variants``), or None
    when ``name`` is not a family (or does not load)."""
    eps = _eps(CODEC_GROUP)
    if name not in eps:
        return None
    try:
        factory = eps[name].load()
    except ImportError:
        return None
    variants = getattr(factory, "variants", None)
    return list(variants) if family_param(factory) and variants is not None else None


def load_codec_factory(name: str):
    """The factory of codec ``name``: a registered entry point; ``family:member`` where
    ``family`` is a registered entry point whose factory takes ``variant`` (or ``rung``), e.g.
    ``ladder:lowpass4k`` (the factory bound to that member); otherwise ``package.module:factory``."""
    eps = _eps(CODEC_GROUP)
    if ":" in name:
        head, _, member = name.partition(":")
        if head in eps:
            try:
                factory = eps[head].load()
            except ImportError as exc:
                raise CodecError(f"codec {head!r} needs a package that is not installed: {exc}") from None
            param = family_param(factory)
            if param is not None:
                if not member:
                    raise CodecError(f"codec {name!r}: name a member of family {head!r} after the ':'")
                return _bind_member(factory, param, member)
        return _load_target(name)
    if name not in eps:
        raise CodecError(f"unknown codec {name!r}; registered: {', '.join(sorted(eps))}; "
                         "or pass --codec=package.module:factory")
    try:
        return eps[name].load()
    except ImportError as exc:
        raise CodecError(f"codec {name!r} needs a package that is not installed: {exc}") from None


def make_codec(name: str, given: tuple | list | set = (), **options):
    """Build a codec. ``options`` (checkpoint, weights, device, ...) go to the factory as far as
    its signature accepts them; ``given`` names the options the user set (``--codec-<option>``):
    one of those that the factory cannot accept is a usage error naming the factory and the
    option, never silently dropped. A TypeError raised while building propagates as it is."""
    factory = load_codec_factory(name)
    kwargs, refused = accepted_options(factory, options)
    lost = [k for k in refused if k in given]
    if lost:
        flags = ", ".join(f"--codec-{k.replace('_', '-')}" for k in lost)
        raise CodecError(f"codec {name!r}: its factory {_qualname(factory)} takes no parameter "
                         f"{', '.join(map(repr, lost))}, so {flags} would be ignored; drop {flags} or give "
                         f"the factory that parameter (or **kwargs)")
    codec = factory(**kwargs)
    for attr in ("name", "sample_rate", "bitrates_kbps", "roundtrip"):
        if not hasattr(codec, attr):
            raise CodecError(f"codec {name!r} does not meet the Codec interface: no {attr!r}")
    if not list(codec.bitrates_kbps):
        raise CodecError(f"codec {name!r} declares no bitrates_kbps")
    return codec


def _bind_member(factory, param: str, member: str):
    import functools
    bound = functools.partial(factory, **{param: member})
    for attr in ("__module__", "__qualname__", "__name__"):  # its name in messages (no __wrapped__: the
        if hasattr(factory, attr):                            # signature is the partial's)
            setattr(bound, attr, getattr(factory, attr))
    return bound


def accepted_options(factory, options: dict) -> tuple[dict, list[str]]:
    """(the options ``factory``'s signature accepts, the names of those it does not)."""
    import inspect
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin): pass everything
        return dict(options), []
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return dict(options), []
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return ({k: v for k, v in options.items() if k in names}, [k for k in options if k not in names])


def _qualname(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', type(obj).__name__)}"


def load_metric_class(name: str):
    """The class of metric ``name``. An entry point may name a class whose ``VARIANTS`` table
    holds ``name`` (``pesq_nb = ...signal:Pesq``): then that variant's class."""
    eps = _eps(METRIC_GROUP)
    if name not in eps:
        raise ConformanceError(f"unknown metric {name!r}; registered: {', '.join(sorted(eps))}")
    cls = eps[name].load()
    info = getattr(cls, "info", None)
    if getattr(info, "name", name) != name and name in (getattr(cls, "VARIANTS", None) or {}):
        return cls.variant(name)
    return cls
