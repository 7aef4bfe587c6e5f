"""The implementation suite's measures against systems with known answers (issue 25, item 3):
identity, a batch-peak normaliser, a chunk-length dependent normaliser, a sample dropper, a
dithered codec; and the runner's uncached raw path and fresh process."""
import math

import numpy as np
import pytest

from codec_conformance.codecs.base import BaseCodec
from codec_conformance.errors import CodecError
from codec_conformance.probes.analysis import SER_CAP_DB
from codec_conformance.probes.implementation import (
    IMPLEMENTATION_QUANTITIES,
    batch_vs_single,
    chunk_bounds,
    chunked,
    code_agreement,
    compare_runs,
    decode_in_chunks,
    digest,
    length_text,
    worst_ser,
)
from tests.helpers import make_session


def identity(batch):
    return np.array(batch, np.float32)


def batch_peak(batch):
    """Normalises every row by the batch's peak: the fault of a batch-dependent implementation."""
    b = np.asarray(batch, np.float64)
    return (b / np.max(np.abs(b))).astype(np.float32)


def own_peak(batch):
    """Normalises every row by its own peak: batch-independent, but chunk-length dependent."""
    b = np.asarray(batch, np.float64)
    return (b / np.max(np.abs(b), axis=1, keepdims=True)).astype(np.float32)


def test_identical_outputs_score_the_cap_and_missing_samples_count_as_errors():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000).astype(np.float32)
    assert worst_ser([x], [x.copy()]) == (SER_CAP_DB, [SER_CAP_DB])
    # an error of 10 % of the amplitude (1 % of the energy): 20 dB (float32 rounding: 1e-4)
    assert worst_ser([x], [x * 0.9])[0] == pytest.approx(20.0, abs=1e-4)
    # an estimate missing its second half (zero-padded): half the energy is error, 3.01 dB
    y = x.copy()
    y[500:] = 0
    want = 10 * math.log10(np.sum(x.astype(np.float64) ** 2) / np.sum(x[500:].astype(np.float64) ** 2))
    assert worst_ser([x], [x[:500]])[0] == pytest.approx(want, abs=1e-6)
    # the worst item sets the value; a silent target is undefined and does not
    worst, per = worst_ser([x, x, np.zeros(10)], [x, x * 0.9, np.zeros(10)])
    assert worst == pytest.approx(20.0, abs=1e-4) and per[0] == SER_CAP_DB and math.isnan(per[2])


def test_batch_independent_systems_pass_and_a_batch_peak_normaliser_gives_its_analytic_ser():
    rng = np.random.default_rng(1)
    peaks = [0.9, 0.5, 0.25]
    signals = []
    for p in peaks:
        s = rng.uniform(-1, 1, 800)
        signals.append((p * s / np.max(np.abs(s))).astype(np.float32))
    assert batch_vs_single(identity, signals)[0] == SER_CAP_DB
    assert batch_vs_single(own_peak, signals)[0] == SER_CAP_DB
    # alone, row i is x_i / p_i; in the batch x_i / P (P = 0.9): the error is x_i (1/p_i - 1/P),
    # so SER = -20 log10 |1 - p_i / P|: the quietest row (p = 0.25) is the worst
    worst, per = batch_vs_single(batch_peak, signals)
    want = [-20 * math.log10(abs(1 - p / 0.9)) if p != 0.9 else SER_CAP_DB for p in peaks]
    assert per == pytest.approx(want, abs=1e-3)
    assert worst == pytest.approx(min(want), abs=1e-3)
    assert worst < 3.0


def test_padded_batches_compare_each_item_over_its_own_length():
    seen = []

    def record(batch):
        seen.append(np.shape(batch))
        return identity(batch)

    signals = [np.ones(100, np.float32), np.ones(60, np.float32)]
    assert batch_vs_single(record, signals)[0] == SER_CAP_DB
    assert seen == [(2, 100), (1, 100), (1, 60)]  # one zero-padded batch, then each alone


def test_chunks_cover_the_signal_and_chunked_coding_of_known_systems():
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunk_bounds(8, 4) == [(0, 4), (4, 8)]
    with pytest.raises(ValueError):
        chunk_bounds(8, 0)
    rng = np.random.default_rng(2)
    x = rng.uniform(-0.5, 0.5, 1000).astype(np.float32)
    np.testing.assert_array_equal(chunked(identity, x, 300), x)
    # own-peak normalisation per chunk: chunk k comes out as x_k / p_k instead of x_k / P
    x[:300] *= 0.2  # a quiet first chunk: its gain goes from 1/P to 1/p_1
    out = chunked(own_peak, x, 300)
    whole = own_peak(x[None])[0]
    for a, b in ((0, 300), (300, 600), (900, 1000)):
        np.testing.assert_allclose(out[a:b], x[a:b] / np.max(np.abs(x[a:b])), rtol=1e-5)
    assert worst_ser([whole], [out])[0] < 10.0


def test_codes_decoded_in_blocks_of_a_frame_wise_decoder_equal_the_whole_and_a_stateful_one_does_not():
    codes = np.arange(12).reshape(2, 6)

    def framewise(c):  # each frame decodes to 4 samples of its first-level code
        return np.repeat(c[:, 0, :].astype(np.float32), 4, axis=-1)

    whole = framewise(codes[None])[0]
    np.testing.assert_array_equal(decode_in_chunks(framewise, codes, 4), whole)

    def cumulative(c):  # a decoder with memory: each frame adds to the last
        return np.repeat(np.cumsum(c[:, 0, :].astype(np.float32) + 1, axis=-1), 4, axis=-1)

    blocks = decode_in_chunks(cumulative, codes, 3)
    assert blocks.shape == (24,) and not np.array_equal(blocks, cumulative(codes[None])[0])


def test_code_agreement_counts_equal_entries():
    a = [np.array([[1, 2, 3, 4]]), np.array([[5, 6]])]
    assert code_agreement(a, [x.copy() for x in a]) == 1.0
    assert code_agreement(a, [np.array([[1, 2, 0, 0]]), np.array([[5, 6]])]) == pytest.approx(4 / 6)
    assert code_agreement(a, [np.array([[1, 2, 3]]), np.array([[5, 6]])]) == pytest.approx(2 / 6)  # shape differs


def test_length_text_says_how_many_samples_went_missing_or_were_added():
    assert length_text(-160, 16001) == "drops 160 of 16001 input samples (the output is 15841 samples long)"
    assert length_text(80, 100) == "adds 80 samples to 100 input samples (the output is 180 samples long)"
    assert length_text(0, 100) == "keeps the length (100 samples)"


def test_two_runs_of_a_deterministic_and_of_a_dithered_system():
    rng = np.random.default_rng(3)
    xs = [rng.uniform(-0.5, 0.5, 4000).astype(np.float32) for _ in range(2)]
    r = compare_runs(xs, [x.copy() for x in xs])
    assert r.identical and r.differing == 0 and r.ser_db == SER_CAP_DB and r.first_digest == digest(xs)
    # dither at -40 dB relative to the signal's RMS in the second item only: SER 40 dB
    noise = rng.standard_normal(4000)
    noise *= np.sqrt(np.mean(xs[1].astype(np.float64) ** 2) / np.mean(noise ** 2)) * 10 ** (-40 / 20)
    r = compare_runs(xs, [xs[0], (xs[1] + noise).astype(np.float32)])
    assert not r.identical and r.differing == 1 and r.ser_db == pytest.approx(40.0, abs=0.01)


def test_quantities_declare_unit_direction_and_plot_span():
    for q in IMPLEMENTATION_QUANTITIES.values():
        assert q.unit and q.direction in ("higher", "two-sided") and q.plot_span
    assert IMPLEMENTATION_QUANTITIES["length_error_samples"].direction == "two-sided"


# ----------------------------------------------------------------------------- the runner
class Dropper(BaseCodec):
    name, sample_rate, bitrates_kbps = "dropper", 16000, (8.0,)

    def roundtrip_batch(self, batch, bitrate_kbps):
        return batch[:, :-160]


def dropper(**_):
    return Dropper()


def test_raw_roundtrip_measures_the_length_the_normal_contract_refuses(tmp_path):
    s = make_session(tmp_path, "tests.unit.probes.test_implementation:dropper")
    name = "tests.unit.probes.test_implementation:dropper"
    x = np.zeros(16001, np.float32)
    with pytest.raises(CodecError, match="returned shape"):  # the other suites stay protected
        s.runner.roundtrip_one(name, 8.0, x, 16000)
    assert s.runner.raw_roundtrip(name, 8.0, x[None]).shape == (1, 15841)
    assert s.runner.raw_roundtrip(name, 8.0, np.zeros((2, 100), np.float32)).shape == (2, 0)


def test_fresh_process_reruns_the_codec_from_the_run_settings(tmp_path):
    s = make_session(tmp_path, "identity")
    xs = [np.linspace(-0.5, 0.5, 1000, dtype=np.float32), np.ones(10, np.float32) * 0.25]
    got = s.runner.fresh_process("identity", xs)
    assert list(got) == s.runner.bitrates("identity")
    for a, b in zip(got[s.runner.bitrates("identity")[0]], xs):
        np.testing.assert_array_equal(a, b)
    assert s.runner.fresh_process("identity", xs) is got  # one process per codec and inputs
