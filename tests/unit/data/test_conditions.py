import numpy as np
import pytest

from codec_conformance.data import conditions as C
from codec_conformance.data.audio import active_rms
from codec_conformance.data.corpus import AudioBank
from codec_conformance.errors import ConformanceError


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 20.0])
def test_white_noise_hits_target_snr(embedded, snr):
    u = embedded.items[0]
    y = C.apply(C.white(snr), u.audio, 16000, item_id=u.id, seed=0)
    noise = y - u.audio
    measured = 20 * np.log10(active_rms(u.audio, 16000) / np.sqrt(np.mean(noise.astype(np.float64) ** 2)))
    assert abs(measured - snr) < 0.01


def test_conditions_are_seeded_and_order_independent(embedded):
    a, b = embedded.items[0], embedded.items[1]
    c = C.white(5.0)
    y1 = C.apply(c, a.audio, 16000, item_id=a.id, seed=3)
    C.apply(c, b.audio, 16000, item_id=b.id, seed=3)
    y2 = C.apply(c, a.audio, 16000, item_id=a.id, seed=3)
    assert np.array_equal(y1, y2)
    assert not np.array_equal(y1, C.apply(c, a.audio, 16000, item_id=a.id, seed=4))


def test_stable_ids():
    assert C.white(10).id == "white-10dB"
    assert C.ambient(-5).id == "ambient--5dB"
    assert C.reverb(rt60_s=0.6).id == "reverb-rt60-0.6s"
    assert C.reverb(rir="room/a.wav").id == "reverb-room_a"
    assert C.clean().to_record() == {"kind": "clean", "snr_db": None, "gain_db": None, "rt60_s": None,
                                     "level_dbfs": None, "source": None, "mixture": None,
                                     "shift_samples": None}


def test_ambient_from_bank(embedded, rng):
    bank = AudioBank("noise", {"n.wav": rng.standard_normal(8000).astype(np.float32)}, 16000, "test")
    u = embedded.items[0]
    y = C.apply(C.ambient(0.0), u.audio, 16000, item_id=u.id, seed=0, noise_bank=bank)
    n = y - u.audio
    assert abs(20 * np.log10(active_rms(u.audio, 16000) / np.sqrt(np.mean(n ** 2))) - 0.0) < 0.01


def test_reverb_with_measured_rir_is_convolution(embedded):
    rir = np.zeros(400, np.float32)
    rir[10], rir[210] = 1.0, 0.5  # direct path then one echo 200 samples later
    bank = AudioBank("rir", {"r.wav": rir}, 16000, "test")
    x = embedded.items[0].audio
    y = C.apply(C.reverb(rir="r.wav"), x, 16000, item_id="a", seed=0, rir_bank=bank)
    expect = x.astype(np.float64).copy()
    expect[200:] += 0.5 * x[:-200]
    g = np.dot(y, expect) / np.dot(expect, expect)
    assert np.allclose(y, g * expect, atol=1e-5)


def test_simulated_reverb_has_requested_decay(embedded):
    rir = C.simulate_rir(0.6, 16000)
    e = np.cumsum(rir[::-1] ** 2)[::-1]  # Schroeder integral
    edc = 10 * np.log10(e / e[0])
    t5, t25 = np.argmax(edc < -5), np.argmax(edc < -25)
    rt60 = 3 * (t25 - t5) / 16000  # T20 extrapolated
    assert 0.4 < rt60 < 0.85, rt60


def test_silent_speech_is_an_error_not_nan():
    with pytest.raises(ConformanceError, match="silent"):
        C.mix_at_snr(np.zeros(1000, np.float32), np.ones(1000), 10, 16000)
