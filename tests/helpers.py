"""Helpers shared by the test files (fixtures live in the conftest files): the repository's paths,
the shared test data, reading a run's results, a speech-like signal, the codec modules of the
subprocess runs, and a plugin package installed by entry points alone. Area helpers:
tests/report_helpers.py, tests/results_helpers.py, tests/fetch_helpers.py, tests/asr_helpers.py."""
import json
import os
import signal
import textwrap
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent  # the repository
SHARED = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} not present (shared test data)")


def latest_results(pytester) -> dict:
    """results.json of the newest run under the pytester folder."""
    return json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())


# --------------------------------------------------------------------- expected counts
# What a run collects follows from the catalogue's declarations (condition kinds and their grids,
# metrics, suites) and the profile: expected counts are computed from them, so that a new metric,
# condition kind or grid point does not break a test that is not about it.
def grid(suite: str, profile: str = "smoke", reference: bool = True) -> list:
    """The conditions a suite (``noise``, ``tokens``) runs under ``profile``, as the session builds
    them (without the reference kind, clean, when ``reference`` is False)."""
    from codec_conformance.catalogue import condition_kinds
    from codec_conformance.settings import PROFILES
    return [c for k in condition_kinds().values() if suite in k.suites and (reference or not k.reference)
            for c in k.conditions(PROFILES[profile])]


def default_metrics() -> list[str]:
    """The metrics a run scores without --codec-metrics (no option-dependent ones)."""
    from codec_conformance.catalogue import metrics
    return [n for n, i in metrics().items() if i.default and i.requires is None]


def sweep_levels(profile: str = "smoke", having: str | None = None, lacking: str | None = None) -> list[str]:
    """The frequency-response sweep levels' ids (``-20dBFS``) of ``profile``; ``having``/``lacking``:
    only those whose id holds (or does not hold) that text, as ``-k`` selects them."""
    from codec_conformance.settings import PROFILES
    ids = [f"{x:g}dBFS" for x in PROFILES[profile].sweep_levels_dbfs]
    return [i for i in ids if (having is None or having in i) and (lacking is None or lacking not in i)]


def token_tests(profile: str = "smoke") -> int:
    """Tests of the token suite per codec and bitrate: its noise grid, the gain, the shifts, the
    determinism check."""
    from codec_conformance.suites.test_token_robustness import SHIFTS
    return len(grid("tokens", profile, reference=False)) + 1 + len(SHIFTS) + 1


def implementation_tests() -> int:
    """Tests of the implementation suite per codec and bitrate: the batch modes, the input
    lengths, the chunk lengths, the repeat and the fresh process."""
    from codec_conformance.suites.test_implementation import BATCH_MODES, CHUNKS_S, LENGTHS
    return len(BATCH_MODES) + len(LENGTHS) + len(CHUNKS_S) + 2


# a user codec package (module ``usercodecs``; the ``usercodecs`` fixture in conftest.py installs it)
USER_CODECS = textwrap.dedent('''
    import numpy as np
    from codec_conformance.codecs.base import BaseCodec

    class CkptGain(BaseCodec):
        """A gain read from its checkpoint; its cache_identity() forgets the checkpoint."""
        name, sample_rate, bitrates_kbps = "ckgain", 16000, (8.0,)
        def __init__(self, checkpoint=None, config=None, **kw):
            from pathlib import Path
            p = Path(checkpoint)
            self.g = float((p / "gain.txt" if p.is_dir() else p).read_text())
            self.calls = 0
        def cache_identity(self):
            return ("ckgain", "1")
        def roundtrip_one(self, x, br):
            self.calls += 1
            return (self.g * x).astype(np.float32)

    def ckgain(checkpoint=None, config=None, **kw):
        return CkptGain(checkpoint, config)

    ckgain_alias = ckgain

    def only_checkpoint_param():      # the factory of the issue: no checkpoint parameter
        return CkptGain(__file__.replace(".py", "_gain.txt"))

    def make_codec(checkpoint=None):  # accepts the checkpoint, nothing else
        return CkptGain(checkpoint)

    def buggy(**kw):                  # a TypeError inside the adapter must not be retried away
        if kw:
            return 1 + "x"
        return CkptGain(__file__.replace(".py", "_gain.txt"))

    class Raw:                        # the protocol without BaseCodec
        name, sample_rate, bitrates_kbps = "raw", 16000, (8.0,)
        def __init__(self, kind):
            self.kind = kind
        def cache_identity(self):
            return ("raw", self.kind)
        def roundtrip(self, audio, br):
            x = audio.numpy() if hasattr(audio, "numpy") else np.asarray(audio)
            if self.kind == "int16":
                return (np.clip(x, -1, 1) * 32767).astype(np.int16)
            if self.kind == "complex":
                return x.astype(np.complex64)
            if self.kind == "torch_int16":
                import torch
                return torch.from_numpy((np.clip(x, -1, 1) * 32767).astype(np.int16))
            if self.kind == "float64":
                return x.astype(np.float64)
            return x

    def raw_int16(**kw): return Raw("int16")
    def raw_complex(**kw): return Raw("complex")
    def raw_torch_int16(**kw): return Raw("torch_int16")
    def raw_float64(**kw): return Raw("float64")

    class Pcm(BaseCodec):
        name, sample_rate, bitrates_kbps = "pcm16", 16000, (8.0,)
        def roundtrip_one(self, x, br):
            return (np.clip(x, -1, 1) * 32767).astype(np.int16)
    def pcm16(**kw): return Pcm()

    class Silent(BaseCodec):
        name, sample_rate, bitrates_kbps = "silent", 16000, (8.0,)
        def cache_identity(self):
            return ("silent", "1")
        def roundtrip_one(self, x, br):
            return np.zeros_like(x)
    def silent(**kw): return Silent()

    class Cached(BaseCodec):
        name, sample_rate, bitrates_kbps = "cachedgain", 16000, (8.0,)
        def cache_identity(self):
            return ("cachedgain", "1")
        def roundtrip_one(self, x, br):
            return (0.9 * x).astype(np.float32)
    def cached(**kw): return Cached()

    class Plain(BaseCodec):
        name, sample_rate, bitrates_kbps = "plain", 16000, (8.0,)
        def __init__(self):
            self.calls = 0
        def roundtrip_one(self, x, br):
            self.calls += 1
            return x
    def plain(**kw): return Plain()

    class Declared(BaseCodec):
        """Declares whatever it is given (issue 29 item 6: NaN/Inf/non-positive facts)."""
        def __init__(self, sr, rates):
            self.name, self.sample_rate, self.bitrates_kbps = "declared", sr, rates
        def roundtrip_one(self, x, br):
            return x
    def nan_bitrate(**kw): return Declared(16000, (6.0, float("nan")))
    def inf_bitrate(**kw): return Declared(16000, (float("inf"),))
    def zero_bitrate(**kw): return Declared(16000, (0.0, 6.0))
    def nan_rate(**kw): return Declared(float("nan"), (6.0,))
    def inf_rate(**kw): return Declared(float("inf"), (6.0,))
    def negative_rate(**kw): return Declared(-16000, (6.0,))
    def fractional_rate(**kw): return Declared(16000.5, (6.0,))
    def text_rate(**kw): return Declared("16000", (6.0,))

    import time as _time

    class Sleepy(BaseCodec):
        """Hangs (20 s) in the call it is told: its round trip, or its encode (issue 29 item 4)."""
        name, sample_rate, bitrates_kbps = "sleepy", 16000, (8.0,)
        def __init__(self, where):
            self.where = where
        def roundtrip_one(self, x, br):
            if self.where == "roundtrip":
                _time.sleep(20)
            return x
        def encode(self, x, br):
            if self.where == "encode":
                _time.sleep(20)
            return np.zeros((1, 1, 4), np.int64)
    def hang_build(**kw):
        _time.sleep(20)
        return Sleepy("")
    def hang_roundtrip(**kw): return Sleepy("roundtrip")
    def hang_encode(**kw): return Sleepy("encode")

    import os as _os
    import re as _re

    def _hold_the_gil():
        """Catastrophic backtracking inside the re module's C code: it never releases the GIL
        (a `while True: pass` would, every 5 ms) and would take centuries (issue 29 item 4)."""
        _re.match(r"(a+)+$", "a" * 64 + "!")

    class Greedy(BaseCodec):
        """Holds the GIL forever in the call it is told; crashes its process in another."""
        name, sample_rate, bitrates_kbps = "greedy", 16000, (8.0, 16.0)
        def __init__(self, where):
            self.where = where
        def roundtrip_one(self, x, br):
            if self.where == "roundtrip":
                _hold_the_gil()
            if self.where == "exit" or (self.where == "exit16" and br == 16.0):
                _os._exit(3)
            if self.where == "segfault":
                import ctypes
                ctypes.string_at(0)
            return x
        def encode(self, x, br):
            if self.where == "encode":
                _hold_the_gil()
            return np.zeros((1, 1, 4), np.int64)
        def decode(self, codes, br):
            return np.zeros((1, 16), np.float32)
    class Batched(BaseCodec):
        """Batches of up to 3; its output depends on the batch's size (so equal outputs mean
        equal batching)."""
        name, sample_rate, bitrates_kbps = "batched", 16000, (8.0,)
        supports_batch, max_batch = True, 3
        def cache_identity(self):
            return ("batched", "1")
        def roundtrip_batch(self, batch, br):
            return (batch / batch.shape[0]).astype(np.float32)
    def batched(**kw): return Batched()

    def gil_build(**kw):
        _hold_the_gil()
        return Greedy("")
    def gil_roundtrip(**kw): return Greedy("roundtrip")
    def gil_encode(**kw): return Greedy("encode")
    def exit_roundtrip(**kw): return Greedy("exit")
    def exit_at_16(**kw): return Greedy("exit16")
    def segfault_roundtrip(**kw): return Greedy("segfault")
''')


def make_session(tmp_path, codec, **values):
    """A session on ``codec``. Its codecs run in this process (isolation thread) unless the test
    says otherwise: unit tests look into codec objects, and a worker process per session would
    cost each test a fresh interpreter; tests/unit/engine/test_codec_worker.py and the
    integration tests (the plugin's default) run them in worker processes."""
    from codec_conformance.engine.session import ConformanceSession
    from codec_conformance.settings import Settings
    v = {"cache_dir": str(tmp_path / "cache"), "isolation": "thread", **values}  # device: auto (not an option the user set)
    return ConformanceSession(Settings(codecs=[codec], rootdir=str(tmp_path), **v))


def tone(n=1600):
    return (0.3 * np.sin(np.arange(n) * 0.05)).astype(np.float32)


SR = 16000  # the sample rate of speechlike()


def speechlike(f0: float, seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """Harmonics of ``f0`` under a 4-Hz syllable envelope, -6 dBFS peak: enough 'speech' for
    levels, SNRs, Mel distance and a linear codec."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    x = x * env + 1e-3 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


# codecs for the subprocess runs of tests/integration/ (its conftest.py writes them as mycodecs.py / toys.py)
GAIN_CODECS = textwrap.dedent('''
    import numpy as np
    from codec_conformance.codecs.base import BaseCodec

    class Gain(BaseCodec):
        sample_rate, bitrates_kbps = 16000, (8.0, 16.0)
        def __init__(self, name="gain", g=0.9, fail_at=None, interrupt_after=None, **kw):
            self.name, self.g, self.fail_at, self.interrupt_after, self.calls = name, g, fail_at, interrupt_after, 0
        def roundtrip_one(self, x, br):
            self.calls += 1
            if self.interrupt_after is not None and self.calls > self.interrupt_after:
                raise KeyboardInterrupt
            if self.fail_at is not None and br == self.fail_at:
                raise RuntimeError("decoder exploded")
            return (self.g * x).astype(np.float32)

    def gain(**kw): return Gain()
    def quieter(**kw): return Gain(g=0.5)
    def broken16(**kw): return Gain(name="broken", fail_at=16.0)
    def evil(**kw): return Gain(name="<script>alert(1)</script>")
    def interrupting(**kw): return Gain(name="intr", interrupt_after=5)

    class Nan(Gain):
        def roundtrip_one(self, x, br):
            return x * np.nan
    def nan(**kw): return Nan(name="nanny")

    class Short(Gain):
        def roundtrip_one(self, x, br):
            return x[: len(x) // 2]
    def short(**kw): return Short(name="shorty")

    class Dies(Gain):
        def roundtrip_one(self, x, br):
            import os
            if br == 16.0:
                os._exit(3)  # a worker killed mid-test (segfault, OOM killer)
            return x
    def dies(**kw): return Dies(name="dies")
''')


TOYS = textwrap.dedent('''
    import numpy as np
    from codec_conformance.codecs.base import BaseCodec

    class Quant(BaseCodec):
        """A uniform quantiser: a toy codec with a known, bit-depth dependent error."""
        sample_rate, bitrates_kbps = 16000, (64.0,)
        def __init__(self, bits=4, name="quant"):
            self.bits, self.name = bits, name
        def roundtrip_one(self, x, br):
            q = 2.0 ** (self.bits - 1)
            return (np.round(np.clip(x, -1, 1) * q) / q).astype(np.float32)

    def quant4(**kw): return Quant(4)
    def quant8(**kw): return Quant(8)
    def renamed(**kw): return Quant(8, name="hidden-name")
''')


_FLAKY = textwrap.dedent('''
    import os, time
    from pathlib import Path
    import numpy as np
    from codec_conformance.codecs.base import BaseCodec

    class Flaky(BaseCodec):
        """Behaviour from ./mode.txt: ok | slow | interrupt:N | die | hang16 | gilhang16 | gilhang:N
        (gilhang: holding the GIL forever, at 16 kbps or after N calls). Every process that
        builds it adds its id to ./pids.txt."""
        sample_rate, bitrates_kbps = 16000, (8.0, 16.0)
        def __init__(self):
            self.name, self.calls = "flaky", 0
            with open("pids.txt", "a") as f:
                f.write(f"{os.getpid()}\\n")
        def roundtrip_one(self, x, br):
            mode = Path("mode.txt").read_text().strip() if Path("mode.txt").exists() else "ok"
            self.calls += 1
            if mode.startswith("interrupt:") and self.calls > int(mode.split(":")[1]):
                raise KeyboardInterrupt
            if ((mode == "gilhang16" and br == 16.0)
                    or (mode.startswith("gilhang:") and self.calls > int(mode.split(":")[1]))):
                Path("hanging.txt").write_text(str(os.getpid()))
                import re
                re.match(r"(a+)+$", "a" * 64 + "!")  # catastrophic backtracking: holds the GIL in C
            __DIE__
            if mode == "slow":
                time.sleep(4.0)
            if mode == "hang16" and br == 16.0:
                time.sleep(3600)
            if mode == "poolhang16" and br == 16.0:  # waits on a worker thread of its own pool
                from concurrent.futures import ThreadPoolExecutor
                return ThreadPoolExecutor(1).submit(time.sleep, 3600).result()
            return (0.9 * x).astype(np.float32)

    def flaky(**kw): return Flaky()
''')


def flaky_codecs(die16: bool = False) -> str:
    """A codec (``mycodecs:flaky``) that reads what to do from ./mode.txt (see ``mode``): ok, slow,
    interrupt:N, die, hang16; with ``die16``, also die16 (a worker dies at 16 kbps)."""
    die = ('if mode == "die" or (mode == "die16" and br == 16.0):\n'
           '            os._exit(3)  # killed a few seconds into a resume (die16: a worker dies at 16 kbps)'
           if die16 else
           'if mode == "die":\n'
           '            os._exit(3)  # killed a few seconds into a resume')
    return _FLAKY.replace("__DIE__", die)


def mode(pytester, m):
    """What the flaky codec does from now on."""
    (pytester.path / "mode.txt").write_text(m)


def child_env():
    """The environment of a child process that imports tests.helpers (the repository on PYTHONPATH)."""
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def install_plugin(site, monkeypatch, name: str, source: str, entry_points: str):
    """A package ``name`` (``source``: its __init__.py) outside the repository, installed only as a
    .dist-info with ``entry_points`` (entry_points.txt) under ``site``, which goes on the subprocess'
    sys.path (PYTHONPATH); returns ``site``."""
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(source)
    dist = site / f"{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(entry_points)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return site


@contextmanager
def within(seconds: float):
    """Fail with TimeoutError when the block takes longer than ``seconds`` (SIGALRM: a blocking
    open() of a FIFO is interrupted; main thread, POSIX only)."""
    def ring(signum, frame):
        raise TimeoutError(f"did not finish within {seconds:g} s")
    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def sigint_default() -> None:
    """``preexec_fn`` for a child that must take Ctrl-C: a job started in the background (``cmd &``
    in a non-interactive shell, as CI runners may) inherits SIGINT ignored, and Python then
    installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def sigint_raises():
    """SIGINT raises KeyboardInterrupt in this process for the block, whatever was inherited
    (ignored, in a background job); the previous handler afterwards."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
