import textwrap

import pytest

from codec_conformance.errors import CodecError
from codec_conformance.registry import codec_names, make_codec

# ----------------------------------------------------------------------


def test_registry_lists_reference_codecs():
    names = codec_names()
    for n in ("identity", "opus", "amrnb", "g722", "mulaw", "mp3", "encodec"):
        assert n in names


def test_unknown_codec_lists_what_exists():
    with pytest.raises(CodecError, match="unknown codec 'nope'.*registered: .*opus"):
        make_codec("nope")


def test_module_factory_spec():
    c = make_codec("codec_conformance.codecs.identity:IdentityCodec")
    assert c.name == "identity"
    with pytest.raises(CodecError, match="has no attribute"):
        make_codec("codec_conformance.codecs.identity:Missing")


# ----------------------------------------------------------------------
# Verdict integrity: the cache never serves a wrong value (keys carry what changes the output,
# entries carry a checksum), a factory's options are never dropped, only real float output is
# measured, and non-finite numbers become nulls with a reason instead of crashing the session.

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


@pytest.fixture
def usercodecs(tmp_path, monkeypatch):
    """A user codec package in a temporary directory (importable as ``usercodecs``)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "usercodecs.py").write_text(USER_CODECS)
    (pkg / "usercodecs_gain.txt").write_text("1.0")
    monkeypatch.syspath_prepend(str(pkg))
    import os
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(pkg), os.environ.get("PYTHONPATH")])))
    import sys
    sys.modules.pop("usercodecs", None)
    yield pkg
    sys.modules.pop("usercodecs", None)


def test_type_error_inside_an_adapter_is_not_retried_away(usercodecs):
    from codec_conformance.registry import make_codec
    with pytest.raises(TypeError, match="unsupported operand"):
        make_codec("usercodecs:buggy", device="cpu")
