import numpy as np
import pytest

from codec_conformance.codecs.pyav import AmrNbCodec, G722Codec, Mp3Codec, MuLawCodec, OpusCodec, best_lag
from codec_conformance.data.audio import resample
from codec_conformance.errors import CodecError


def snr_db(x, y):
    return 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((x - y).astype(np.float64) ** 2))


def test_unknown_bitrate_names_operating_points():
    with pytest.raises(CodecError, match="available: 6, 8, 12"):
        OpusCodec().roundtrip(np.zeros((1, 4800), np.float32), 7.0)


@pytest.mark.parametrize("cls", [OpusCodec, AmrNbCodec, G722Codec, MuLawCodec, Mp3Codec])
@pytest.mark.parametrize("n", [1, 479, 8000, 20011])
def test_shape_preserved_for_any_length(cls, n, rng):
    c = cls()
    x = (0.1 * rng.standard_normal((2, n))).astype(np.float32)
    for br in (c.bitrates_kbps[0], c.bitrates_kbps[-1]):
        y = c.roundtrip(x, br)
        assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))


def test_torch_in_torch_out(rng):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy((0.1 * rng.standard_normal((1, 1600))).astype(np.float32))
    y = G722Codec().roundtrip(x, 64.0)
    assert isinstance(y, torch.Tensor) and y.shape == x.shape


def test_mulaw_snr_is_textbook(libri):
    # G.711 mu-law: ~38 dB SNR for speech at a normal level (8-bit companded PCM)
    c = MuLawCodec()
    snrs = []
    for u in libri.items[:10]:
        x = resample(u.audio, 16000, 8000)
        x = x / np.max(np.abs(x)) * 0.5
        snrs.append(snr_db(x, c.roundtrip(x, 64.0)))
    assert 35.0 < np.median(snrs) < 40.0, snrs


def test_opus_output_aligned_within_one_sample(libri):
    c = OpusCodec()
    one_per_speaker = libri.subset(10, 1).items
    for br in (16.0, 32.0, 64.0):
        lags = [best_lag(c.roundtrip(resample(u.audio[: 4 * 16000], 16000, 48000), br),
                         resample(u.audio[: 4 * 16000], 16000, 48000), 40) for u in one_per_speaker]
        assert abs(float(np.median(lags))) <= 1, (br, lags)


def test_delay_is_measured_and_removed(libri):
    # AMR-NB (40 samples at 8 kHz) and G.722 (22 at 16 kHz) have real algorithmic delays;
    # after compensation speech comes out aligned
    for cls, br in ((AmrNbCodec, 12.2), (G722Codec, 64.0)):
        c = cls()
        assert c.delay_samples(br) > 10
        lags = [best_lag(c.roundtrip(x, br), x, 40)
                for x in (resample(u.audio, 16000, c.sample_rate) for u in libri.subset(5, 1).items)]
        assert abs(float(np.median(lags))) <= 1, lags


def test_pyav_codec_naming_a_video_codec_is_a_codec_error():
    """An AvCodec whose encoder is not an audio codec is refused by name (it was an AttributeError
    from setting sample_rate on a video context, found by mypy)."""
    from codec_conformance.codecs.pyav import AvCodec

    class VideoCodec(AvCodec):
        name = "video"
        encoder, decoder = "mpeg4", "mpeg4"
        bitrates_kbps = (64.0,)

    with pytest.raises(CodecError, match="'mpeg4' is not an audio encoder"):
        VideoCodec().roundtrip(np.zeros((1, 1600), np.float32), 64.0)
