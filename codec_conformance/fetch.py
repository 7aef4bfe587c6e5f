"""Published files a run needs (codec weights, evaluator models, corpora), obtained the way their
own libraries obtain them: the canonical URL of each file, into the standard cache that library
uses (torch hub, Hugging Face hub, ``~/.cache/descript``, ``~/.cache/whisper``), else
``~/.cache/codec-conformance``.

A top-level module (beside ``registry`` and ``errors``) because ``codecs/``, ``metrics/`` and
``data/`` all use it; each of them declares its own files as :class:`Source` constants next to the
code that reads them (``codecs/<name>.py``: ``PRETRAINED``, ``metrics/paper.py``, ``data/sources.py``).

- Verified: every file is checked against a pinned SHA-256 where upstream publishes one (a
  torch-hub file name carries the first 8 hex digits of its SHA-256; openai-whisper's URLs carry
  the whole digest; OpenSLR publishes MD5s). Where upstream publishes none, the SHA-256 is
  *recorded on first download* and every later use is checked against that record: a file that
  changes in the cache is then caught, but the first download is trusted (said in
  :meth:`Source.pin_text`, hence in every error and in docs/models.md). A cached file that fails
  its check is refused and fetched again (or, offline, named in the error).
- Atomic and resumable: bytes go to ``<file>.part`` (HTTP Range continues an interrupted
  transfer), the digest is checked, then ``os.replace`` puts the file in place.
- Progress: a tqdm bar on stderr (tqdm is in the lock), else one line per 10 %.
- Offline: ``--codec-offline``, ``CODEC_CONFORMANCE_OFFLINE=1`` or the standard ``HF_HUB_OFFLINE=1``
  forbid any download; a missing file is then an error naming the URL and the cache path to fill by
  hand. Mirror: ``--codec-model-mirror URL`` or ``CODEC_CONFORMANCE_MIRROR`` replaces scheme and host
  of every URL (the path is kept: ``https://huggingface.co/a/b`` -> ``URL/a/b``); ``HF_ENDPOINT``
  does the same for Hugging Face URLs only, as in huggingface_hub.
"""
from __future__ import annotations

from contextlib import contextmanager

import hashlib
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import ConformanceError

CHUNK = 1 << 20
ATTEMPTS = 4            # transfers per file (each continues the .part left by the previous one)
TIMEOUT_S = 60.0        # socket timeout of one request
_TRUE = ("1", "true", "yes", "on")
_config: dict = {"offline": False, "mirror": None}


class FetchError(ConformanceError):
    """A file that is not in the cache and cannot be downloaded (offline, network, checksum)."""


def configure(offline: bool = False, mirror: str | None = None, reason: str = "--codec-offline") -> None:
    """Set the run's policy (from --codec-offline / --codec-model-mirror); the environment
    variables apply in any case. ``reason``: what turned downloads off, for the messages."""
    _config["offline"], _config["mirror"], _config["reason"] = bool(offline), (mirror or None), reason


@contextmanager
def downloads_off(reason: str):
    """Within the block every missing file is a FetchError naming it (``reason`` says why), as
    with --codec-offline; the run's policy is restored after."""
    saved = dict(_config)
    configure(offline=True, mirror=saved.get("mirror"), reason=reason)
    try:
        yield
    finally:
        _config.clear()
        _config.update(saved)


class _DownloadPolicy(Protocol):
    """What :func:`configure_from` reads of the run's settings (settings.Settings)."""

    offline: bool
    model_mirror: str | None


def configure_from(settings: _DownloadPolicy) -> None:
    configure(bool(getattr(settings, "offline", False)), getattr(settings, "model_mirror", None))


def is_offline() -> bool:
    return bool(_config["offline"]) or any(os.environ.get(k, "").strip().lower() in _TRUE
                                           for k in ("HF_HUB_OFFLINE", "CODEC_CONFORMANCE_OFFLINE"))


def offline_reason() -> str:
    if _config["offline"]:
        return str(_config.get("reason") or "--codec-offline")
    return next(f"{k}=1" for k in ("HF_HUB_OFFLINE", "CODEC_CONFORMANCE_OFFLINE")
                if os.environ.get(k, "").strip().lower() in _TRUE)


def mirror() -> str | None:
    return _config["mirror"] or os.environ.get("CODEC_CONFORMANCE_MIRROR") or None


def rewrite(url: str, base: str | None = None) -> str:
    """``url`` with scheme and host replaced by the mirror's (its path prefix kept in front)."""
    base = base if base is not None else mirror()
    u = urllib.parse.urlsplit(url)
    if not base and u.netloc == "huggingface.co" and os.environ.get("HF_ENDPOINT"):
        base = os.environ["HF_ENDPOINT"]
    if not base:
        return url
    m = urllib.parse.urlsplit(base.rstrip("/"))
    return urllib.parse.urlunsplit((m.scheme, m.netloc, m.path + u.path, u.query, ""))


# ------------------------------------------------------------------------------ cache roots
def _xdg() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def cache_root(kind: str) -> Path:
    """The standard cache folder of each library (the same rules as the library itself)."""
    if kind == "torch":      # torch.hub.get_dir()
        return Path(os.environ.get("TORCH_HOME") or _xdg() / "torch") / "hub"
    if kind == "hf":         # huggingface_hub.constants.HF_HUB_CACHE
        if os.environ.get("HF_HUB_CACHE"):
            return Path(os.environ["HF_HUB_CACHE"])
        return Path(os.environ.get("HF_HOME") or _xdg() / "huggingface") / "hub"
    if kind == "descript":   # dac.utils.download: Path.home() / ".cache" / "descript"
        return Path.home() / ".cache" / "descript"
    if kind == "whisper":    # whisper.load_model's download_root
        return _xdg() / "whisper"
    if kind == "cc":         # this project's own (data.corpus.default_cache_dir)
        return Path(os.environ.get("CODEC_CONFORMANCE_CACHE") or _xdg() / "codec-conformance")
    raise ValueError(f"unknown cache kind {kind!r}")


@dataclass(frozen=True)
class Source:
    """One published file: where it lives upstream, where its library caches it, its pin."""
    url: str
    cache: str               # "<kind>:<relative path>", kind one of torch, hf, descript, whisper, cc
    sha256: str | None = None  # full digest, or a published prefix (torch hub: 8 hex digits)
    md5: str | None = None     # where upstream publishes an MD5 only (OpenSLR)
    size: int | None = None

    @property
    def path(self) -> Path:
        kind, _, rel = self.cache.partition(":")
        return cache_root(kind) / rel

    def pin_text(self) -> str:
        if self.sha256 and len(self.sha256) == 64:
            return f"SHA-256 {self.sha256}"
        if self.sha256:
            return f"SHA-256 starting {self.sha256} (the prefix upstream publishes; the full digest is recorded)"
        if self.md5:
            return f"MD5 {self.md5} (published upstream; SHA-256 recorded on first download)"
        return "no published checksum: SHA-256 recorded on first download and checked on every later use"


def hf_source(repo: str, filename: str, revision: str = "main", sha256: str | None = None,
              kind: str = "models") -> Source:
    """A file of a Hugging Face repository at its canonical ``resolve`` URL, cached in the hub
    cache's layout (``models--org--name/snapshots/<revision>/<filename>``) where huggingface_hub
    and the libraries built on it (speechbrain, funasr) look."""
    folder = f"{kind}--{repo.replace('/', '--')}"
    prefix = "" if kind == "models" else f"{kind}/"
    return Source(f"https://huggingface.co/{prefix}{repo}/resolve/{revision}/{filename}",
                  f"hf:{folder}/snapshots/{revision}/{filename}", sha256)


def hf_snapshot_dir(repo: str, revision: str = "main") -> Path:
    return cache_root("hf") / f"models--{repo.replace('/', '--')}" / "snapshots" / revision


# ------------------------------------------------------------------------------ verification
def _digests(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def _record_file(path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return cache_root("cc") / "verified" / f"{key}.json"


def _read_record(path: Path) -> dict | None:
    try:
        return json.loads(_record_file(path).read_text())
    except (OSError, ValueError):
        return None


def _write_record(path: Path, sha: str, md5: str, src: Source) -> None:
    st = path.stat()
    rec = _record_file(path)
    rec.parent.mkdir(parents=True, exist_ok=True)
    tmp = rec.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"path": str(path), "url": src.url, "sha256": sha, "md5": md5,
                               "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    os.replace(tmp, rec)


def check_file(path: Path, src: Source) -> str | None:
    """None when ``path`` passes the source's pin (or the SHA-256 recorded at its first
    download), else why not. A file unchanged since its last check (size and modification time)
    is not hashed again."""
    rec = _read_record(path)
    if rec is not None and rec.get("url") != src.url:
        rec = None
    st = path.stat()
    if rec and rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns:
        return _compare(rec["sha256"], rec.get("md5"), src, None)
    sha, md5 = _digests(path)
    why = _compare(sha, md5, src, rec)
    if why is None:
        _write_record(path, sha, md5, src)
    return why


def _compare(sha: str, md5: str | None, src: Source, rec: dict | None) -> str | None:
    if src.sha256:
        return None if sha.startswith(src.sha256.lower()) else f"SHA-256 {sha}, expected {src.pin_text()}"
    if src.md5:
        return None if md5 == src.md5.lower() else f"MD5 {md5}, expected {src.md5}"
    if rec and rec.get("sha256") and rec["sha256"] != sha:
        return f"SHA-256 {sha}, but {rec['sha256']} was recorded when it was first downloaded"
    return None


# ------------------------------------------------------------------------------ download
def ensure(src: Source, label: str = "") -> Path:
    """The cached, verified file of ``src``; downloads it when missing or failing its check
    (unless offline: then a FetchError names the URL and the path to fill by hand)."""
    path = src.path
    what = f"{label}: " if label else ""
    with _lock(path):
        if path.is_file():
            why = check_file(path, src)
            if why is None:
                return path
            if is_offline():
                raise FetchError(f"{what}cached file {path} fails its check ({why}) and downloads are off "
                                 f"({offline_reason()}); replace it with {src.url} ({src.pin_text()})")
            print(f"codec-conformance: {path} fails its check ({why}); fetching it again", file=sys.stderr)
            path.unlink()
        if is_offline():
            raise FetchError(missing_text(src, label))
        _download(src, path, what)
        return path


def missing_text(src: Source, label: str = "") -> str:
    what = f"{label}: " if label else ""
    return (f"{what}{src.path} is not in the cache and downloads are off ({offline_reason()}). "
            f"Fetch {src.url} on a machine with internet and put it at that path ({src.pin_text()}), "
            "or run without --codec-offline / HF_HUB_OFFLINE")


def _download(src: Source, path: Path, what: str) -> None:
    url = rewrite(src.url)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    last: BaseException | None = None
    for _ in range(ATTEMPTS):
        try:
            _transfer(url, part)
            last = None
            break
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:  # IncompleteRead included
            if isinstance(exc, urllib.error.HTTPError) and exc.code in (401, 403, 404, 410):
                last = exc
                break
            last = exc
            time.sleep(0.2)
    if last is not None:
        via = f" (from {url})" if url != src.url else ""
        if part.is_file() and part.stat().st_size == 0:
            part.unlink()  # nothing arrived: nothing to continue
        kept = (f"; partial data ({part.stat().st_size} bytes) is kept in {part} and continued next time"
                if part.is_file() else "")
        raise FetchError(f"{what}cannot download {src.url}{via}: {getattr(last, 'reason', last)}. Fetch it by "
                         f"hand and put it at {path} ({src.pin_text()}){kept}") from None
    sha, md5 = _digests(part)
    why = _compare(sha, md5, src, _read_record(path) if not (src.sha256 or src.md5) else None)
    if why is not None:
        part.unlink()
        raise FetchError(f"{what}download of {url} refused: {why}. The file was deleted; a mirror or proxy "
                         f"may serve another file. Expected at {path}")
    os.replace(part, path)
    _write_record(path, sha, md5, src)


def _transfer(url: str, part: Path) -> None:
    """Fetch ``url`` into ``part``, continuing what is there (HTTP Range)."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "codec-conformance"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part is already whole (or longer than the file)
            total = _content_range_total(exc.headers.get("Content-Range"))
            if total == have:
                return
            part.unlink()
        raise
    with resp:
        if have and resp.status != 206:   # the server ignored the range: start over
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        got = have
        with open(part, "ab" if have else "wb") as f, _progress(url, total, have) as bar:
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                f.write(block)
                got += len(block)
                bar(len(block))
        if total is not None and got < total:
            raise OSError(f"connection closed after {got} of {total} bytes")


def _content_range_total(value: str | None) -> int | None:
    if value and "/" in value:
        tail = value.rsplit("/", 1)[1]
        return int(tail) if tail.isdigit() else None
    return None


class _progress:
    """tqdm on stderr when installed, else a line per 10 %; a callable taking byte counts."""

    def __init__(self, url: str, total: int | None, initial: int):
        self.name, self.total, self.done, self.step = url.rsplit("/", 1)[-1], total, initial, 0
        self.bar = None
        try:
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                            desc=f"downloading {self.name}", file=sys.stderr, leave=False,
                            disable=os.environ.get("CODEC_CONFORMANCE_NO_PROGRESS") == "1")
        except ImportError:
            print(f"codec-conformance: downloading {url}", file=sys.stderr)

    def __enter__(self):
        return self

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.total:
            tenth = int(10 * self.done / self.total)
            if tenth > self.step:
                self.step = tenth
                print(f"  {self.name}: {10 * tenth} % of {self.total / 1e6:.1f} MB", file=sys.stderr)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False


class _lock:
    """An inter-process lock per cached file (xdist workers, parallel runs), in our own cache."""

    def __init__(self, path: Path):
        key = hashlib.sha256(str(path).encode()).hexdigest()[:32]
        self.file = cache_root("cc") / "locks" / f"{key}.lock"
        self.lock = None

    def __enter__(self):
        try:
            from filelock import FileLock
        except ImportError:
            return self
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(str(self.file))
        self.lock.acquire()
        return self

    def __exit__(self, *exc):
        if self.lock is not None:
            self.lock.release()
        return False


# ------------------------------------------------------------------------------ archives
def extracted_dir(src: Source) -> Path:
    """The folder beside an archive in the cache that it is extracted to."""
    return src.path.with_name(src.path.name.split(".")[0] + ".d")


def ensure_extracted(src: Source, label: str = "", subdir: str = "") -> Path:
    """The folder an archive (``.tar.gz``, ``.tgz``, ``.zip``) extracts to, beside it in the cache:
    extracted once (into a temporary folder, then renamed), marked complete."""
    archive = src.path
    dest = extracted_dir(src)
    done = dest / ".complete"
    if done.is_file() and done.read_text().strip() == src.url:
        return dest / subdir if subdir else dest
    ensure(src, label)
    import shutil
    import tarfile
    import zipfile
    with _lock(dest):
        if done.is_file():
            return dest / subdir if subdir else dest
        tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                for m in z.namelist():
                    if m.startswith("/") or ".." in Path(m).parts:
                        raise FetchError(f"{label}: archive {archive} holds an unsafe path {m!r}; refused")
                z.extractall(tmp)
        else:
            with tarfile.open(archive) as t:
                t.extractall(tmp, filter="data")
        (tmp / ".complete").write_text(src.url)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    return dest / subdir if subdir else dest
