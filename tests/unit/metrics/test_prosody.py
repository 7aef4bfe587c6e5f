import numpy as np
import pytest

from codec_conformance.metrics.prosody import ProsodyCorrelation, f0_contour

# ----------------------------------------------------------------------


def with_noise(x, snr_db, rng):
    n = rng.standard_normal(len(x))
    n *= np.sqrt(np.sum(x.astype(np.float64) ** 2) / np.sum(n ** 2)) / 10 ** (snr_db / 20)
    return (x + n).astype(np.float32)


def test_yin_f0_of_tones():
    sr = 16000
    t = np.arange(sr) / sr
    for f in (80.0, 150.0, 310.0):
        assert np.nanmedian(f0_contour(0.5 * np.sin(2 * np.pi * f * t), sr)) == pytest.approx(f, rel=0.01)
    assert np.all(np.isnan(f0_contour(np.zeros(sr), sr)))


def test_prosody_proxy_is_one_for_identity_and_drops_with_noise(embedded, rng):
    x = embedded.items[0].audio
    m = ProsodyCorrelation()
    assert m.item(x, x, 16000, None) == pytest.approx(1.0)
    assert m.item(x, with_noise(x, 0, rng), 16000, None) < m.item(x, with_noise(x, 20, rng), 16000, None)
    assert "PROXY" in m.description and m.name != "emotion_acc"
