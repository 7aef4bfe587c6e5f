"""Neural codec adapters on CPU with untrained weights (no pretrained weights can be had here):
build, round trip, bitrate selection, checkpoint round trip, refusal of bad checkpoints."""
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from codec_conformance.errors import CheckpointError  # noqa: E402


def _encodec(**kw):
    pytest.importorskip("encodec")
    from codec_conformance.codecs.encodec import EncodecCodec
    return EncodecCodec(**kw)


def _speechtokenizer(**kw):
    pytest.importorskip("speechtokenizer")
    from codec_conformance.codecs.speechtokenizer import SpeechTokenizerCodec
    return SpeechTokenizerCodec(**kw)


def _dac16_small(**kw):
    """DAC's real class at a reduced width (full DAC runs ~1 s per second of audio here)."""
    pytest.importorskip("dac")
    from codec_conformance.codecs.dac import dac16
    return dac16(model_kwargs={"encoder_dim": 8, "decoder_dim": 32}, **kw)


def _freqcodec(**kw):
    pytest.importorskip("funcodec")
    from codec_conformance.codecs.freqcodec import FreqCodec
    return FreqCodec(**kw)


def _hificodec(**kw):
    pytest.importorskip("espnet2")
    from codec_conformance.codecs.hificodec import HiFiCodecCodec
    return HiFiCodecCodec(**kw)


ADAPTERS = {"encodec": _encodec, "speechtokenizer": _speechtokenizer, "dac16-small": _dac16_small,
            "freqcodec": _freqcodec, "hificodec": _hificodec}


@pytest.fixture(scope="module", params=sorted(ADAPTERS))
def adapter(request):
    torch.set_num_threads(1)
    make = ADAPTERS[request.param]
    return make, make(weights="random-init")


def test_bitrates_from_the_paper_formula():
    # R = f_N * k * log2(C)
    e = _encodec(weights="random-init")
    assert e.frame_rate == 75.0 and e.codebook_size == 1024
    assert e.bitrates_kbps == (1.5, 3.0, 6.0, 12.0, 24.0) and e.codebooks_for(1.5) == 2
    s = _speechtokenizer(weights="random-init")
    assert s.frame_rate == 50.0 and s.bitrates_kbps == tuple(0.5 * k for k in range(1, 9))
    pytest.importorskip("dac")
    from codec_conformance.codecs.dac import DacCodec, dac16, dac24
    d = DacCodec(weights="random-init")
    assert d.frame_rate == 44100 / 512 and len(d.bitrates_kbps) == 9
    assert d.bitrates_kbps[-1] == pytest.approx(44100 / 512 * 9 * 10 / 1000)
    assert dac24(weights="random-init").bitrates_kbps[-1] == 24.0
    assert dac16(weights="random-init").bitrates_kbps == tuple(0.5 * k for k in range(1, 13))
    pytest.importorskip("funcodec")
    assert _freqcodec(weights="random-init").bitrates_kbps == (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    pytest.importorskip("espnet2")
    assert _hificodec(weights="random-init").bitrates_kbps == tuple(float(k) for k in range(1, 9))  # 2 groups


def test_dac_native_format_and_safe_loading(tmp_path):
    pytest.importorskip("dac")
    from codec_conformance.codecs.dac import DacCodec
    small = {"encoder_dim": 8, "decoder_dim": 32}
    c = DacCodec(weights="random-init", sample_rate=16000, model_kwargs=small)
    x = (0.1 * np.random.default_rng(5).standard_normal((1, 4000))).astype(np.float32)
    ref = c.roundtrip(x, 3.0)
    p = tmp_path / "weights_16khz_8kbps_0.0.5.pth"
    c.save_native(str(p))  # DAC's own format: metadata kwargs + state dict
    loaded = DacCodec(checkpoint=str(p), sample_rate=16000)  # architecture read from the file
    assert loaded.kwargs["encoder_dim"] == 8 and np.array_equal(loaded.roundtrip(x, 3.0), ref)


@pytest.mark.parametrize("batch,seconds", [(1, 0.1), (2, 0.29), (3, 1.0)])
def test_roundtrip_shapes_and_bitrates(adapter, batch, seconds):
    _, codec = adapter
    x = (0.1 * np.random.default_rng(0).standard_normal((batch, int(seconds * codec.sample_rate)))).astype(np.float32)
    outs = [codec.roundtrip(x, br) for br in (codec.bitrates_kbps[0], codec.bitrates_kbps[-1])]
    assert all(o.shape == x.shape and o.dtype == np.float32 and np.all(np.isfinite(o)) for o in outs)
    assert not np.array_equal(outs[0], outs[1])  # bitrate selects a different number of codebooks


def test_clip_shorter_than_one_frame(adapter):
    _, codec = adapter
    x = np.full((1, 37), 0.1, np.float32)  # far shorter than a codec frame (320 samples)
    assert codec.roundtrip(x, codec.bitrates_kbps[-1]).shape == (1, 37)


def test_bf16_autocast_runs_is_labelled_and_cached_apart(adapter):
    make, codec = adapter
    half = make(weights="random-init")
    if "bf16" in half.supported_precisions:
        half.set_precision("bf16")
    else:  # FreqCodec: complex STFT decoder, no complex bfloat16 in torch
        with pytest.raises(Exception, match="cannot run in bf16: its STFT"):
            half.set_precision("bf16")
        half.set_precision("fp16")
    x = (0.1 * np.random.default_rng(3).standard_normal((2, codec.sample_rate // 2))).astype(np.float32)
    br = codec.bitrates_kbps[-1]
    y32, y16 = codec.roundtrip(x, br), half.roundtrip(x, br)
    assert y16.shape == x.shape and y16.dtype == np.float32 and np.all(np.isfinite(y16))
    assert not np.array_equal(y32, y16)  # autocast really changed the arithmetic
    assert half.info()["precision"] in ("bf16", "fp16") and codec.info()["precision"] == "fp32"
    assert half.cache_identity() != codec.cache_identity()  # never served from the fp32 cache
    with pytest.raises(Exception, match="precision 'fp8' unknown"):
        half.set_precision("fp8")


def test_random_init_codes_depend_on_input(adapter):
    """Codes through the protocol's encode (no adapter-specific branches)."""
    _, codec = adapter
    rng = np.random.default_rng(1)
    x1, x2 = (0.1 * rng.standard_normal((2, 1, codec.sample_rate))).astype(np.float32)
    br = codec.bitrates_kbps[1]
    c1, c2 = codec.encode(x1, br), codec.encode(x2, br)
    assert c1.dtype == np.int64 and c1.ndim == 3 and c1.shape[0] == 1
    assert len(np.unique(c1)) > 5 and not np.array_equal(c1, c2)
    assert np.array_equal(c1, codec.encode(x1, br))  # deterministic
    assert codec.info()["weights"] == "random-init"


def test_encode_decode_is_the_round_trip(adapter):
    _, codec = adapter
    x = (0.1 * np.random.default_rng(2).standard_normal((2, codec.sample_rate // 2))).astype(np.float32)
    lo, hi = codec.bitrates_kbps[0], codec.bitrates_kbps[-1]
    c_lo, c_hi = codec.encode(x, lo), codec.encode(x, hi)
    assert c_lo.shape[1] < c_hi.shape[1]  # more code levels at the higher bitrate
    frames = -(-x.shape[1] // codec.token_hop)  # whole frames of token_hop samples
    assert abs(c_hi.shape[2] - frames) <= 1
    y = codec.decode(c_hi)
    assert y.shape == (2, c_hi.shape[2] * codec.token_hop)
    if codec.name != "freqcodec":  # FreqCodec keeps a level scale beside its codes (decodes normalised)
        np.testing.assert_allclose(y[:, : x.shape[1]], codec.roundtrip(x, hi), atol=1e-5)


def test_checkpoint_roundtrip_bit_identical(adapter, tmp_path):
    make, codec = adapter
    x = (0.1 * np.random.default_rng(3).standard_normal((1, codec.sample_rate // 2))).astype(np.float32)
    br = codec.bitrates_kbps[1]
    ref = codec.roundtrip(x, br)
    p = tmp_path / "model.pt"  # the libraries' native format: a state dict saved with torch.save
    torch.save(codec.state_dict(), p)
    extra = {}
    if codec.name == "speechtokenizer":
        import json
        (tmp_path / "config.json").write_text(json.dumps(codec.cfg))  # found beside the checkpoint
    if codec.name == "freqcodec":
        from codec_conformance.codecs.freqcodec import RECIPE_YAML
        (tmp_path / "config.yaml").write_text(RECIPE_YAML)
    loaded = make(checkpoint=str(p), **extra)
    assert np.array_equal(loaded.roundtrip(x, br), ref)
    assert loaded.weights == "checkpoint" and len(loaded.checkpoint_sha256) == 64
    from safetensors.torch import save_file
    q = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in codec.state_dict().items()}, str(q))
    if codec.name == "speechtokenizer":
        extra = {"config": str(tmp_path / "config.json")}
    if codec.name == "freqcodec":
        extra = {"config": str(tmp_path / "config.yaml")}
    assert np.array_equal(make(checkpoint=str(q), **extra).roundtrip(x, br), ref)


def test_tampered_truncated_and_mismatched_checkpoints(adapter, tmp_path):
    make, codec = adapter
    x = np.zeros((1, 2400), np.float32)
    br = codec.bitrates_kbps[0]
    sd = codec.state_dict()
    if codec.name == "speechtokenizer":
        import json
        (tmp_path / "config.json").write_text(json.dumps(codec.cfg))
    if codec.name == "freqcodec":
        from codec_conformance.codecs.freqcodec import RECIPE_YAML
        (tmp_path / "config.yaml").write_text(RECIPE_YAML)
    p = tmp_path / "good.pt"
    torch.save(sd, p)
    data = p.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="trunc.pt.*corrupted or truncated"):
        make(checkpoint=str(tmp_path / "trunc.pt")).roundtrip(x, br)
    bad = dict(sd)
    first = next(iter(bad))
    bad.pop(first)
    bad[first + "_extra"] = torch.zeros(1)  # an unexpected key inside the model's own namespace
    torch.save(bad, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match=f"does not fit the {codec.name} architecture.*missing keys.*unexpected"):
        make(checkpoint=str(tmp_path / "mismatch.pt")).roundtrip(x, br)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        make(checkpoint=str(tmp_path / "nope.pt")).roundtrip(x, br)


def test_missing_pretrained_weights_offline_name_the_url_and_the_place(tmp_path, monkeypatch):
    """Offline, a missing published file names its URL and the cache path to fill by hand (online
    it is downloaded there: tests/unit/test_fetch.py)."""
    from codec_conformance import fetch
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(fetch.FetchError, match=r"hub/checkpoints/encodec_24khz-d7cc33bc\.th is not in the cache.*"
                                               r"Fetch https://dl\.fbaipublicfiles\.com/encodec/v0/encodec_24khz"):
        _encodec().roundtrip(np.zeros((1, 2400), np.float32), 24.0)
    with pytest.raises(fetch.FetchError, match=r"models--fnlp--SpeechTokenizer/snapshots/main/.*HF_HUB_OFFLINE=1.*"
                                               r"https://huggingface\.co/fnlp/SpeechTokenizer/resolve/main/"):
        _speechtokenizer()


class _Boom:
    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/codec_conformance_pwned",))


def test_malicious_pickle_is_refused_without_executing(tmp_path):
    import os
    marker = "/tmp/codec_conformance_pwned"
    if os.path.exists(marker):
        os.unlink(marker)
    p = tmp_path / "evil.th"
    with open(p, "wb") as f:
        pickle.dump({"state": _Boom()}, f)
    with pytest.raises(CheckpointError, match="arbitrary unpickling.*--codec-trust-checkpoint"):
        _encodec(checkpoint=str(p)).roundtrip(np.zeros((1, 2400), np.float32), 1.5)
    assert not os.path.exists(marker)


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_checkpoint_weights_without_a_path_is_a_checkpoint_error(name):
    """weights='checkpoint' with no checkpoint path is refused by name (it was a TypeError from
    Path(None), found by mypy)."""
    with pytest.raises(CheckpointError, match="weights 'checkpoint' need a checkpoint file"):
        ADAPTERS[name](weights="checkpoint")


def test_dac_checkpoint_that_appears_after_the_codec_was_built(tmp_path):
    """DAC reads its checkpoint's kwargs when it is built: a file that only appears later is a
    CheckpointError (it was a TypeError in apply_state_dict, found by mypy)."""
    x = np.zeros((1, 1600), np.float32)
    p = tmp_path / "late.pth"
    codec = _dac16_small(checkpoint=str(p))
    _dac16_small(weights="random-init").save_native(str(p))
    with pytest.raises(CheckpointError, match="was not a file when the codec was built"):
        codec.roundtrip(x, codec.bitrates_kbps[0])
