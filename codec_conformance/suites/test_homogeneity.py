"""Homogeneity (paper section 5): f(a x) ~ a f(x).

Hypothesis draws a gain between -40 and +12 dB, never closer to 0 dB than 1 dB (there every
codec is homogeneous: such an example tests nothing), and an utterance (normalised to a -14 dBFS
peak, so +12 dB stays below clipping); the range's ends, -40 and +12 dB, are tested first in
every profile, on every utterance (up to 16: properties.gain_ends). The property is the SER of f(a x) against a f(x); the
threshold is the smallest SER allowed. The output-gain vs input-gain curve (the paper's Fig. 2,
right) is measured on a fixed gain grid.
"""
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
    gains_db,
    hypothesis_settings,
    median_of_draws,
    normalise_peak,
    run_property,
    with_gain_ends,
)
from codec_conformance.probes.analysis import SER_DB, homogeneity
from codec_conformance.results.contract import condition_record

PEAK_DBFS = -14.0
SUITE = SuiteInfo(name="homogeneity", label="homogeneity", conditions=lambda: [condition_record("gain")],
                  quantities=(SER_DB,), calibrated=frozenset({"ser_db"}), cost={"test_homogeneity": 3.0})


def test_homogeneity(conformance: ConformanceSession, request: pytest.FixtureRequest,
                     codec_point: tuple[str, float]) -> None:
    codec, bitrate = codec_point
    sess = conformance
    corpus = sess.corpus
    f = sess.runner.roundtrip_fn(codec, bitrate, corpus.sample_rate)
    cond = condition_record("gain", level_dbfs=PEAK_DBFS)
    th = limit(sess, codec, bitrate, SUITE.name, cond, "ser_db")
    # near-silent items have no gain to measure (their output gain is the codec's noise floor):
    # they are counted undefined, and neither drawn nor part of the curve
    items = corpus.speech_items
    undefined = {u.id: f"no speech in the clean item: {u.silent}" for u in corpus.items if u.silent is not None}
    examples = []

    @hypothesis_settings(sess)
    @given(i=st.integers(0, max(0, len(items) - 1)), gain_db=gains_db())
    @with_gain_ends(len(items))
    def prop(i, gain_db):
        x = normalise_peak(items[i].audio, PEAK_DBFS)
        r = homogeneity(f, x, gain_db)
        ex = {"x": items[i].id, "gain_db": round(gain_db, 3), "ser_db": round(r.ser_db, 3),
              "output_gain_db": round(r.output_gain_db, 3)}
        examples.append(ex)
        if th is not None and not th.check(r.ser_db, None, True):
            raise Counterexample(f"homogeneity SER {r.ser_db:.2f} dB < {th.limit:g} dB for {ex}", ex)

    err = run_property(sess, prop, sess.settings.seed) if items else None
    # the gain curve: mean over the first (up to) 3 utterances with speech at each grid gain
    grid = list(sess.profile.gain_grid_db)
    out_gain, sers = [], []
    for g in grid if items else []:
        rs = [homogeneity(f, normalise_peak(u.audio, PEAK_DBFS), g) for u in items[:3]]
        out_gain.append(float(np.mean([r.output_gain_db for r in rs])))
        sers.append(float(np.mean([r.ser_db for r in rs])))
    all_sers = [e["ser_db"] for e in examples]
    counter = counterexample(err, examples)
    rec = build_record(sess, request, codec=codec, bitrate=bitrate, suite="homogeneity",
                       condition=cond, metric="ser_db",
                       value=min(all_sers) if all_sers else None,
                       **median_of_draws(all_sers, sess.settings.seed), n_items=len(examples),
                       n_undefined=len(undefined), undefined_reasons=dict(list(undefined.items())[:10]) or None,
                       counterexample=counter, examples=examples[:50])
    curves = [] if not items else [
        {"codec": codec, "bitrate_kbps": bitrate, "kind": "homogeneity_gain", "level_dbfs": None,
         "x": grid, "x_unit": "dB", "y": out_gain, "y_unit": "dB", "label": "output gain vs input gain"},
        {"codec": codec, "bitrate_kbps": bitrate, "kind": "homogeneity_ser", "level_dbfs": None,
         "x": grid, "x_unit": "dB", "y": sers, "y_unit": "dB", "label": "SER of f(a x) vs a f(x)"},
    ]
    emit(sess, request, codec, [rec], curves)
    if err is not None:
        pytest.fail(f"homogeneity fails for {codec} @ {bitrate:g} kbps; shrunk counterexample: {counter}\n{err}",
                    pytrace=False)
    check([rec])
