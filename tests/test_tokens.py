"""Token robustness: the measures against hand-computed answers, and the suite end to end on toy
codecs whose codes are known (a quantiser of frame energy; random codes)."""
import textwrap

import numpy as np
import pytest

from conftest import latest_results

from codec_conformance.probes.analysis import level_agreement, level_edit_rates, token_summary


def test_hand_computed_edit_rate_and_agreement():
    ref, test = np.array([[1, 2, 3, 4]]), np.array([[1, 3, 4, 4]])
    assert level_edit_rates(ref, test) == [0.5]     # two substitutions over 4 frames
    assert level_agreement(ref, test) == [0.5]      # frames 1 and 4 agree
    ramp, shifted = np.array([[-6, -5, -4, -3]]), np.array([[-5, -4, -3, -2]])
    assert level_edit_rates(ramp, shifted) == [0.5]  # delete the first, append one
    assert level_agreement(ramp, shifted) == [0.0]   # but no frame agrees
    two = np.array([[1, 2, 3], [7, 7, 7]])
    assert level_edit_rates(two, two) == [0.0, 0.0] and level_agreement(two, two) == [1.0, 1.0]


def test_random_codes_agree_at_chance():
    rng = np.random.default_rng(0)
    c = 16
    a, b = rng.integers(0, c, (3, 20000)), rng.integers(0, c, (3, 20000))
    agree = level_agreement(a, b)
    assert all(abs(v - 1 / c) < 0.01 for v in agree)             # ~1/C agreement
    assert all(abs((1 - v) - (1 - 1 / c)) < 0.01 for v in agree)  # ~1 - 1/C of frames change
    s = token_summary([(a, b)])
    assert s["token_agreement_level1"] == pytest.approx(agree[0]) and s["unit_edit_rate"] > 0.5


TOYS = textwrap.dedent('''
    import numpy as np
    from codec_conformance.codecs.base import BaseCodec

    HOP = 160

    class EnergyCodes(BaseCodec):
        """Codes: frame RMS level in 6 dB steps (level 1) and its parity (level 2); decodes to a
        sine of the coded level per frame (a toy, but its codes are hand-computable)."""
        name, sample_rate, bitrates_kbps = "energy", 16000, (8.0,)
        token_hop = HOP

        def encode(self, audio, bitrate_kbps):
            x = np.atleast_2d(np.asarray(audio, np.float32))
            n = -(-x.shape[1] // HOP) * HOP
            x = np.pad(x, ((0, 0), (0, n - x.shape[1]))).reshape(x.shape[0], -1, HOP)
            db = 10 * np.log10(np.mean(x.astype(np.float64) ** 2, axis=2) + 1e-12)
            lvl = np.floor(db / 6).astype(np.int64)
            return np.stack([lvl, lvl % 2], axis=1)

        def decode(self, codes, bitrate_kbps=None):
            amp = np.sqrt(2) * 10 ** (3 * (2 * codes[:, 0, :] + 1) / 20)
            t = np.arange(HOP) / self.sample_rate
            return (amp[:, :, None] * np.sin(2 * np.pi * 500 * t)).reshape(codes.shape[0], -1).astype(np.float32)

        def roundtrip_one(self, x, br):
            return self.decode(self.encode(x[None], br))[0, : len(x)]

    class RandomCodes(EnergyCodes):
        name = "random"
        def encode(self, audio, bitrate_kbps):
            x = np.atleast_2d(audio)
            return np.random.default_rng().integers(0, 16, (x.shape[0], 2, -(-x.shape[1] // HOP)))

    def energy(**kw): return EnergyCodes()
    def random(**kw): return RandomCodes()
''')


@pytest.fixture
def run(pytester, run_suites):
    pytester.makepyfile(toks=TOYS)
    return lambda *args: run_suites("--codec-measure-only", *args)


def _records(pytester):
    return latest_results(pytester)["records"]


def test_token_suite_on_a_codec_with_known_codes(run, pytester):
    r = run("--codec=toks:energy", "-k", "token", "-q")
    # noise: white/ambient x 2 SNRs + reverb; gain; shift x 3; determinism
    r.assert_outcomes(passed=5 + 1 + 3 + 1)
    recs = [x for x in _records(pytester) if x["suite"] == "tokens"]
    det = next(x for x in recs if x["condition"]["kind"] == "determinism")
    assert det["value"] == 1.0 and det["metric"] == "identical_codes"
    shifts = {x["condition"]["shift_samples"] for x in recs if x["condition"]["kind"] == "shift"}
    assert shifts == {1, 40, 80}  # 1 sample, hop/4, hop/2 of a 160-sample hop
    gain = {x["metric"]: x for x in recs if x["condition"]["kind"] == "gain"}
    # a level quantiser in 6 dB steps: a gain of g dB moves level 1 by about g/6 steps, so the
    # worst example over -40..+12 dB disagrees almost everywhere on level 1
    assert gain["token_agreement_level1"]["value"] < 0.2 and gain["unit_edit_rate"]["value"] > 0.3
    white0 = {x["metric"]: x for x in recs if x["condition"]["kind"] == "white" and x["condition"]["snr_db"] == 0}
    white10 = {x["metric"]: x for x in recs if x["condition"]["kind"] == "white" and x["condition"]["snr_db"] == 10}
    # more noise changes more tokens
    assert white0["token_agreement"]["value"] < white10["token_agreement"]["value"]
    assert len(white0["token_agreement"]["agreement_per_level"]) == 2


def test_nondeterministic_codes_fail_hard_and_codecs_without_codes_skip(run, pytester):
    r = run("--codec=toks:random", "-k", "determinism", "-q")
    r.assert_outcomes(failed=1)
    assert "is not deterministic" in r.stdout.str()
    r = run("--codec=mulaw", "-k", "token and determinism", "-q", "-rs")
    r.assert_outcomes(skipped=1)
    assert "not applicable: codec 'mulaw' exposes no codes" in r.stdout.str()
