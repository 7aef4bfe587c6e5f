"""Codec calls in a worker process (``--codec-isolation process``, the default).

A codec is built and called in a process of its own, started with ``spawn`` (a fresh
interpreter: forking a process that has loaded torch or CUDA is unsafe). The parent holds a
:class:`WorkerCodec`: the codec's declared facts and ``info()``, read once after the build, and
``roundtrip`` / ``encode`` / ``decode``, sent over a pipe (numpy arrays in, numpy arrays out).
The parent waits for each answer at most ``--codec-timeout``; past it the worker is ended
(SIGTERM, SIGKILL after :data:`GRACE_S`), which ends any hang — one that holds the GIL in a C
extension too, which no thread of the parent can end — and the call raises the same
:class:`CodecTimeout` as in-process calls do. The next call starts a fresh worker and builds the
codec again. The worker ignores SIGINT: Ctrl-C belongs to the parent, which ends the worker and
lets KeyboardInterrupt go on at once. A worker that dies (``os._exit``, a segfault) is one
:class:`CodecCrash` naming the codec and the exit code or signal.

The in-process alternative (``--codec-isolation thread``) shares :func:`finish_build`,
:func:`codec_input` and :func:`timeout_error` with this module, so a codec is built, fed and
timed out the same way wherever it runs.
"""
from __future__ import annotations

import faulthandler
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import traceback
import weakref
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from ..codecs.base import BaseCodec, check_declared, codec_info, host_array
from ..errors import CodecCrash, CodecError, CodecTimeout, ConformanceError
from ..metrics.threads import apply_torch_threads
from ..registry import make_codec

# what the parent reads of a codec without calling it: the protocol's facts and the optional
# ones the framework looks at (batching, token hop, provenance)
FACTS = ("name", "sample_rate", "bitrates_kbps", "token_hop", "supports_batch", "max_batch", "device",
         "weights", "weights_status", "checkpoint", "checkpoint_sha256", "version", "description")
CALLS = ("roundtrip", "encode", "decode")
GRACE_S = 1.0      # after SIGTERM, before SIGKILL
STARTUP_S = 120.0  # a fresh interpreter importing this package (not the codec: that is the build)
WHAT = {"roundtrip": "", "encode": " (encode)", "decode": " (decode)", "build": " (building it)"}


@dataclass(frozen=True)
class CodecSpec:
    """How to build a codec, anywhere: the ``--codec`` value (a registered name, ``family:member``
    or ``module:factory``), the options the user set, the factory's keyword arguments and the
    precision."""

    name: str
    given: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    precision: str = "fp32"


def build(spec: CodecSpec) -> Any:
    """The codec of ``spec`` (the factory, then :func:`finish_build`)."""
    return finish_build(spec, make_codec(spec.name, spec.given, **spec.options))


def finish_build(spec: CodecSpec, codec: Any) -> Any:
    """What follows the factory, in the process that runs the codec: its declared facts checked
    (NaN/Inf/non-positive rates: one error naming the field), torch's threads sized to the CPU
    budget, the precision set."""
    check_declared(spec.name, codec)
    apply_torch_threads()
    if spec.precision != "fp32":
        if not hasattr(codec, "set_precision"):
            raise ConformanceError(f"--codec-precision {spec.precision}: codec {spec.name!r} runs in its own "
                                   "precision only (neural codecs support fp16/bf16); drop the option")
        codec.set_precision(spec.precision)
    return codec


def codec_input(codec: Any, batch: np.ndarray) -> Any:
    """A float32 batch as the codec takes it: numpy for a :class:`BaseCodec` (and for a
    :class:`WorkerCodec`, whose worker decides), a torch tensor for any other codec when torch is
    installed."""
    if isinstance(codec, (BaseCodec, WorkerCodec)):
        return batch
    try:
        import torch  # optional: a codec without torch gets numpy
        return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
    except ImportError:
        return batch


def timeout_error(codec_name: str, bitrate: float | None, call: str, limit_s: float, fate: str) -> CodecTimeout:
    """The error of a codec call past --codec-timeout (``fate``: what became of the call)."""
    where = f" at {float(bitrate):g} kbps" if bitrate is not None else ""
    return CodecTimeout(f"codec {codec_name!r}{where}{WHAT.get(call, f' ({call})')} did not return within "
                        f"{float(limit_s):g} s (--codec-timeout); {fate} and this test errors. Raise "
                        "--codec-timeout for a slow codec, or fix the hang")


def signal_text(code: int | None) -> str:
    """A process's exit code as words: 'exit code 3', 'signal 11 (SIGSEGV)'."""
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class WorkerCodec:
    """The parent's handle of a codec that lives in a worker process. It has the codec's declared
    facts (:data:`FACTS`) and ``info()`` as attributes, read once after the build, and the calls
    the codec has (:data:`CALLS`), each sent to the worker and waited for at most ``limit_s``
    (0: no limit). Building it starts the worker and builds the codec there."""

    def __init__(self, spec: CodecSpec, limit_s: float | None):
        self.spec = spec
        self.limit_s = float(limit_s or 0)
        self.codec_class: tuple[str, str] = ("", "")  # the codec's module and qualified name
        self.pid: int | None = None                   # the live worker's process id
        self.starts = 0                               # workers started for this codec
        self._facts: dict[str, Any] = {}
        self._calls: tuple[str, ...] = ()
        self._info: dict[str, Any] = {}
        self._identity: Any = None
        self._proc: Any = None
        self._conn: Any = None
        self._finalizer: Any = None
        self._broken: BaseException | None = None     # a rebuild that failed: every later call fails so
        self._lock = threading.RLock()
        self._start()

    # ------------------------------------------------------------ what the parent reads
    def __getattr__(self, attr: str) -> Any:
        d = self.__dict__
        if attr in d.get("_facts", {}):
            return d["_facts"][attr]
        if attr in d.get("_calls", ()):
            return lambda *args: self._call(attr, args)
        raise AttributeError(f"{type(self).__name__} of codec {d.get('spec', CodecSpec('?')).name!r} has no "
                             f"{attr!r}: only the declared facts ({', '.join(FACTS)}), info() and "
                             f"{', '.join(CALLS)} reach the worker process")

    def info(self) -> dict[str, Any]:
        return dict(self._info)

    def raw_roundtrip(self, batch: np.ndarray, bitrate: float) -> Any:
        """:func:`raw_roundtrip` of the codec, in the worker."""
        return self._call("raw_roundtrip", (batch, bitrate))

    def cache_identity(self) -> Any:
        """The codec's own cache_identity() (None when it declares none)."""
        return self._identity

    # ------------------------------------------------------------ the worker
    def _start(self) -> None:
        """Start a worker and build the codec in it (bounded by the limit: a build past it is a
        CodecTimeout, and the worker is ended; a build that fails ends the worker too)."""
        mine, theirs = socket.socketpair()
        # a fresh interpreter with this one's import path (what multiprocessing's spawn does,
        # without running this process's __main__ again, which a script without the
        # ``if __name__ == "__main__"`` guard cannot stand); the kernel ends the worker with the
        # thread that starts it: only the main thread's (the process's life) is asked for
        # the standard library first, whatever order the parent's path has: pytest may have put
        # site-packages at its front (--pyargs), where a PyPI backport (``typing`` 3.x) shadows it;
        # only the standard library: a venv's site-packages lies under its platstdlib, and moved
        # first it would shadow the parent's PYTHONPATH (a ``tests`` package a dependency installs)
        boot = ("import sys, json, sysconfig; g = sysconfig.get_path; std = (g('stdlib'), g('platstdlib')); "
                "site = (g('purelib'), g('platlib')); "
                "own = [p for p in sys.path if p and (p.endswith('.zip') "
                "or (p.startswith(std) and not p.startswith(site)))]; "
                "sys.path[:] = own + [p for p in json.loads(sys.argv[1]) if p not in own]; "
                "from codec_conformance.engine.worker import main; main()")
        main_thread = threading.current_thread() is threading.main_thread()
        cmd = [sys.executable, "-c", boot, json.dumps(sys.path), str(theirs.fileno()), "1" if main_thread else "0"]
        blocked = _block_sigint()  # the child starts with SIGINT blocked: Ctrl-C is the parent's
        try:
            proc = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
            _unblock_sigint(blocked)
        conn = Connection(mine.detach())
        self._proc, self._conn, self.pid = proc, conn, proc.pid
        self.starts += 1
        self._finalizer = weakref.finalize(self, _end, proc, conn)  # at exit too: a hung worker is ended
        try:
            self._reply(STARTUP_S, "start", None)  # the worker says it is ready
            reply = self._request(("build", self.spec), "build", None)
        except BaseException:
            self.stop()
            raise
        self._facts, self._calls = reply["facts"], tuple(reply["calls"])
        self._info, self.codec_class = reply["info"], tuple(reply["class"])
        self._identity = reply["identity"]

    def _request(self, message: tuple, call: str, bitrate: float | None) -> Any:
        try:
            self._conn.send(message)
        except (BrokenPipeError, ConnectionError, EOFError):
            raise self._died(call, bitrate) from None
        except BaseException:
            self.stop()
            raise
        return self._reply(self.limit_s, call, bitrate)

    def _reply(self, limit_s: float, call: str, bitrate: float | None) -> Any:
        """The worker's answer, waited for at most ``limit_s`` (0: as long as it takes). Past the
        limit the worker is ended; Ctrl-C (or any other interruption) ends it too and goes on."""
        try:
            ready = self._conn.poll(limit_s if limit_s else None)
            if not ready:
                self.stop()
                if call == "start":
                    raise CodecError(f"the worker process of codec {self.spec.name!r} did not start within "
                                     f"{limit_s:g} s; try --codec-isolation thread")
                raise timeout_error(self._shown(call), bitrate, call, limit_s, "its worker process was ended")
            kind, value, remote = self._conn.recv()
        except (EOFError, ConnectionError, OSError):
            raise self._died(call, bitrate) from None
        except BaseException:  # KeyboardInterrupt: the parent's; the worker goes, the interruption goes on
            self.stop()
            raise
        if kind == "error":
            if remote:
                value.__cause__ = RemoteTraceback(remote)
            raise value
        return value

    def _shown(self, call: str) -> str:
        """The codec's name in an error: the --codec value while it is built, then its own."""
        return self.spec.name if call in ("build", "start") else str(self._facts.get("name", self.spec.name))

    def _died(self, call: str, bitrate: float | None) -> CodecCrash:
        proc = self._proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(5.0)
            except Exception:  # noqa: BLE001  (subprocess.TimeoutExpired: a closed pipe, still running)
                code = None
        self.stop()
        where = f" at {float(bitrate):g} kbps" if bitrate is not None else ""
        return CodecCrash(f"codec {self._shown(call)!r}{where}{WHAT.get(call, f' ({call})')}: its worker process "
                          f"died ({signal_text(code)}) and this test errors: the codec ended the process (a segfault, "
                          "os._exit, out of memory); where a segfault happened is on stderr (faulthandler)")

    def _call(self, method: str, args: tuple) -> Any:
        bitrate = float(args[1]) if len(args) > 1 and isinstance(args[1], (int, float)) else None
        with self._lock:
            if self._broken is not None:
                raise self._broken
            if self._proc is None:  # the last worker was ended (a timeout, a crash): a fresh one
                try:
                    self._start()
                except BaseException as exc:
                    if isinstance(exc, ConformanceError):
                        self._broken = exc
                    raise
            return self._request(("call", method, args), method, bitrate)

    def stop(self) -> None:
        """End the worker (it is asked to leave, then SIGTERM, then SIGKILL); the next call starts
        a fresh one."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()  # runs _end once and unregisters it
            self._finalizer = self._proc = self._conn = self.pid = None

    close = stop


def _end(proc: Any, conn: Any) -> None:
    """End a worker: close its pipe (an idle worker leaves), then SIGTERM, then SIGKILL."""
    try:
        conn.close()
    except OSError:
        pass
    for ending in (None, proc.terminate, proc.kill):
        if ending is not None:
            ending()
        try:
            proc.wait(0.2 if ending is None else GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


def _block_sigint() -> bool:
    """Block SIGINT in this thread while a worker is started (the child inherits the mask, so it
    never sees Ctrl-C; a Ctrl-C meanwhile waits for the parent)."""
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        return True
    except (AttributeError, OSError, ValueError):
        return False


def _unblock_sigint(blocked: bool) -> None:
    if blocked:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class RemoteTraceback(Exception):
    """The worker's traceback of a codec's error (shown as the error's cause)."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0]) if self.args else ""


# ---------------------------------------------------------------- the worker process
def main() -> None:
    """The worker process's entry (argv: the import path, the pipe's descriptor, whether to die
    with the parent)."""
    serve(Connection(int(sys.argv[2])), sys.argv[3] == "1")


def serve(conn: Any, die_with_parent: bool = True) -> None:
    """The worker: build the codec, then answer calls until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # ignored from now on, not pending
    faulthandler.enable()  # a segfault in the codec prints where, on the worker's stderr
    if die_with_parent:
        _die_with_parent()
    conn.send(("ok", os.getpid(), None))
    codec = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if message[0] == "build":
                spec = message[1]
                codec = build(spec)
                value: Any = facts_of(codec)
            else:
                value = answer(codec, message[1], message[2])
            reply: tuple[str, Any, str | None] = ("ok", value, None)
        except BaseException as exc:  # the codec's error (a KeyboardInterrupt too), raised again in the parent
            reply = ("error", portable(exc), traceback.format_exc())
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001  (an answer that cannot be pickled)
            conn.send(("error", CodecError(f"codec {getattr(codec, 'name', '?')!r}: {message[1]}() returned "
                                           f"{type(reply[1]).__name__}, which cannot be sent from its worker "
                                           f"process ({type(exc).__name__}: {exc}); return a numpy array"), None))


def raw_roundtrip(codec: Any, batch: np.ndarray, bitrate: float) -> Any:
    """The codec's round trip as it is, its output not held to the input's shape (the
    implementation suite measures the length it returns): a BaseCodec's ``roundtrip_batch``
    (its ``roundtrip`` refuses a wrong length), any other codec's ``roundtrip``."""
    if isinstance(codec, BaseCodec) and type(codec).roundtrip is BaseCodec.roundtrip:
        return codec.roundtrip_batch(batch, codec.check_bitrate(bitrate))
    return codec.roundtrip(codec_input(codec, batch), bitrate)


def answer(codec: Any, method: str, args: tuple) -> Any:
    """One call of the codec, its result as plain numpy where it was a torch tensor."""
    if method == "raw_roundtrip":
        out = raw_roundtrip(codec, *args)
        try:
            return host_array(out)
        except Exception:  # noqa: BLE001  (the caller names what it is)
            return out
    if method not in CALLS or not callable(getattr(codec, method, None)):
        raise CodecError(f"codec {getattr(codec, 'name', '?')!r} has no {method}()")
    if method == "roundtrip":
        batch, bitrate = args
        out = codec.roundtrip(codec_input(codec, batch), bitrate)
    else:
        out = getattr(codec, method)(*args)
    try:
        if method == "encode" and hasattr(out, "detach"):  # codes: their own dtype
            return out.detach().cpu().numpy()
        return host_array(out)  # samples: as check_output reads them
    except Exception:  # noqa: BLE001  (check_output, in the parent, names what it is)
        return out


def facts_of(codec: Any) -> dict[str, Any]:
    """What the parent keeps of a codec built here."""
    facts = {}
    for k in FACTS:
        try:
            v = getattr(codec, k)
        except Exception:  # noqa: BLE001  (a property that fails: not declared)
            continue
        if callable(v):
            continue
        try:
            pickle.dumps(v)
        except Exception:  # noqa: BLE001  (a torch.device and the like travel as text)
            v = str(v)
        facts[k] = v
    has = hasattr(codec, "cache_identity")
    return {"facts": facts, "calls": [m for m in CALLS if callable(getattr(codec, m, None))],
            "info": codec_info(codec), "class": (type(codec).__module__, type(codec).__qualname__),
            "identity": codec.cache_identity() if has else None}


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError saying what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__qualname__}: {exc}")


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the parent dies (even a SIGKILLed one), so a hung
    worker never outlives its run."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl
        os._exit(1)

