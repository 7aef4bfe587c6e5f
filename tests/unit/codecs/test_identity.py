import numpy as np

from codec_conformance.codecs.identity import IdentityCodec

# ----------------------------------------------------------------------


def test_identity_is_exact(rng):
    x = (0.3 * rng.standard_normal((3, 1234))).astype(np.float32)
    assert np.array_equal(IdentityCodec().roundtrip(x, 256.0), x)
