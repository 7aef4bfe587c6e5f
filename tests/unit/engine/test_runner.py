
import numpy as np
import pytest

from codec_conformance.errors import CheckpointError, CodecError
from tests.helpers import make_session, tone

# ----------------------------------------------------------------------
# Verdict integrity: the cache never serves a wrong value (keys carry what changes the output,
# entries carry a checksum), a factory's options are never dropped, only real float output is
# measured, and non-finite numbers become nulls with a reason instead of crashing the session.

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


def test_a_plugin_factory_failing_on_its_checkpoint_is_a_load_error_remembered(tmp_path, usercodecs, monkeypatch):
    """Issue 26 item 4: a module:factory codec whose factory raises on the --codec-checkpoint it was
    given (here float() of a corrupt file) is a CheckpointError naming the file and the cause, as a
    registered codec's is; it is remembered (the factory is not called again); without a
    checkpoint the factory's own error propagates as it is (a bug in the adapter)."""
    ck = tmp_path / "corrupt.txt"
    ck.write_text("\x00garbage")
    s = make_session(tmp_path, "usercodecs:ckgain", checkpoint=str(ck))
    with pytest.raises(CheckpointError, match=rf"checkpoint {ck}: ValueError: could not convert"):
        s.runner.bitrates("usercodecs:ckgain")
    import usercodecs as mod
    monkeypatch.setattr(mod, "CkptGain", None)  # a second build would fail differently
    with pytest.raises(CheckpointError, match="ValueError"):
        s.runner.codec("usercodecs:ckgain")
    with pytest.raises(TypeError):
        make_session(tmp_path, "usercodecs:ckgain").runner.codec("usercodecs:ckgain")


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


@pytest.mark.parametrize("isolation", ["thread", "process"])
@pytest.mark.parametrize("factory,call", [("hang_build", "build"), ("hang_roundtrip", "roundtrip"),
                                          ("hang_encode", "encode")])
def test_every_codec_call_is_bounded_and_a_hang_costs_one_timeout(tmp_path, usercodecs, factory, call, isolation):
    """Issue 29 item 4: --codec-timeout bounded only round trips, so a codec hanging in encode()
    or in its factory hung the run, and a hung round trip under Hypothesis' draws cost one timeout
    and one abandoned thread per draw (320 s instead of ~3 s). Now building, round trips and
    encode are all bounded, and a call that hung at a codec and bitrate is not started again:
    in this process one abandoned thread, in a worker process none (the worker is ended)."""
    import time

    from tests.helpers import within
    spec = f"usercodecs:{factory}"
    s = make_session(tmp_path, spec, no_cache=True, timeout=1.0, isolation=isolation)

    def go():
        if call == "encode":
            return s.runner.codes(spec, 8.0, tone(), 16000)
        return s.runner.roundtrip_one(spec, 8.0, tone(), 16000)
    with within(15):
        t0 = time.perf_counter()
        with pytest.raises(CodecError, match="did not return within 1 s"):
            go()
        first = time.perf_counter() - t0
        t1 = time.perf_counter()
        with pytest.raises(CodecError, match="did not return within 1 s"):
            go()
        again = time.perf_counter() - t1
    assert first < (8 if factory == "hang_build" and isolation == "process" else 5) and again < 0.5
    assert len(s.runner.abandoned) == (1 if isolation == "thread" else 0)
    s.runner.close()
