import pytest

from codec_conformance.metrics.speaker import eer

# ----------------------------------------------------------------------


def test_eer_known_answers(rng):
    assert eer([0.9, 0.8, 0.7, 0.1, 0.2, 0.3], [1, 1, 1, 0, 0, 0]) == 0.0
    assert eer(rng.random(40000), rng.random(40000) > 0.5) == pytest.approx(0.5, abs=0.02)
    # one target below one non-target of 2+2 trials: FAR = FRR = 0.5 at the crossing
    assert eer([0.9, 0.2, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(0.5)


# ---- offline stand-ins reproduce the figures measured on ../shared/data (its README) ----------
def test_resemblyzer_eer_on_librispeech(libri):
    from codec_conformance.metrics.speaker import SpeakerEer
    m = SpeakerEer(protocol="all-pairs")
    r = m.compute(libri.items, [u.audio for u in libri.items], [u.audio for u in libri.items], 16000)
    assert r.details["n_trials"] == 4950
    assert r.value == pytest.approx(0.0043, abs=0.01)  # README: 0.43 % over all 4,950 pairs
    assert m.stand_in is True
