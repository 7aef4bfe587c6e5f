"""Safe checkpoint handling shared by the neural codec adapters.

- ``torch.load(..., weights_only=True)`` or safetensors by default: a file that needs arbitrary
  unpickling (it could run code) is refused unless the user passes ``--codec-trust-checkpoint``.
- Keys and shapes are checked against the model: missing, unexpected or mis-shaped tensors are
  an error that names them (some libraries load with ``strict=False`` and would silently leave
  a random model).
- The file's SHA-256 goes into the report.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import CheckpointError


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance(path: Path) -> dict[str, str | None]:
    """``checkpoint`` and ``checkpoint_sha256`` of a codec given ``--codec-checkpoint PATH`` whose
    adapter does not report them itself (a ``module:factory`` codec): the path, and the SHA-256
    of a file (hashed once per file version; a folder has none)."""
    st = path.stat() if path.exists() else None
    sha = _sha256_once(str(path), st.st_size, st.st_mtime_ns) if st is not None and path.is_file() else None
    return {"checkpoint": str(path), "checkpoint_sha256": sha}


@lru_cache(maxsize=8)
def _sha256_once(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def load_state_dict(path: str | Path, trust: bool = False, key: str | None = None) -> dict[str, Any]:
    """Read a state dict from ``.safetensors`` or a torch file, safely."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    if p.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {p} is empty (0 bytes): truncated download?")
    if p.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
            return load_file(str(p), device="cpu")
        except Exception as exc:
            raise CheckpointError(f"cannot read safetensors checkpoint {p}: {exc}") from None
    import pickle

    import torch
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        if not trust:
            raise CheckpointError(
                f"checkpoint {p} needs arbitrary unpickling, which can run code; refused. If you trust "
                f"this file, pass --codec-trust-checkpoint. ({str(exc).splitlines()[0][:300]})") from None
        raise CheckpointError(f"cannot read checkpoint {p}: {exc}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint {p} (corrupted or truncated?): "
                              f"{str(exc).splitlines()[0][:300]}") from None
    if key and isinstance(obj, dict) and key in obj:
        obj = obj[key]
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise CheckpointError(f"checkpoint {p} does not hold a state dict of tensors "
                              f"(top-level keys: {list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__})")
    return obj


def apply_state_dict(model: Any, sd: dict[str, Any], source: str, codec: str) -> None:
    """Load ``sd`` into ``model`` strictly; errors name the offending keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = sorted(k for k in set(own) & set(sd) if tuple(own[k].shape) != tuple(sd[k].shape))
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            parts.append("shape mismatch for " + ", ".join(
                f"{k} {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}" for k in shapes[:3]))
        raise CheckpointError(f"checkpoint {source} does not fit the {codec} architecture: " + "; ".join(parts)
                              + ". Is it the right model/config?")
    model.load_state_dict(sd, strict=True)
