import numpy as np
import pytest

from codec_conformance.metrics.base import Undefined
from codec_conformance.metrics.signal import SI_SDR_CAP_DB, MelDistance, Pesq, Stoi, mel_distance, si_sdr


def with_noise(x, snr_db, rng):
    n = rng.standard_normal(len(x))
    n *= np.sqrt(np.sum(x.astype(np.float64) ** 2) / np.sum(n ** 2)) / 10 ** (snr_db / 20)
    return (x + n).astype(np.float32)


def test_pesq_of_a_signal_with_itself(libri):
    x = libri.items[0].audio
    assert Pesq("wb").item(x, x, 16000, None) == pytest.approx(4.644, abs=0.002)
    assert Pesq("nb").item(x, x, 16000, None) == pytest.approx(4.549, abs=0.002)


def test_pesq_silence_is_undefined_with_reason():
    with pytest.raises(Undefined, match="no utterance"):
        Pesq().item(np.zeros(32000, np.float32), np.zeros(32000, np.float32), 16000, None)


def test_pesq_undefined_is_counted_not_dropped(embedded):
    items = embedded.items[:2]
    sigs = [items[0].audio, np.zeros_like(items[1].audio)]
    refs = [items[0].audio, np.zeros_like(items[1].audio)]
    r = Pesq().compute(items, sigs, refs, 16000)
    assert r.n_items == 2 and r.n_undefined == 1 and r.per_item[1] is None
    assert "no utterance" in r.undefined[items[1].id]
    assert r.value == pytest.approx(4.644, abs=0.002)  # mean of the defined item only


def test_si_sdr_scaled_copy_hits_cap_and_noise_hits_snr(libri, rng):
    x = libri.items[1].audio
    assert si_sdr(x, 0.3 * x) == SI_SDR_CAP_DB
    for snr in (-5.0, 0.0, 10.0, 20.0):
        assert si_sdr(x, with_noise(x, snr, rng)) == pytest.approx(snr, abs=0.1)


def test_stoi_is_monotone_in_snr(libri, rng):
    x = libri.items[2].audio
    vals = [Stoi().item(x, with_noise(x, s, rng), 16000, None) for s in (-10, -5, 0, 5, 10, 20)]
    assert all(a < b for a, b in zip(vals, vals[1:])), vals
    assert Stoi(extended=True).item(x, x, 16000, None) == pytest.approx(1.0, abs=1e-6)


def test_mel_distance_zero_for_identity_and_grows_with_noise(libri, rng):
    x = libri.items[3].audio
    assert mel_distance(x, x) == 0.0
    vals = [MelDistance().item(x, with_noise(x, s, rng), 16000, None) for s in (30, 20, 10, 0)]
    assert all(a < b for a, b in zip(vals, vals[1:])), vals
