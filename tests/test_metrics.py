import numpy as np
import pytest

from codec_conformance.metrics.asr import normalize_text, word_errors
from codec_conformance.metrics.base import Undefined
from codec_conformance.metrics.prosody import ProsodyCorrelation, f0_contour
from codec_conformance.metrics.signal import MelDistance, Pesq, Stoi, SI_SDR_CAP_DB, mel_distance, si_sdr
from codec_conformance.metrics.speaker import eer


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


def test_wer_of_perfect_text_is_zero_and_counts_edits():
    assert word_errors("The cat sat.", "the cat sat") == (0, 3)
    assert word_errors("the cat sat on the mat", "the cat sat on mat") == (1, 6)
    assert word_errors("a b", "a b c d") == (2, 2)
    assert normalize_text("Mr. Smith, 'hello'!") == normalize_text("mister smith hello")


def test_eer_known_answers(rng):
    assert eer([0.9, 0.8, 0.7, 0.1, 0.2, 0.3], [1, 1, 1, 0, 0, 0]) == 0.0
    assert eer(rng.random(40000), rng.random(40000) > 0.5) == pytest.approx(0.5, abs=0.02)
    # one target below one non-target of 2+2 trials: FAR = FRR = 0.5 at the crossing
    assert eer([0.9, 0.2, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(0.5)


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


# ---- offline stand-ins reproduce the figures measured on ../shared/data (its README) ----------
def test_resemblyzer_eer_on_librispeech(libri):
    from codec_conformance.metrics.speaker import SpeakerEer
    m = SpeakerEer(protocol="all-pairs")
    r = m.compute(libri.items, [u.audio for u in libri.items], [u.audio for u in libri.items], 16000)
    assert r.details["n_trials"] == 4950
    assert r.value == pytest.approx(0.0043, abs=0.01)  # README: 0.43 % over all 4,950 pairs
    assert m.stand_in is True


def test_tiny_en_wer_on_librispeech(libri, shared_data):
    from codec_conformance.data.corpus import load_folder
    from codec_conformance.metrics.asr import WordErrorRate
    extra = [load_folder(shared_data / "speech" / d) for d in ("librispeech_test_clean", "librispeech_dev_clean")]
    items = [u for c in [libri, *extra] for u in c.items if u.transcript]
    m = WordErrorRate()
    r = m.compute(items, [u.audio for u in items], [u.audio for u in items], 16000)
    # README: 14.1 % on the 104 transcribed utterances (without normalisation); ours normalises
    assert len(items) == 104
    assert 0.06 < r.value < 0.16, r.value
    assert m.stand_in is True and "tiny" in m.evaluator


def test_pocketsphinx_wer_on_harvard(shared_data):
    from codec_conformance.data.corpus import load_folder
    from codec_conformance.metrics.asr import PocketSphinxAsr, WordErrorRate
    c = load_folder(shared_data / "speech" / "timit-style-2spk")
    items = [u for u in c.items if u.transcript]
    r = WordErrorRate(backend=PocketSphinxAsr()).compute(items, [u.audio for u in items],
                                                         [u.audio for u in items], 16000)
    assert len(items) == 10 and 0.2 < r.value < 0.5, r.value  # README: 36 %


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
