import numpy as np
import pytest

from codec_conformance.codecs.base import BaseCodec
from codec_conformance.errors import CodecError

# ----------------------------------------------------------------------


class _BadLength(BaseCodec):
    name, sample_rate, bitrates_kbps = "bad-length", 16000, (1.0,)

    def roundtrip_one(self, x, br):
        return x[:-10]


class _Nan(BaseCodec):
    name, sample_rate, bitrates_kbps = "nan", 16000, (1.0,)

    def roundtrip_one(self, x, br):
        return x * np.nan


def test_codec_wrong_length_or_nan_is_refused(rng):
    x = (0.1 * rng.standard_normal((1, 1600))).astype(np.float32)
    with pytest.raises((CodecError, ValueError), match="bad-length|shape"):
        _BadLength().roundtrip(x, 1.0)
    with pytest.raises(CodecError, match="NaN"):
        _Nan().roundtrip(x, 1.0)


# ----------------------------------------------------------------------
# Verdict integrity: the cache never serves a wrong value (keys carry what changes the output,
# entries carry a checksum), a factory's options are never dropped, only real float output is
# measured, and non-finite numbers become nulls with a reason instead of crashing the session.


def test_check_output_refuses_wrong_types_and_shapes():
    from codec_conformance.codecs.base import check_output
    batch = np.zeros((1, 8), np.float32)
    for bad, word in ((np.zeros((1, 8), bool), "bool"), (np.zeros((1, 8), np.uint8), "uint8"),
                      (np.zeros((1, 8), object), "object"), ([[0.0] * 4, [0.0]], "not an array")):
        with pytest.raises(CodecError, match=word):
            check_output("c", batch, bad)
    with pytest.raises(CodecError, match="shape"):
        check_output("c", batch, np.zeros((1, 7), np.float32))
    assert check_output("c", batch, np.ones((1, 8), np.float16)).dtype == np.float32


def test_float64_output_beyond_float32_range_is_a_codec_error_not_a_measurement():
    """Issue 29 item 6: float64 output holding 1e300 is finite, so the old code's NaN/Inf check
    let it through; the cast to float32 made it Inf and STOI passed at 1.000. Now the output is
    checked after the cast: a CodecError naming the codec."""
    from codec_conformance.codecs.base import check_output
    batch = np.zeros((1, 8), np.float32)
    out = np.zeros((1, 8), np.float64)
    out[0, 3] = 1e300
    with pytest.raises(CodecError, match=r"codec 'big' at 8 kbps returned float64 samples up to 1e\+300.*float32"):
        check_output("big", batch, out, 8.0)
    out[0, 3] = -1e300
    with pytest.raises(CodecError, match="codec 'big'.*Inf"):
        check_output("big", batch, out)
    out[0, 3] = 0.5  # in range: still accepted and cast
    assert check_output("big", batch, out).dtype == np.float32
