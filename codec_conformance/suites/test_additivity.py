"""Additivity (paper section 5): f(x + y) ~ f(x) + f(y).

Hypothesis draws the pair (two utterances of different speakers, or an utterance and a noise
clip), their relative level and the time offset of y. The property is the signal-to-error ratio
of f(x+y) against f(x)+f(y) in dB (and the Mel distance between them); the bitrate's threshold
is the smallest SER allowed. The record's value is the worst example; the median feeds the
additivity-vs-bitrate figure.
"""
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from codec_conformance.catalogue import SuiteInfo
from codec_conformance.engine.session import ConformanceSession
from codec_conformance.plugin.checks import build_record, check, emit, limit
from codec_conformance.plugin.properties import (
    Counterexample,
    counterexample,
    hypothesis_settings,
    median_of_draws,
    normalise_peak,
    run_property,
)
from codec_conformance.probes.analysis import SER_DB, additivity
from codec_conformance.results.contract import condition_record

MIXTURES = ("speech_speech", "speech_noise")
# thresholds key: the mixture (the default key function reads it from the record's condition)
SUITE = SuiteInfo(name="additivity", label="additivity",
                  conditions=lambda: [condition_record("mixture", mixture=m) for m in MIXTURES],
                  params={"additivity_kind": lambda sess: [(m, m) for m in MIXTURES]},
                  quantities=(SER_DB,), calibrated=frozenset({"ser_db"}), cost={"test_additivity": 6.0})


def second_signal(items, i: int, j: int, others, other_names, n: int) -> tuple[np.ndarray, str]:
    """y of the pair drawn as (i, j): an utterance of another speaker than item i's, or (with
    ``others``, the noise bank's signals) a noise clip tiled to ``n`` samples; and its id."""
    if others is None:
        cands = [u for u in items if u.speaker != items[i].speaker] or items
        return cands[j % len(cands)].audio, cands[j % len(cands)].id
    src = others[j % len(others)]
    return np.tile(src, int(np.ceil(n / len(src))))[:n], f"noise:{other_names[j % len(others)]}"


def test_additivity(conformance: ConformanceSession, request: pytest.FixtureRequest, codec_point: tuple[str, float],
                    additivity_kind: str) -> None:
    codec, bitrate = codec_point
    sess = conformance
    corpus = sess.corpus
    sr = corpus.sample_rate
    f = sess.runner.roundtrip_fn(codec, bitrate, sr)
    cond = condition_record("mixture", mixture=additivity_kind)
    th = limit(sess, codec, bitrate, SUITE.name, cond, "ser_db")
    items = corpus.speech_items  # near-silent items are counted undefined, never drawn
    undefined = {u.id: f"no speech in the clean item: {u.silent}" for u in corpus.items if u.silent is not None}
    examples = []
    if additivity_kind == "speech_noise":
        bank = sess.noise_bank
        others = [bank.signals[k] for k in bank.names()]
    else:
        others = None

    @hypothesis_settings(sess)
    @given(i=st.integers(0, max(0, len(items) - 1)), j=st.integers(0, 10_000), rel_level_db=st.floats(-10, 10),
           offset_s=st.floats(0.0, 0.5))
    def prop(i, j, rel_level_db, offset_s):
        x = normalise_peak(items[i].audio, -6.0)
        y, y_id = second_signal(items, i, j, others, sess.noise_bank.names() if others else [], len(x))
        r = additivity(f, x, y, rel_level_db, int(offset_s * sr), sr)
        ex = {"x": items[i].id, "y": y_id, "rel_level_db": round(rel_level_db, 3),
              "offset_s": round(offset_s, 4), "ser_db": round(r.ser_db, 3), "mel_distance": round(r.mel_distance, 4)}
        examples.append(ex)
        if th is not None and not th.check(r.ser_db, None, True):
            raise Counterexample(f"additivity SER {r.ser_db:.2f} dB < {th.limit:g} dB for {ex}", ex)

    err = run_property(sess, prop, sess.settings.seed) if items else None
    sers = [e["ser_db"] for e in examples]
    mels = [e["mel_distance"] for e in examples]
    counter = counterexample(err, examples)
    common: dict[str, Any] = dict(codec=codec, bitrate=bitrate, suite="additivity", condition=cond,
                  n_items=len(examples), n_undefined=len(undefined),
                  undefined_reasons=dict(list(undefined.items())[:10]) or None)
    recs = [
        build_record(sess, request, metric="ser_db", value=min(sers) if sers else None,
                     **median_of_draws(sers, sess.settings.seed), counterexample=counter,
                     examples=examples[:50], **common),
        build_record(sess, request, metric="mel_distance", value=max(mels) if mels else None,
                     **median_of_draws(mels, sess.settings.seed), **common),
    ]
    emit(sess, request, codec, recs)
    if err is not None:
        pytest.fail(f"additivity fails for {codec} @ {bitrate:g} kbps ({additivity_kind}); shrunk "
                    f"counterexample: {counter}\n{err}", pytrace=False)
    check(recs)
