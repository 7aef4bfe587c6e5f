"""Helpers shared by the test files (fixtures live in the conftest files): the repository's paths,
the shared test data, and reading a run's results."""
import json
import textwrap
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
''')


def make_session(tmp_path, codec, **values):
    from codec_conformance.engine.session import ConformanceSession
    from codec_conformance.settings import Settings
    v = {"cache_dir": str(tmp_path / "cache"), **values}  # device: auto (not an option the user set)
    return ConformanceSession(Settings(codecs=[codec], rootdir=str(tmp_path), **v))


def tone(n=1600):
    return (0.3 * np.sin(np.arange(n) * 0.05)).astype(np.float32)
