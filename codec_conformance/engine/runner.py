"""The codec runner: builds each codec once, puts audio through it (the one verb: ``roundtrip``;
padded, length-sorted batches; a time limit; every output checked by ``check_output``), caches
outputs by content, and encodes for the token suite.

Where a codec runs is decided in one place, :meth:`CodecRunner._build` (``--codec-isolation``):
in a worker process (:class:`~.worker.WorkerCodec`, the default: the worker's deadline bounds
every call, and a hang is ended with the worker) or in this process (each call bounded by a
watchdog thread, :func:`call_with_time_limit`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..codecs.base import as_samples, check_output
from ..codecs.cache import Cache
from ..codecs.checkpoint import sha256_file
from ..data.audio import content_hash, fit_length, resample
from ..errors import CheckpointError, CodecCrash, CodecError, CodecTimeout, ConformanceError, check_regular_file
from ..progress import Stages
from ..registry import make_codec
from ..settings import Settings, select_bitrates
from .worker import CodecSpec, WorkerCodec, codec_input, finish_build, raw_roundtrip, timeout_error


class CodecRunner:
    def __init__(self, settings: Settings, device: str, cache: Cache, timing: dict[str, float], stages: Stages):
        self.settings = settings
        self.device = device
        self.cache = cache
        self.stages = stages          # times (and may show) the stages of long work
        self.timing = timing          # shared with the session's telemetry: codec_s
        self._lock = threading.RLock()
        self._codecs: dict[str, object] = {}
        self._identity: dict[str, str | None] = {}
        self._lists: dict[tuple, list] = {}
        self._memo: dict[str, np.ndarray] = {}
        self._fresh: dict[str, dict[float, list[np.ndarray]]] = {}  # fresh_process: per codec and inputs
        self.load_failed: dict[str, Exception] = {}  # codec -> the error that stopped it loading
        self.abandoned: list[threading.Thread] = []   # codec calls left running past --codec-timeout
        # (codec, bitrate, call) -> the timeout of a call that hung (or the crash of its worker):
        # it is not started again in this process (a hung codec under Hypothesis' draws cost one
        # timeout, not one per draw)
        self.hung: dict[tuple[str, float | None, str], CodecError] = {}

    @property
    def in_process(self) -> bool:
        """Codecs run in this process (--codec-isolation thread), not in worker processes."""
        return self.settings.isolation == "thread"

    def _timed(self, name: str, bitrate: float | None, call: str, fn: Callable[[], Any], shown: str = "") -> Any:
        """``fn()`` (one codec call) under --codec-timeout; a call that hung once at this codec
        and bitrate fails at once afterwards, with the same error (``shown``: the codec's own name).
        In a worker process the worker's deadline bounds the call; in this process a watchdog
        thread does."""
        key = (name, bitrate, call)
        if key in self.hung:
            raise self.hung[key]
        try:
            if not self.in_process:
                return fn()
            return call_with_time_limit(fn, self.settings.timeout, shown or name, bitrate, self.abandoned, call)
        except (CodecTimeout, CodecCrash) as exc:
            self.hung[key] = exc
            raise

    def close(self) -> None:
        """End the codecs' worker processes (at the end of a session; a later call starts them again)."""
        with self._lock:
            for codec in self._codecs.values():
                if isinstance(codec, WorkerCodec):
                    codec.close()

    def _loading(self, name: str, fn):
        """``fn()``; a codec whose weights are missing or unusable (CheckpointError) is remembered,
        and every later call for it fails at once with that error (no model rebuilt per call)."""
        if name in self.load_failed:
            raise self.load_failed[name]
        try:
            return fn()
        except CheckpointError as exc:
            self.load_failed[name] = exc
            raise

    def codec(self, name: str):
        """The codec ``name``, built once. One that cannot be loaded raises CheckpointError, the
        same for every codec (remembered: every later call raises it again, nothing is rebuilt)."""
        with self._lock:
            if name not in self._codecs:
                self._codecs[name] = self._loading(name, lambda: self._build(name))
            return self._codecs[name]

    def _build(self, name: str):
        """The codec ``name``, built where its calls will run: in a worker process
        (:class:`WorkerCodec`) or in this process (--codec-isolation thread)."""
        s = self.settings
        given = tuple(k for k, v in (("checkpoint", s.checkpoint), ("config", s.config),
                                     ("weights", s.weights != "pretrained"),
                                     ("trust_checkpoint", s.trust_checkpoint),
                                     ("device", s.device != "auto")) if v)
        checkpoint = str(s.path(s.checkpoint)) if s.checkpoint else None
        spec = CodecSpec(name, given, {"checkpoint": checkpoint, "config": str(s.path(s.config)) if s.config else None,
                                       "weights": s.weights, "trust_checkpoint": bool(s.trust_checkpoint),
                                       "device": self.device}, s.precision)
        try:
            if not self.in_process:  # the factory and what follows it, in the worker, within the limit
                return self._timed(name, None, "build", partial(WorkerCodec, spec, s.timeout))
            codec = self._timed(name, None, "build", partial(make_codec, spec.name, spec.given, **spec.options))
        except ConformanceError:  # ours: a usage error (CodecError) or already a CheckpointError
            raise
        except Exception as exc:  # a plugin factory's own error on the checkpoint it was given
            if checkpoint is None:
                raise
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise CheckpointError(f"cannot build the codec from checkpoint {checkpoint}: "
                                  f"{type(exc).__name__}: {first}") from None
        return finish_build(spec, codec)  # checked facts, torch's threads, the precision

    def bitrates(self, name: str) -> list[float]:
        return select_bitrates(self.codec(name).bitrates_kbps, self.settings.bitrate)

    def codec_identity(self, name: str) -> str | None:
        """Cache identity of a codec, or None when it declares none (then nothing is cached on
        disk for it: a factory may hold configuration the framework cannot see, and two
        configurations of one class must never share outputs). The codec's own
        ``cache_identity()`` is combined with what the framework knows changes the output:
        :meth:`framework_identity` (the cache-format version is in :class:`Cache` itself)."""
        with self._lock:
            if name not in self._identity:
                c = self.codec(name)
                ident = c.cache_identity() if hasattr(c, "cache_identity") else None
                module, qualname = c.codec_class if isinstance(c, WorkerCodec) else (type(c).__module__,
                                                                                   type(c).__qualname__)
                self._identity[name] = None if ident is None else content_hash(
                    module, qualname, ident, sorted(self.framework_identity(name).items()))
            return self._identity[name]

    def framework_identity(self, name: str) -> dict:
        """What the run's settings say about a codec's output, whatever its adapter declares:
        the ``--codec`` spec, SHA-256 of the checkpoint (file, or a directory's files) and config
        file, weights kind, precision and device class (cpu, or cuda and the GPU model). These are
        the settings' values, not the adapter's attributes, which an adapter may not keep up to
        date (so a CPU-only codec such as Opus is cached apart on a GPU machine: a miss, never a
        wrong hit)."""
        s = self.settings
        dev = str(self.device).split(":")[0]
        if dev == "cuda":
            try:
                import torch
                dev = f"cuda/{torch.cuda.get_device_name(self.device)}"
            except Exception:  # noqa: BLE001  (no torch: then the codec cannot be on cuda either)
                pass
        return {"spec": name,
                "checkpoint_sha256": sha256_path(s.path(s.checkpoint)) if s.checkpoint else None,
                "config_sha256": sha256_path(s.path(s.config)) if s.config else None,
                "weights": s.weights, "precision": s.precision, "device": dev}

    def roundtrip_one(self, name: str, bitrate: float, x: np.ndarray, sr: int) -> np.ndarray:
        """One signal at ``sr`` through the codec (resampled to and from its rate), cached by content."""
        return self.roundtrip(name, bitrate, [x], sr)[0]

    def roundtrip(self, name: str, bitrate: float, signals: list[np.ndarray], sr: int, tag=None) -> list[np.ndarray]:
        """Signals at ``sr`` through the codec (resampled to and from its rate), cached by content:
        padded, length-sorted batches for codecs that declare ``supports_batch``, one by one
        otherwise. Outputs of the wrong shape or with NaN/Inf are refused, naming the codec
        (:func:`check_output`). With ``tag`` (one condition's corpus) the list is kept whole."""
        if tag is not None:
            key = (name, float(bitrate), tag)
            with self._lock:
                if key not in self._lists:  # one condition's corpus: padded, length-sorted batches
                    with self.stages.stage(f"coding {len(signals)} items with {name} at {float(bitrate):g} kbps",
                                        "codec round trips"):
                        self._lists[key] = self.roundtrip(name, bitrate, signals, sr)
                return self._lists[key]
        return self._loading(name, lambda: self._roundtrip(name, bitrate, signals, sr))

    def _roundtrip(self, name: str, bitrate: float, signals: list[np.ndarray], sr: int) -> list[np.ndarray]:
        import time

        codec = self.codec(name)
        ident = self.codec_identity(name)
        bs = max(1, int(getattr(codec, "max_batch", 8))) if getattr(codec, "supports_batch", False) else 1
        out: list = [None] * len(signals)
        todo = []
        for i, x in enumerate(signals):
            key = content_hash("rt", ident or ("run", name, id(codec)), float(bitrate), x, sr)
            hit = self._memo.get(key)
            if hit is None and ident is not None:
                hit = self.cache.get_array(key)
            if hit is not None:
                out[i] = hit
            else:
                todo.append((len(x), i, key))
        todo.sort()
        for b in range(0, len(todo), bs):
            chunk = todo[b : b + bs]
            t0 = time.perf_counter()
            ys = [resample(signals[i], sr, codec.sample_rate) for _, i, _ in chunk]
            n = max(len(y) for y in ys)
            batch = np.stack([fit_length(y, n) for y in ys]).astype(np.float32)
            inp = codec_input(codec, batch)  # numpy for a BaseCodec, else a tensor (in the worker, if there)
            res = self._timed(name, float(bitrate), "roundtrip", partial(codec.roundtrip, inp, bitrate),
                              str(getattr(codec, "name", name)))
            res = check_output(name, batch, res, bitrate)  # real float of the input's shape, finite
            for (_, i, key), y, row in zip(chunk, ys, res):
                z = fit_length(resample(row[: len(y)], codec.sample_rate, sr), len(signals[i])).astype(np.float32)
                out[i] = z
                if ident is not None:
                    self.cache.put_array(key, z)
                if len(self._memo) < 4096:
                    self._memo[key] = z
            self.timing["codec_s"] += time.perf_counter() - t0
        return out

    def roundtrip_fn(self, name: str, bitrate: float, sr: int):
        """The codec at one bitrate as a function of a 1-D signal at ``sr`` (the probes' system)."""
        return lambda x: self.roundtrip_one(name, bitrate, np.asarray(x, np.float32), sr)

    # -- the implementation suite: the codec as it is, uncached ---------------------------
    def raw_roundtrip(self, name: str, bitrate: float, batch: np.ndarray, memo: bool = False) -> np.ndarray:
        """``batch`` [batch, samples] (float32, at the codec's own rate) through the codec as it
        is, under --codec-timeout: not cached, not memoised (two calls are two runs), and the
        output not held to the input's shape: the implementation suite measures the length and
        finiteness the codec returns, where every other suite goes through :meth:`roundtrip`,
        which refuses a wrong length. A BaseCodec's ``roundtrip_batch`` is called directly (its
        ``roundtrip`` refuses a wrong length too). Returns [batch, samples'] float numpy. ``memo``:
        kept for this process by content (a reference output several checks compare against)."""
        key = content_hash("raw", name, id(self.codec(name)), float(bitrate), np.asarray(batch, np.float32))
        if memo and key in self._memo:
            return self._memo[key]
        out = self._loading(name, lambda: self._raw_roundtrip(name, bitrate, batch))
        if memo and len(self._memo) < 4096:
            self._memo[key] = out
        return out

    def _raw_roundtrip(self, name: str, bitrate: float, batch: np.ndarray) -> np.ndarray:
        import time
        codec = self.codec(name)
        batch = np.ascontiguousarray(np.atleast_2d(batch), np.float32)
        if isinstance(codec, WorkerCodec):
            fn = partial(codec.raw_roundtrip, batch, bitrate)
        else:
            fn = partial(raw_roundtrip, codec, batch, bitrate)
        t0 = time.perf_counter()
        res = self._timed(name, float(bitrate), "roundtrip", fn, str(getattr(codec, "name", name)))
        self.timing["codec_s"] += time.perf_counter() - t0
        arr = as_samples(name, batch, res, bitrate)
        if arr.ndim == 1 and batch.shape[0] == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[0] != batch.shape[0]:
            raise CodecError(f"codec {name!r} at {float(bitrate):g} kbps returned shape {tuple(arr.shape)} for input "
                             f"{tuple(batch.shape)}: not one row of samples per input row")
        return arr

    def encode_batch(self, name: str, bitrate: float, batch: np.ndarray) -> np.ndarray:
        """Codes [batch, n_q, frames] of ``batch`` [batch, samples] at the codec's own rate,
        encoded together, uncached, under --codec-timeout."""
        codec = self.codec(name)
        batch = np.ascontiguousarray(np.atleast_2d(batch), np.float32)
        codes = np.asarray(self._timed(name, float(bitrate), "encode", partial(codec.encode, batch, bitrate),
                                       str(getattr(codec, "name", name))))
        if codes.ndim != 3 or codes.shape[0] != batch.shape[0] or not np.issubdtype(codes.dtype, np.integer):
            raise CodecError(f"codec {name!r}: encode must return integer codes [batch, n_q, frames], "
                             f"got {codes.dtype} {codes.shape} for {batch.shape[0]} inputs")
        return codes

    def decode(self, name: str, bitrate: float, codes: np.ndarray) -> np.ndarray:
        """Audio [batch, samples] (float numpy, at the codec's rate) of codes [batch, n_q, frames],
        uncached, under --codec-timeout."""
        codec = self.codec(name)
        res = self._timed(name, float(bitrate), "decode", partial(codec.decode, codes, bitrate),
                          str(getattr(codec, "name", name)))
        arr = as_samples(name, np.asarray(codes), res, bitrate)
        if arr.ndim != 2 or arr.shape[0] != np.shape(codes)[0]:
            raise CodecError(f"codec {name!r}: decode must return audio [batch, samples], got shape {tuple(arr.shape)} "
                             f"for codes {tuple(np.shape(codes))}")
        return arr

    def fresh_process(self, name: str, signals: list[np.ndarray]) -> dict[float, list[np.ndarray]]:
        """The raw outputs (:meth:`raw_roundtrip`, each signal alone) of ``signals`` (1-D, at the
        codec's own rate) at every bitrate this run selects, computed by a new Python process that
        builds the codec from this run's settings (``engine/fresh.py``): the implementation
        suite's determinism across processes. Memoised per codec and inputs, so a run starts one
        process per codec, not one per bitrate. Bounded by --codec-timeout per call, plus two
        minutes for the process to start and build."""
        key = content_hash("fresh", name, *signals)
        with self._lock:
            if key in self._fresh:
                return self._fresh[key]
        bitrates = self.bitrates(name)
        s = self.settings
        spec = {"name": name, "bitrates": bitrates, "device": self.device,
                "settings": {k: getattr(s, k) for k in FRESH_SETTINGS}}
        with tempfile.TemporaryDirectory(prefix="codec-fresh-") as tmp:
            np.savez(os.path.join(tmp, "in.npz"), *[np.asarray(x, np.float32) for x in signals])
            with open(os.path.join(tmp, "spec.json"), "w", encoding="utf-8") as fh:
                json.dump(spec, fh)
            env = dict(os.environ)  # the child imports what this process imports (a plugin codec's module)
            env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)
            limit = None if not s.timeout else float(s.timeout) * (len(bitrates) * len(signals) + 1) + 120.0
            try:
                done = subprocess.run([sys.executable, "-m", "codec_conformance.engine.fresh", tmp], env=env,
                                      capture_output=True, text=True, timeout=limit, cwd=os.getcwd())
            except subprocess.TimeoutExpired:
                raise CodecTimeout(f"codec {name!r}: the fresh process (implementation suite) did not finish within "
                                   f"{limit:g} s (--codec-timeout per call, plus 120 s)") from None
            if done.returncode != 0:
                tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
                raise CodecError(f"codec {name!r}: the fresh process that reruns it (implementation suite) failed "
                                 f"with exit status {done.returncode}:\n{tail}")
            with np.load(os.path.join(tmp, "out.npz")) as z:
                got = {float(b): [z[f"b{i}_{j}"] for j in range(len(signals))] for i, b in enumerate(bitrates)}
        with self._lock:
            self._fresh[key] = got
        return got

    def token_codec(self, name: str):
        """The codec if it exposes codes (``encode``/``decode``), else None."""
        c = self.codec(name)
        return c if callable(getattr(c, "encode", None)) and callable(getattr(c, "decode", None)) else None

    def codes(self, name: str, bitrate: float, x: np.ndarray, sr: int, memo: bool = True) -> np.ndarray:
        return self._loading(name, lambda: self._codes(name, bitrate, x, sr, memo))

    def _codes(self, name: str, bitrate: float, x: np.ndarray, sr: int, memo: bool = True) -> np.ndarray:
        """Codes [n_q, frames] of one signal at ``sr`` (resampled to the codec's rate, encoded
        alone: batching must not change them), memoised by content unless ``memo`` is False."""
        codec = self.codec(name)
        key = content_hash("codes", self.codec_identity(name) or ("run", name, id(codec)), float(bitrate), x, sr)
        if memo and key in self._memo:
            return self._memo[key]
        import time
        t0 = time.perf_counter()
        signal = resample(np.asarray(x, np.float32), sr, codec.sample_rate)[None]
        codes = np.asarray(self._timed(name, float(bitrate), "encode", partial(codec.encode, signal, bitrate),
                                       str(getattr(codec, "name", name))))
        self.timing["codec_s"] += time.perf_counter() - t0
        if codes.ndim != 3 or codes.shape[0] != 1 or not np.issubdtype(codes.dtype, np.integer):
            raise CodecError(f"codec {name!r}: encode must return integer codes [batch, n_q, frames], "
                             f"got {codes.dtype} {codes.shape}")
        if memo and len(self._memo) < 4096:
            self._memo[key] = codes[0]
        return codes[0]


# the settings a fresh process (fresh_process, engine/fresh.py) builds the codec from
FRESH_SETTINGS = ("rootdir", "checkpoint", "config", "weights", "trust_checkpoint", "device", "precision", "timeout",
                  "offline", "model_mirror")
_SHA_MEMO: dict[tuple, str] = {}


def sha256_path(path) -> str:
    """SHA-256 of a file, or of a directory's files (relative paths and contents, sorted);
    memoised per process by path, size and modification time."""
    import hashlib

    p = Path(path)
    if not p.exists():
        raise ConformanceError(f"{p}: not found (checkpoint/config files are hashed for the cache key)")
    if not p.is_dir():
        check_regular_file(p, ConformanceError, "a checkpoint/config file or folder")
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    stamp = (str(p.resolve()), tuple((str(q), q.stat().st_size, q.stat().st_mtime_ns) for q in files))
    if stamp not in _SHA_MEMO:
        if p.is_dir():
            h = hashlib.sha256()
            for q in files:
                h.update(str(q.relative_to(p)).encode() + b"\0" + sha256_file(q).encode() + b"\0")
            _SHA_MEMO[stamp] = h.hexdigest()
        else:
            _SHA_MEMO[stamp] = sha256_file(p)
    return _SHA_MEMO[stamp]


def call_with_time_limit(fn: Callable[[], Any], limit_s: float | None, codec_name: str, bitrate: float | None,
                         abandoned: list[threading.Thread] | None = None, call: str = "roundtrip") -> Any:
    """``fn()`` (one codec call: its build, a round trip, an encode), or a CodecTimeout naming the
    codec when it has not returned after ``limit_s`` seconds (--codec-timeout; 0 or None: no
    limit). The call runs in a daemon thread; a call past its limit is abandoned there (Python
    cannot stop it), added to ``abandoned`` (the process must not wait for it at exit:
    :func:`exit_despite_hung_calls`) and the test errors."""
    if not limit_s:
        return fn()
    box = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller, KeyboardInterrupt included
            box["error"] = exc

    t = threading.Thread(target=target, name=f"codec-{codec_name}-{call}", daemon=True)
    t.start()
    t.join(float(limit_s))
    if t.is_alive():
        if abandoned is not None:
            abandoned.append(t)
        raise timeout_error(codec_name, bitrate, call, float(limit_s), "the call was abandoned")
    if "error" in box:
        raise box["error"]
    return box["value"]


def exit_despite_hung_calls(abandoned: list[threading.Thread], exit_status) -> bool:
    """When codec calls abandoned past ``--codec-timeout`` are still running, make this process
    end when its main thread does, with ``exit_status()``, instead of waiting for them: a daemon
    thread alone does not hang the exit, but a thread the codec's call waits on does (a
    ``ThreadPoolExecutor``'s workers are joined at exit; a non-daemon thread of the codec is
    too). Registered with ``threading``'s exit hooks, which run before those joins; stdout and
    stderr are flushed first. True when registered."""
    if not any(t.is_alive() for t in abandoned):
        return False
    import os
    import sys

    def end() -> None:
        if any(t.is_alive() for t in abandoned):
            for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
                try:
                    if stream is not None:
                        stream.flush()
                except Exception:  # noqa: BLE001  (a closed stream: nothing to flush)
                    pass
            os._exit(int(exit_status()))

    register = getattr(threading, "_register_atexit", None)  # CPython: runs before joining threads
    if register is None:
        return False
    try:
        register(end)
    except RuntimeError:  # the interpreter is already shutting down
        return False
    return True

