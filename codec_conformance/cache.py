"""Content-addressed on-disk cache for codec outputs and evaluator outputs.

Keys are SHA-256 hex digests of everything that determines the value (codec identity, weights
hash, bitrate, input bytes; evaluator name, version, input bytes). Writes are atomic
(temporary file + os.replace), so concurrent xdist workers never see a partial entry. The
cache is bounded: when it grows past ``max_bytes`` the least recently used entries go.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


class Cache:
    def __init__(self, root: str | Path | None, max_bytes: int = 2 * 1024**3, enabled: bool = True):
        self.enabled = bool(enabled and root)
        self.root = Path(root) if root else None
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._written = 0
        if self.enabled:
            self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str, ext: str) -> Path:
        return self.root / key[:2] / f"{key}{ext}"

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self._written += len(data)
        if self._written > self.max_bytes // 20:
            self._written = 0
            self.prune()

    def _read(self, key: str, ext: str, decode):
        """Decoded entry, or None (a missing or unreadable entry is a miss, never an error)."""
        if not self.enabled:
            return None
        p = self._path(key, ext)
        try:
            out = decode(p.read_bytes())
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        try:
            os.utime(p)  # recency for pruning
        except OSError:
            pass
        return out

    def get_json(self, key: str):
        return self._read(key, ".json", json.loads)

    def put_json(self, key: str, obj) -> None:
        if self.enabled:
            self._write(self._path(key, ".json"), json.dumps(obj).encode())

    def get_array(self, key: str):
        import io
        return self._read(key, ".npy", lambda b: np.load(io.BytesIO(b), allow_pickle=False))

    def put_array(self, key: str, arr: np.ndarray) -> None:
        if self.enabled:
            import io
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
            self._write(self._path(key, ".npy"), buf.getvalue())

    def prune(self) -> int:
        """Remove least recently used entries until the cache is under ``max_bytes``."""
        if not self.enabled:
            return 0
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.root.rglob("*")
                 if p.is_file() and not p.name.startswith(".tmp-")]
        total = sum(s for _, s, _ in files)
        removed = 0
        for _, size, p in sorted(files):
            if total <= self.max_bytes:
                break
            try:
                p.unlink()
                total -= size
                removed += 1
            except OSError:
                pass
        return removed


NULL_CACHE = Cache(None, enabled=False)
