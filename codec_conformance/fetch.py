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
- Gated Hugging Face repositories: ``HF_TOKEN`` (or ``HUGGING_FACE_HUB_TOKEN``) goes as a Bearer
  header to huggingface.co or the ``HF_ENDPOINT`` host only (never to another mirror, never on
  through a redirect); a 401/403 says to accept the repository's terms and set it.
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
TIMEOUT_S = 60.0        # socket timeout of one request (no byte for this long: the attempt fails)
# Bounds (docs/reliability.md, "Downloads and archives"):
MAX_DOWNLOAD_BYTES = 8 << 30   # a file whose Source declares no size: at most 8 GiB (Whisper large-v3: 2.9 GiB)
DEADLINE_S = 4 * 3600.0        # one file, every attempt together (env CODEC_CONFORMANCE_DOWNLOAD_DEADLINE_S)
DEADLINE_ENV = "CODEC_CONFORMANCE_DOWNLOAD_DEADLINE_S"
EXTRACT_RATIO = 20             # an archive extracts to at most 20x its size (its declared size, else its bytes) ...
MAX_EXTRACT_BYTES = 64 << 30   # ... and never more than 64 GiB (a small archive may always reach EXTRACT_FLOOR)
EXTRACT_FLOOR = 16 << 20
MAX_MEMBERS = 1_000_000        # ... in at most a million entries
LINGER_S = 1.0                 # after the announced length: how long to wait for bytes beyond it
# A redirect to another host is followed only for a pinned file, or to the CDN its canonical host
# is known to redirect to (huggingface.co: its LFS/Xet CDN; github.com: release assets).
REDIRECT_HOSTS = {"huggingface.co": ("huggingface.co", "hf.co"), "github.com": ("githubusercontent.com",),
                  "www.openslr.org": ("openslr.org",), "zenodo.org": ("zenodo.org",)}
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
    if kind == "cc":         # this project's own (results cache, embedded corpus, records of downloads)
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


class _Refused(Exception):
    """A body, redirect or archive refused for good (past a bound, longer than announced, sent
    elsewhere, not an archive): what was written is deleted and the transfer is not retried."""


class _TimeUp(Exception):
    """The download deadline passed (the data that arrived is kept and continued next time)."""


def deadline_s() -> float:
    """Seconds one file's download may take, every attempt together."""
    raw = os.environ.get(DEADLINE_ENV, "").strip()
    if not raw:
        return DEADLINE_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise FetchError(f"{DEADLINE_ENV}={raw!r}: use a number of seconds > 0, e.g. 14400")
    return value


def _size_text(n: int) -> str:
    return f"{n} bytes ({n / 2**20:.1f} MiB)" if n >= 2**20 else f"{n} bytes"


def _download(src: Source, path: Path, what: str) -> None:
    url = rewrite(src.url)
    shown = redact(url)
    via = f" (from {shown})" if url != src.url else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    limit = src.size if src.size else MAX_DOWNLOAD_BYTES
    limit_text = (f"its declared size, {_size_text(limit)}" if src.size else
                  f"the cap for files of undeclared size, {_size_text(limit)} (fetch.MAX_DOWNLOAD_BYTES)")
    budget = deadline_s()
    end = time.monotonic() + budget
    last: BaseException | None = None
    for _ in range(ATTEMPTS):
        try:
            _transfer(url, part, src, limit, limit_text, end)
            last = None
            break
        except _Refused as exc:
            part.unlink(missing_ok=True)
            raise FetchError(scrub(f"{what}download of {src.url}{via} refused: {exc}. Nothing was kept. Fetch it "
                                   f"by hand from a source you trust and put it at {path} ({src.pin_text()})")) from None
        except _TimeUp:
            if part.is_file() and part.stat().st_size == 0:
                part.unlink()
            kept = (f"; the {part.stat().st_size} bytes that arrived are kept in {part} and continued next time"
                    if part.is_file() else "")
            raise FetchError(scrub(f"{what}download of {src.url}{via} did not finish within its deadline of "
                                   f"{budget:g} s (set {DEADLINE_ENV} for a slow link, or fetch it by hand and put "
                                   f"it at {path}; {src.pin_text()}){kept}")) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:  # IncompleteRead included
            if isinstance(exc, urllib.error.HTTPError) and exc.code in (401, 403, 404, 410):
                last = exc
                break
            last = exc
            if time.monotonic() >= end:
                break
            time.sleep(0.2)
    if last is not None:
        if part.is_file() and part.stat().st_size == 0:
            part.unlink()  # nothing arrived: nothing to continue
        kept = (f"; partial data ({part.stat().st_size} bytes) is kept in {part} and continued next time"
                if part.is_file() else "")
        gated = ""
        if isinstance(last, urllib.error.HTTPError) and last.code in (401, 403) and "huggingface.co/" in src.url:
            gated = (" (a gated or private repository: accept its terms on its Hugging Face page and set HF_TOKEN"
                     f"{', which was sent' if _hf_token(src.url, url) else ''})")
        raise FetchError(scrub(f"{what}cannot download {src.url}{via}: {getattr(last, 'reason', last)}{gated}. "
                               f"Fetch it by hand and put it at {path} ({src.pin_text()}){kept}")) from None
    if src.size and part.stat().st_size != src.size:
        got = part.stat().st_size
        part.unlink()
        raise FetchError(scrub(f"{what}download of {src.url}{via} refused: {_size_text(got)}, but its declared "
                               f"size is {_size_text(src.size)}. The file was deleted. Expected at {path}"))
    sha, md5 = _digests(part)
    why = _compare(sha, md5, src, _read_record(path) if not (src.sha256 or src.md5) else None)
    if why is not None:
        part.unlink()
        raise FetchError(scrub(f"{what}download of {shown} refused: {why}. The file was deleted; a mirror or proxy "
                               f"may serve another file. Expected at {path}"))
    if not (src.sha256 or src.md5) and archive_kind(path.name):
        # no pin to vouch for it: record nothing until it is a readable archive of its kind
        try:
            _inspect_archive(part, path.name, _extract_bound(src, part), check_data=True)
        except _Refused as exc:
            part.unlink()
            raise FetchError(scrub(f"{what}download of {src.url}{via} refused: {exc}. The file was deleted and "
                                   f"nothing was recorded; another mirror, or the file fetched by hand and put at "
                                   f"{path}, is tried next time")) from None
    os.replace(part, path)
    _write_record(path, sha, md5, src)


def _transfer(url: str, part: Path, src: Source, limit: int, limit_text: str, end: float) -> None:
    """Fetch ``url`` into ``part``, continuing what is there (HTTP Range), never writing more
    than ``limit`` bytes nor reading past the time ``end`` (``time.monotonic()``)."""
    if time.monotonic() >= end:
        raise _TimeUp()
    have = part.stat().st_size if part.exists() else 0
    if have > limit:
        part.unlink()
        have = 0
    bare, auth = _credentials(url)
    auth = auth or _hf_token(src.url, bare)
    req = urllib.request.Request(bare, headers={"User-Agent": "codec-conformance"})
    if auth:  # not sent on to another host by a redirect
        req.add_unredirected_header("Authorization", auth)
    if have:
        req.add_header("Range", f"bytes={have}-")
    opener = urllib.request.build_opener(_Redirects(src))
    try:
        resp = opener.open(req, timeout=_left(end))
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part is already whole (or longer than the file)
            total = _content_range_total(exc.headers.get("Content-Range"))
            if total == have:
                return
            part.unlink()
        raise
    except (urllib.error.URLError, OSError):
        if time.monotonic() >= end:
            raise _TimeUp() from None
        raise
    with resp:
        if have and resp.status == 206:
            start = _content_range_start(resp.headers.get("Content-Range"))
            if start not in (0, have):  # bytes from somewhere else: nothing to append them to
                part.unlink()
                raise OSError(f"the server answered a request for bytes {have}- with bytes from {start}; "
                              "starting over")
            have = start
        elif have:   # the server ignored the range (200): start over
            have = 0
        length = resp.headers.get("Content-Length")
        announced = int(length) if length and length.isdigit() else None
        total = have + announced if announced is not None else None
        whole = _content_range_total(resp.headers.get("Content-Range")) if resp.status == 206 else total
        for n in (total, whole):
            if n is not None and n > limit:
                raise _Refused(f"the server announces {_size_text(n)}, more than {limit_text}")
        got = have
        chunked = bool(getattr(resp, "chunked", False))
        raw = getattr(resp, "fp", None)
        read = resp.read1 if chunked or raw is None else raw.read1
        with open(part, "ab" if have else "wb") as f, _progress(url, total, have) as bar:
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    raise _TimeUp()
                if total is not None and got >= total:
                    # the announced body is here: a byte more is a body longer than announced
                    _settimeout(resp, min(LINGER_S, left))
                    try:
                        extra = raw.read1(1) if raw is not None and not chunked else b""
                    except OSError:
                        extra = b""
                    if extra:
                        raise _Refused(f"the body is longer than its Content-Length ({_size_text(announced or 0)})")
                    break
                _settimeout(resp, min(TIMEOUT_S, left))
                try:
                    block = read(CHUNK if total is None else min(CHUNK, total - got))
                except TimeoutError:
                    if time.monotonic() >= end:
                        raise _TimeUp() from None
                    raise
                if not block:
                    break
                if got + len(block) > limit:
                    raise _Refused(f"the body is longer than {limit_text}")
                f.write(block)
                got += len(block)
                bar(len(block))
        if total is not None and got < total:
            raise OSError(f"connection closed after {got} of {total} bytes")


def _left(end: float) -> float:
    left = end - time.monotonic()
    if left <= 0:
        raise _TimeUp()
    return min(TIMEOUT_S, left)


def _settimeout(resp, seconds: float) -> None:
    """The socket timeout of the response's connection (each read waits at most this long)."""
    sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(seconds, 0.001))
        except OSError:
            pass


def _content_range_total(value: str | None) -> int | None:
    if value and "/" in value:
        tail = value.rsplit("/", 1)[1]
        return int(tail) if tail.isdigit() else None
    return None


def _content_range_start(value: str | None) -> int | None:
    """The first byte of a ``Content-Range: bytes START-END/TOTAL``, None when unreadable."""
    if not value:
        return None
    head = value.strip().split(" ", 1)[-1].split("-", 1)[0]
    return int(head) if head.isdigit() else None


# ------------------------------------------------------------------------------ credentials, redirects
def _credentials(url: str) -> tuple[str, str | None]:
    """``url`` without its ``user:password@`` and the Basic Authorization header they make."""
    u = urllib.parse.urlsplit(url)
    if u.username is None and u.password is None:
        return url, None
    import base64
    host = u.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{u.port}" if u.port else "")
    token = f"{urllib.parse.unquote(u.username or '')}:{urllib.parse.unquote(u.password or '')}"
    return (urllib.parse.urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment)),
            "Basic " + base64.b64encode(token.encode()).decode())


def _hf_token(src_url: str, url: str) -> str | None:
    """The Bearer header for a Hugging Face file (a gated repository, e.g. neuphonic/neucodec, answers
    401/403 without one): ``HF_TOKEN`` (or ``HUGGING_FACE_HUB_TOKEN``), as huggingface_hub reads it,
    sent only to huggingface.co or the ``HF_ENDPOINT`` host, never to another mirror."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token or urllib.parse.urlsplit(src_url).hostname != "huggingface.co":
        return None
    host = urllib.parse.urlsplit(url).hostname
    endpoint = os.environ.get("HF_ENDPOINT")
    if host == "huggingface.co" or (endpoint and host == urllib.parse.urlsplit(endpoint).hostname):
        return f"Bearer {token.strip()}"
    return None


def redact(url: str | None) -> str:
    """``url`` with the password of its ``user:password@`` replaced by ``***`` (for messages)."""
    if not url:
        return url or ""
    u = urllib.parse.urlsplit(url)
    if u.password is None:
        return url
    userinfo, _, hostport = u.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urllib.parse.urlunsplit((u.scheme, f"{user}:***@{hostport}", u.path, u.query, u.fragment))


def scrub(text: str) -> str:
    """``text`` with the password of any configured mirror (``--codec-model-mirror``,
    CODEC_CONFORMANCE_MIRROR, HF_ENDPOINT) replaced by ``***``."""
    for base in (_config.get("mirror"), os.environ.get("CODEC_CONFORMANCE_MIRROR"), os.environ.get("HF_ENDPOINT")):
        if not base:
            continue
        u = urllib.parse.urlsplit(base)
        if u.password:
            text = text.replace(u.netloc, urllib.parse.urlsplit(redact(base)).netloc)
            text = text.replace(u.password, "***")
    return text


def _host_allowed(canonical: str, host: str) -> bool:
    suffixes = REDIRECT_HOSTS.get(canonical.lower(), ())
    host = host.lower()
    return any(host == s or host.endswith("." + s) for s in suffixes)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect within the host asked, and to another host only for a pinned file or
    to the known CDN of the file's canonical host; refuses any other (and an https -> http one)."""

    def __init__(self, src: Source):
        self.src = src

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        pinned = bool(self.src.sha256 or self.src.md5)
        if old.scheme == "https" and new.scheme != "https" and not pinned:
            raise _Refused(f"{redact(req.full_url)} redirects from https to {redact(newurl)} and the file has no "
                           "pinned checksum")
        if (new.hostname, new.port) != (old.hostname, old.port) and not pinned:
            canonical = urllib.parse.urlsplit(self.src.url).hostname or ""
            if not _host_allowed(canonical, new.hostname or ""):
                raise _Refused(f"{redact(req.full_url)} redirects to another host, {new.hostname} "
                               f"({redact(newurl)}). A redirect to another host is followed only for a file with a "
                               f"pinned checksum (this one has none: {self.src.pin_text()}) or to the known CDN of "
                               f"its canonical host ({canonical}); use a mirror that serves the file itself")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


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
            print(f"codec-conformance: downloading {redact(url)}", file=sys.stderr)

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
_ARCHIVE_SUFFIXES = ((".tar.gz", "tar"), (".tgz", "tar"), (".tar.bz2", "tar"), (".tbz2", "tar"), (".tar.xz", "tar"),
                     (".txz", "tar"), (".tar", "tar"), (".zip", "zip"))


def archive_kind(name: str) -> str | None:
    """"zip" or "tar" by the file name's suffix, None for a file that is not an archive."""
    low = name.lower()
    return next((kind for suffix, kind in _ARCHIVE_SUFFIXES if low.endswith(suffix)), None)


def extracted_dir(src: Source) -> Path:
    """The folder beside an archive in the cache that it is extracted to: the whole file name
    less its archive suffix, plus ``.d`` (``data.v1.tar.gz`` -> ``data.v1.d``)."""
    name = src.path.name
    low = name.lower()
    suffix = next((s for s, _ in _ARCHIVE_SUFFIXES if low.endswith(s)), "")
    return src.path.with_name(name[: len(name) - len(suffix)] + ".d")


def _extract_bound(src: Source, archive: Path) -> int:
    """The most bytes the archive may extract to: EXTRACT_RATIO x its (declared) size, at least
    EXTRACT_FLOOR, at most MAX_EXTRACT_BYTES."""
    return min(MAX_EXTRACT_BYTES, max(EXTRACT_FLOOR, EXTRACT_RATIO * max(src.size or 0, archive.stat().st_size)))


def _inspect_archive(archive: Path, name: str, bound: int, check_data: bool = False) -> None:
    """Refuses (``_Refused``) an archive that is not a readable one of the kind its name says, or
    whose members would extract to more than ``bound`` bytes or MAX_MEMBERS entries; with
    ``check_data`` every member is also read (zip: CRC; tar: the whole stream decompressed)."""
    import gzip
    import lzma
    import tarfile
    import zipfile
    import zlib
    kind = archive_kind(name)
    try:
        if kind == "zip":
            if not zipfile.is_zipfile(archive):
                raise _Refused(f"{archive.name} is not a zip archive")
            with zipfile.ZipFile(archive) as z:
                infos = z.infolist()
                _check_bound(len(infos), sum(i.file_size for i in infos), bound)
                if check_data:
                    bad = z.testzip()
                    if bad is not None:
                        raise _Refused(f"{archive.name}: member {bad!r} fails its CRC check")
        elif kind == "tar":
            with tarfile.open(archive) as t:
                count = size = 0
                for m in t:   # reads the whole stream (decompressing it; nothing is written)
                    count += 1
                    size += m.size if m.isreg() else 0
                    _check_bound(count, size, bound)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, gzip.BadGzipFile, lzma.LZMAError, EOFError,
            zlib.error, ValueError, NotImplementedError) as exc:
        raise _Refused(f"{archive.name} is not a readable {kind} archive ({exc})") from None


def _check_bound(count: int, size: int, bound: int) -> None:
    if count > MAX_MEMBERS:
        raise _Refused(f"it holds more than {MAX_MEMBERS} entries (fetch.MAX_MEMBERS)")
    if size > bound:
        raise _Refused(f"its members add up to more than {_size_text(bound)} (the bound: {EXTRACT_RATIO}x the "
                       f"archive's size, at least {_size_text(EXTRACT_FLOOR)}, at most {_size_text(MAX_EXTRACT_BYTES)}; "
                       "fetch.EXTRACT_RATIO, EXTRACT_FLOOR, MAX_EXTRACT_BYTES): an archive bomb, or a bound too small "
                       "for this file")


def _extract_zip(archive: Path, tmp: Path, bound: int, label: str) -> None:
    """Each member copied through a counter: at most ``bound`` bytes are written whatever the
    headers say; a path leaving the folder is refused."""
    import zipfile
    written = 0
    root = tmp.resolve()
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            m = info.filename
            target = (tmp / m).resolve()
            if m.startswith("/") or ".." in Path(m).parts or (root != target and root not in target.parents):
                raise FetchError(f"{label}: archive {archive} holds an unsafe path {m!r}; refused")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as fin, open(target, "wb") as fout:
                while True:
                    block = fin.read(CHUNK)
                    if not block:
                        break
                    written += len(block)
                    if written > bound:
                        raise _Refused(f"extracting it wrote more than {_size_text(bound)}: an archive bomb")
                    fout.write(block)


def _extraction_ok(done: Path, src: Source) -> bool:
    try:
        return done.is_file() and done.read_text().strip() == src.url
    except OSError:
        return False


def _forget(path: Path) -> None:
    """Deletes a cached file and its verification record."""
    path.unlink(missing_ok=True)
    _record_file(path).unlink(missing_ok=True)


def ensure_extracted(src: Source, label: str = "", subdir: str = "") -> Path:
    """The folder an archive (``.tar.gz``, ``.tgz``, ``.zip``) extracts to, beside it in the cache:
    extracted once (into a temporary folder, then renamed), marked complete with the archive's
    URL. The extracted size is bounded (:func:`_extract_bound`); an archive that is unreadable or
    past the bound is deleted (with its record) and the error names it."""
    archive = src.path
    dest = extracted_dir(src)
    done = dest / ".complete"
    if _extraction_ok(done, src):
        return dest / subdir if subdir else dest
    ensure(src, label)
    import shutil
    import tarfile
    what = f"{label}: " if label else ""
    with _lock(dest):
        if _extraction_ok(done, src):  # compared again inside the lock: another process may have finished
            return dest / subdir if subdir else dest
        tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            bound = _extract_bound(src, archive)
            _inspect_archive(archive, archive.name, bound)
            if archive_kind(archive.name) == "zip":
                _extract_zip(archive, tmp, bound, label)
            else:
                with tarfile.open(archive) as t:
                    t.extractall(tmp, filter="data")
        except _Refused as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            _forget(archive)
            raise FetchError(f"{what}archive {archive} (from {src.url}) refused: {exc}. The archive was deleted; "
                             f"the next run fetches it again (or put a good copy at {archive}; {src.pin_text()})") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (tmp / ".complete").write_text(src.url)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    return dest / subdir if subdir else dest
