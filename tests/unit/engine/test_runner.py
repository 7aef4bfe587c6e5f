import textwrap

import numpy as np
import pytest

from codec_conformance.errors import CodecError

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


def make_session(tmp_path, codec, **values):
    from codec_conformance.engine.session import ConformanceSession
    from codec_conformance.settings import Settings
    v = {"cache_dir": str(tmp_path / "cache"), **values}  # device: auto (not an option the user set)
    return ConformanceSession(Settings(codecs=[codec], rootdir=str(tmp_path), **v))


def tone(n=1600):
    return (0.3 * np.sin(np.arange(n) * 0.05)).astype(np.float32)


# ------------------------------------------------------------------ 7: factory options
def test_option_the_factory_cannot_take_is_a_usage_error(tmp_path, usercodecs):
    ck = tmp_path / "w.txt"
    ck.write_text("0.5")
    s = make_session(tmp_path, "usercodecs:only_checkpoint_param", checkpoint=str(ck))
    with pytest.raises(CodecError, match=r"usercodecs:only_checkpoint_param.*takes no parameter 'checkpoint'.*"
                                         r"--codec-checkpoint"):
        s.runner.codec("usercodecs:only_checkpoint_param")
    # the factory of the issue, def make_codec(checkpoint=None): gets its checkpoint
    s = make_session(tmp_path, "usercodecs:make_codec", checkpoint=str(ck))
    assert s.runner.codec("usercodecs:make_codec").g == 0.5
    # options the user did not set are simply not passed to a factory without them
    s = make_session(tmp_path, "usercodecs:only_checkpoint_param")
    assert s.runner.codec("usercodecs:only_checkpoint_param").g == 1.0
    with pytest.raises(CodecError, match="'device'.*--codec-device"):
        make_session(tmp_path, "usercodecs:make_codec", checkpoint=str(ck), device="cpu").runner.codec("usercodecs:make_codec")


def test_reference_codec_refuses_a_checkpoint(tmp_path):
    ck = tmp_path / "w.pt"
    ck.write_bytes(b"x")
    with pytest.raises(CodecError, match="codec 'opus'.*OpusCodec takes no parameter 'checkpoint'"):
        make_session(tmp_path, "opus", checkpoint=str(ck)).runner.codec("opus")
    assert make_session(tmp_path, "opus", device="cpu").runner.codec("opus").name == "opus"


# ------------------------------------------------------------------ 8: output types
@pytest.mark.parametrize("spec,what", [("usercodecs:pcm16", "int16"), ("usercodecs:raw_int16", "int16"),
                                       ("usercodecs:raw_complex", "complex64"),
                                       ("usercodecs:raw_torch_int16", "int16")])
def test_non_float_output_is_refused_naming_what_it_got(tmp_path, usercodecs, spec, what):
    """Issue: int16 PCM output scored PESQ 4.64 / SI-SDR 76 dB; complex output lost its imaginary part."""
    if "torch" in spec:
        pytest.importorskip("torch")
    s = make_session(tmp_path, spec, no_cache=True)
    with _no_warning():
        with pytest.raises(CodecError, match=rf"returned {what} samples.*real floating-point"):
            s.runner.roundtrip_one(spec, 8.0, tone(), 16000)


def test_real_float_output_of_any_precision_is_accepted(tmp_path, usercodecs):
    s = make_session(tmp_path, "usercodecs:raw_float64", no_cache=True)
    y = s.runner.roundtrip_one("usercodecs:raw_float64", 8.0, tone(), 16000)
    assert y.dtype == np.float32 and np.allclose(y, tone())


class _no_warning:
    def __enter__(self):
        import warnings
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error")  # np.ComplexWarning would mean the output was cast, not refused

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def test_framework_identity_names_the_gpu_model(tmp_path, usercodecs, monkeypatch):
    torch = pytest.importorskip("torch")
    ck = tmp_path / "w.txt"
    ck.write_text("0.5")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: f"FakeGPU({d})")
    s = make_session(tmp_path, "usercodecs:ckgain", checkpoint=str(ck))
    cpu = s.runner.framework_identity("usercodecs:ckgain")
    s.runner.device = "cuda:1"
    assert s.runner.framework_identity("usercodecs:ckgain")["device"] == "cuda/FakeGPU(cuda:1)" != cpu["device"]


# ------------------------------------------------------------------ issue 29 item 6: declared facts
@pytest.mark.parametrize("factory,field", [
    ("nan_bitrate", r"bitrates_kbps\[1\] = nan"), ("inf_bitrate", r"bitrates_kbps\[0\] = inf"),
    ("zero_bitrate", r"bitrates_kbps\[0\] = 0\.0"), ("nan_rate", "sample_rate nan"),
    ("inf_rate", "sample_rate inf"), ("negative_rate", "sample_rate -16000"),
    ("fractional_rate", "sample_rate 16000.5"), ("text_rate", "sample_rate '16000'")])
def test_codec_declaring_a_non_finite_or_non_positive_rate_is_one_codec_error(tmp_path, usercodecs, factory, field):
    """A codec declaring a NaN/Inf/zero bitrate or a NaN/Inf/negative sample rate is refused when it
    is built, with one CodecError naming the codec and the field. The old code built it without a
    word and the session crashed later (int(nan) in resampling, a 'nan kbps' operating point that
    no bitrate matches)."""
    spec = f"usercodecs:{factory}"
    s = make_session(tmp_path, spec, no_cache=True)
    with pytest.raises(CodecError, match=rf"codec '{spec}' declares {field}"):
        s.runner.codec(spec)
    with pytest.raises(CodecError, match=rf"codec '{spec}' declares"):  # every entry point goes through it
        s.runner.bitrates(spec)


def test_a_fifo_as_checkpoint_is_refused_before_hashing(tmp_path):
    """Issue 29 item 6: --codec-checkpoint naming a FIFO is one error naming it; the old code
    opened it to hash it for the cache key and blocked forever."""
    import os

    from codec_conformance.engine.runner import sha256_path
    from codec_conformance.errors import ConformanceError
    from tests.helpers import within
    p = tmp_path / "w.pt"
    os.mkfifo(p)
    with within(10):
        with pytest.raises(ConformanceError, match=rf"{p}: is a FIFO \(named pipe\).*checkpoint"):
            sha256_path(p)
