import numpy as np
import pytest

from codec_conformance.metrics.base import Undefined

# ----------------------------------------------------------------------


def with_noise(x, snr_db, rng):
    n = rng.standard_normal(len(x))
    n *= np.sqrt(np.sum(x.astype(np.float64) ** 2) / np.sum(n ** 2)) / 10 ** (snr_db / 20)
    return (x + n).astype(np.float32)


def test_dnsmos_gives_speechmos_numbers_and_falls_with_noise(embedded, rng):
    """Our DNSMOS (one ONNX session, OVRL model only) against speechmos' reference code, on clips
    whose repetition gives one and several 9.01 s windows."""
    dnsmos_ref = pytest.importorskip("speechmos.dnsmos")
    from codec_conformance.metrics.dnsmos import Dnsmos
    m = Dnsmos()
    m.MAX_WINDOWS = None  # every window, as the reference script
    u = embedded.items[0]
    clips = [u.audio, u.audio[: int(2.2 * 16000)], with_noise(u.audio, 0.0, rng)]  # 1, 8 and 1 windows
    ours = [m.item(None, x, 16000, u) for x in clips]
    ref = [float(dnsmos_ref.run(np.clip(x, -1, 1).astype(np.float64), 16000)["ovrl_mos"]) for x in clips]
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    capped = [Dnsmos().item(None, x, 16000, u) for x in clips]  # the default: at most one window
    np.testing.assert_allclose(capped[0::2], ref[0::2], atol=1e-4)  # one window anyway: identical
    assert abs(capped[1] - ref[1]) < 0.2  # 1 of 8 windows of a repeated clip
    assert ours[2] < ours[0] - 0.3  # 0 dB white noise is judged clearly worse
    with pytest.raises(Undefined, match="silent"):
        m.item(None, np.zeros(16000, np.float32), 16000, u)
