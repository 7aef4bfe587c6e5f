"""Token robustness: do a codec's codes stay put when the input is noisy, quieter or shifted?

A speech language model trained on the tokens of clean speech meets other tokens in the field.
Per codec x bitrate, on the corpus, between the codes of the reference input and of a perturbed
one, per RVQ level (level 1 separately: SpeechTokenizer's semantic level), this suite measures
the unit edit rate (Levenshtein distance over frames / frames) and the frame-level token
agreement (analysis.TOKEN_METRICS):

- noise: clean speech vs the same speech under each noise condition of the noise suite;
- gain: x vs a x, Hypothesis drawing the gain (-40..+12 dB) and the utterance, seeded like the
  other suites; plus the agreement on the profile's gain grid (a curve);
- shift: x vs x delayed by 1 sample, hop/4 and hop/2 (frames compared index by index): what a
  sub-frame shift alone does to the tokens, on every utterance;
- determinism: encoding the same input twice must give identical codes (a hard failure).

Codecs that expose no codes (``encode``/``decode``: the reference codecs) have no token tests:
each is skipped as not applicable.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from codec_conformance.catalogue import SuiteInfo, condition_kinds
from codec_conformance.probes.analysis import (IDENTICAL_CODES, TOKEN_METRICS, TOKEN_QUANTITIES, level_agreement,
                                               level_edit_rates, token_summary)
from codec_conformance.plugin.checks import build_record, check, emit, limit
from codec_conformance.plugin.properties import hypothesis_settings, normalise_peak, run_property
from codec_conformance.results.records import condition_record

PEAK_DBFS = -14.0
SHIFTS = ("1-sample", "hop/4", "hop/2")
# noise: the noise suite's degraded conditions (not clean: the reference); thresholds key: the kind
SUITE = SuiteInfo(
    name="tokens", label="token robustness",
    conditions=lambda: [*({"kind": k.name} for k in condition_kinds().values() if "tokens" in k.suites and not k.reference),
                        *(condition_record(k) for k in ("gain", "shift", "determinism"))],
    params={"token_condition": lambda sess: [(c.id, c) for c in sess.conditions("tokens", reference=False)],
            "token_shift": lambda sess: [(s, s) for s in SHIFTS]},
    quantities=(*TOKEN_QUANTITIES.values(), IDENTICAL_CODES),
    cost={"test_token_gain": 3.0, "test_token_noise": 1.0, "test_token_shift": 1.0, "test_token_determinism": 1.0})


def _codec(sess, codec):
    c = sess.token_codec(codec)
    if c is None:
        pytest.skip(f"not applicable: codec {codec!r} exposes no codes (no encode/decode)")
    return c


def _records(sess, request, codec, bitrate, cond, summary, n_items, **extra):
    return [build_record(sess, request, codec=codec, bitrate=bitrate, suite="tokens", condition=cond,
                         metric=m, direction=d, value=summary[m], n_items=n_items, unit="fraction",
                         edit_rate_per_level=summary["edit_rate_per_level"],
                         agreement_per_level=summary["agreement_per_level"], **extra)
            for m, d in TOKEN_METRICS.items()]


def test_token_noise(conformance, request, codec_point, token_condition):
    codec, bitrate = codec_point
    sess = conformance
    _codec(sess, codec)
    corpus = sess.corpus
    sr = corpus.sample_rate
    noisy = sess.degraded(token_condition, corpus)
    pairs = [(sess.codes(codec, bitrate, u.audio, sr), sess.codes(codec, bitrate, y, sr))
             for u, y in zip(corpus.items, noisy)]
    recs = _records(sess, request, codec, bitrate, token_condition.to_record(), token_summary(pairs), len(pairs))
    emit(sess, request, codec, recs)
    check(recs)


def test_token_gain(conformance, request, codec_point):
    codec, bitrate = codec_point
    sess = conformance
    _codec(sess, codec)
    corpus = sess.corpus
    sr = corpus.sample_rate
    cond = condition_record("gain", level_dbfs=PEAK_DBFS)
    th = limit(sess, codec, bitrate, SUITE.name, cond, "unit_edit_rate")
    n = len(corpus.items)
    examples = []

    @hypothesis_settings(sess)
    @given(i=st.integers(0, n - 1), gain_db=st.floats(-40.0, 12.0))
    def prop(i, gain_db):
        x = normalise_peak(corpus.items[i].audio, PEAK_DBFS)
        ref = sess.codes(codec, bitrate, x, sr)
        test = sess.codes(codec, bitrate, (x * 10 ** (gain_db / 20)).astype(np.float32), sr)
        edit, agree = level_edit_rates(ref, test), level_agreement(ref, test)
        ex = {"x": corpus.items[i].id, "gain_db": round(gain_db, 3), "unit_edit_rate": round(float(np.mean(edit)), 4),
              "token_agreement": round(float(np.mean(agree)), 4), "token_agreement_level1": round(agree[0], 4)}
        examples.append(ex)
        if th is not None:
            assert th.check(ex["unit_edit_rate"], None, False), \
                f"unit edit rate {ex['unit_edit_rate']:.3f} beyond {th.text()} for {ex}"

    err = run_property(sess, prop, sess.settings.seed)
    grid = list(sess.profile.gain_grid_db)
    curve_mean, curve_l1 = [], []
    for g in grid:  # agreement on the gain grid, over the first (up to) 3 utterances
        pairs = []
        for u in corpus.items[:3]:
            x = normalise_peak(u.audio, PEAK_DBFS)
            pairs.append((sess.codes(codec, bitrate, x, sr),
                          sess.codes(codec, bitrate, (x * 10 ** (g / 20)).astype(np.float32), sr)))
        s = token_summary(pairs)
        curve_mean.append(s["token_agreement"])
        curve_l1.append(s["token_agreement_level1"])
    counter = examples[-1] if err is not None else None
    worst = {"unit_edit_rate": max(e["unit_edit_rate"] for e in examples),
             "token_agreement": min(e["token_agreement"] for e in examples),
             "token_agreement_level1": min(e["token_agreement_level1"] for e in examples)}
    recs = [build_record(sess, request, codec=codec, bitrate=bitrate, suite="tokens", condition=cond, metric=m,
                         direction=TOKEN_METRICS[m], value=v,
                         median=float(np.median([e[m] for e in examples])), n_items=len(examples),
                         counterexample=counter if m == "unit_edit_rate" else None, unit="fraction",
                         examples=examples[:50] if m == "unit_edit_rate" else None)
            for m, v in worst.items()]
    curves = [{"codec": codec, "bitrate_kbps": bitrate, "kind": "token_gain", "level_dbfs": PEAK_DBFS,
               "x": grid, "x_unit": "dB", "y": y, "y_unit": "fraction", "label": label}
              for y, label in ((curve_mean, "token agreement (mean over levels)"),
                               (curve_l1, "token agreement (level 1)"))]
    emit(sess, request, codec, recs, curves)
    if err is not None:
        pytest.fail(f"token gain robustness fails for {codec} @ {bitrate:g} kbps; shrunk counterexample: "
                    f"{counter}\n{err}", pytrace=False)
    check(recs)


def test_token_shift(conformance, request, codec_point, token_shift):
    codec, bitrate = codec_point
    sess = conformance
    c = _codec(sess, codec)
    hop = int(c.token_hop)
    shift = {"1-sample": 1, "hop/4": hop // 4, "hop/2": hop // 2}[token_shift]
    corpus = sess.corpus
    sr = int(c.sample_rate)  # shifts are in the codec's own samples: encode at its rate
    from codec_conformance.data.audio import resample
    pairs = []
    for u in corpus.items:
        x = resample(u.audio, corpus.sample_rate, sr).astype(np.float32)
        delayed = np.concatenate([np.zeros(shift, np.float32), x])
        pairs.append((sess.codes(codec, bitrate, x, sr), sess.codes(codec, bitrate, delayed, sr)))
    cond = condition_record("shift", shift_samples=shift)
    recs = _records(sess, request, codec, bitrate, cond, token_summary(pairs), len(pairs), hop_samples=hop)
    emit(sess, request, codec, recs)
    check(recs)


def test_token_determinism(conformance, request, codec_point):
    codec, bitrate = codec_point
    sess = conformance
    _codec(sess, codec)
    corpus = sess.corpus
    same, total, differing = 0, 0, []
    for u in corpus.items:
        a = sess.codes(codec, bitrate, u.audio, corpus.sample_rate, memo=False)
        b = sess.codes(codec, bitrate, u.audio, corpus.sample_rate, memo=False)
        ok = a.shape == b.shape and bool(np.array_equal(a, b))
        eq = int(np.sum(a == b)) if a.shape == b.shape else 0
        same, total = same + eq, total + a.size
        if not ok:
            differing.append(u.id)
    rec = build_record(sess, request, codec=codec, bitrate=bitrate, suite="tokens",
                       condition=condition_record("determinism"), metric="identical_codes", direction="higher",
                       value=same / max(1, total), n_items=len(corpus.items), unit="fraction",
                       differing_items=differing or None)
    if differing:
        rec["passed"] = False
        rec["failure"] = f"encoding the same input twice gave different codes for {len(differing)} items"
    emit(sess, request, codec, [rec])
    if differing:
        pytest.fail(f"{codec} @ {bitrate:g} kbps is not deterministic: {rec['failure']}: {differing[:5]}",
                    pytrace=False)
    check([rec])
