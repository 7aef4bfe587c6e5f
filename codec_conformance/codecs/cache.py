"""Content-addressed on-disk cache for codec outputs and evaluator outputs.

Keys are SHA-256 hex digests of everything that determines the value (codec identity, weights
hash, bitrate, input bytes; evaluator name, version, input bytes). Entries live under
``<root>/v<CACHE_FORMAT>/``, so the library's cache-format version is part of every key: bump
it when a cached value's meaning or layout changes. Each entry carries the SHA-256 of its
payload; an entry that is unreadable or fails the check is deleted, counted as a miss (the
value is recomputed) and described in ``Cache.problems`` for the run's results. Writes are
atomic (temporary file + os.replace), so concurrent xdist workers never see a partial entry.
The cache is bounded: when it grows past ``max_bytes`` the least recently used entries go.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

CACHE_FORMAT = 2        # 2: versioned directory, SHA-256 header on every entry
_MAGIC = b"codec-conformance-cache sha256="
log = logging.getLogger("codec_conformance.codecs.cache")
T = TypeVar("T")


class Cache:
    def __init__(self, root: str | Path | None, max_bytes: int = 2 * 1024**3, enabled: bool = True):
        self.enabled = bool(enabled and root)
        self.root = Path(root) if root else None
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._written = 0
        self.problems: list[str] = []   # one line per corrupt/unreadable entry met (then recomputed)
        self._reported = 0
        if self.enabled:
            self._root().mkdir(parents=True, exist_ok=True)

    def _root(self) -> Path:
        """``root`` of an enabled cache (``enabled`` implies a root)."""
        if self.root is None:
            raise RuntimeError("codec-conformance: a cache without a root directory cannot be used")
        return self.root

    def _path(self, key: str, ext: str) -> Path:
        return self._root() / f"v{CACHE_FORMAT}" / key[:2] / f"{key}{ext}"

    def _write(self, path: Path, payload: bytes) -> None:
        data = _MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
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

    def _read(self, key: str, ext: str, decode: Callable[[bytes], T]) -> T | None:
        """Decoded entry, or None: a missing entry is a miss; a corrupt or unreadable one is a
        miss too (deleted, so it is recomputed and rewritten) and is noted in ``problems``."""
        if not self.enabled:
            return None
        p = self._path(key, ext)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        except OSError as exc:
            self._bad(p, f"unreadable ({exc.strerror or exc})")
            return None
        head, nl, payload = data.partition(b"\n")
        if not nl or not head.startswith(_MAGIC):
            self._bad(p, f"no checksum header ({len(data)} bytes)")
            return None
        if hashlib.sha256(payload).hexdigest().encode() != head[len(_MAGIC):]:
            self._bad(p, "checksum mismatch")
            return None
        try:
            out = decode(payload)
        except Exception as exc:  # noqa: BLE001  (a checksummed entry that still does not decode)
            self._bad(p, f"undecodable ({type(exc).__name__}: {exc})")
            return None
        self.hits += 1
        try:
            os.utime(p)  # recency for pruning
        except OSError:
            pass
        return out

    def _bad(self, p: Path, why: str) -> None:
        msg = f"cache entry {p} {why}: deleted and recomputed"
        self.problems.append(msg)
        log.warning("codec-conformance: %s", msg)
        self.misses += 1
        try:
            p.unlink()
        except OSError:
            pass
        return None

    def new_problems(self) -> list[str]:
        """Problems met since the last call (for the test report that carries them)."""
        out = self.problems[self._reported:]
        self._reported = len(self.problems)
        return out

    def get_json(self, key: str) -> Any:
        return self._read(key, ".json", json.loads)

    def put_json(self, key: str, obj: Any) -> None:
        if self.enabled:
            self._write(self._path(key, ".json"), json.dumps(obj).encode())

    def get_array(self, key: str) -> np.ndarray | None:
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
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self._root().rglob("*")
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

