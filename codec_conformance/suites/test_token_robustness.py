"""Token robustness: do a codec's codes stay put when the input is noisy, quieter or shifted?

A speech language model trained on the tokens of clean speech meets other tokens in the field.
Per codec x bitrate, on the corpus, between the codes of the reference input and of a perturbed
one, per RVQ level (level 1 separately: SpeechTokenizer's semantic level), this suite measures
the unit edit rate (Levenshtein distance over frames / frames) and the frame-level token
agreement (analysis.TOKEN_METRICS):

- noise: clean speech vs the same speech under each noise condition of the noise suite;
- gain: x vs a x, Hypothesis drawing the gain (-40..+12 dB, |gain| >= 1 dB; both ends tested
  first in every profile, on up to 16 utterances) and the utterance, seeded like the other suites; plus the agreement on the profile's gain grid (a curve);
- shift: x vs x delayed by 1 sample, hop/4 and hop/2 (frames compared index by index): what a
  sub-frame shift alone does to the tokens, on every utterance;
- determinism: encoding the same input twice must give identical codes (a hard failure).

Codecs that expose no codes (``encode``/``decode``: the reference codecs) have no token tests:
each is skipped as not applicable.
"""
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from codec_conformance.catalogue import SuiteInfo, condition_kinds
from codec_conformance.data.audio import resample
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
from codec_conformance.probes.analysis import (
    IDENTICAL_CODES,
    TOKEN_METRICS,
    TOKEN_QUANTITIES,
    level_agreement,
    level_edit_rates,
    token_summary,
)
from codec_conformance.results.contract import condition_record

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


@dataclass
class TokenPoint:
    """The codec point a token test measures: the session, the codec (one that exposes codes) at
    one bitrate, and the corpus; what every test of this suite starts from."""
    sess: ConformanceSession
    request: pytest.FixtureRequest
    codec: str
    bitrate: float
    coder: Any  # the codec object: token_hop, sample_rate

    @property
    def corpus(self):
        return self.sess.corpus

    @property
    def sr(self) -> int:
        return self.corpus.sample_rate

    def codes(self, x: np.ndarray, sr: int | None = None, memo: bool = True) -> np.ndarray:
        """The codes of ``x`` (at the corpus rate unless ``sr`` says otherwise)."""
        return self.sess.runner.codes(self.codec, self.bitrate, x, self.sr if sr is None else sr, memo=memo)

    def record(self, cond: dict, metric: str, value, **extra) -> dict:
        return build_record(self.sess, self.request, codec=self.codec, bitrate=self.bitrate, suite=SUITE.name,
                            condition=cond, metric=metric, value=value, **extra)

    def summary_records(self, cond: dict, pairs, **extra) -> list[dict]:
        """One record per token metric over the (reference codes, perturbed codes) ``pairs`` (one
        per corpus item), with its per-item values (the value is their mean): the baseline gate's
        paired test then judges a change item by item, as in the noise suite."""
        summary = token_summary(pairs)
        per = [token_summary([pair]) for pair in pairs]
        ids = [u.id for u in self.corpus.items][:len(pairs)]
        return [self.record(cond, m, summary[m], n_items=len(pairs),
                            per_item={"ids": ids, "value": [round(x[m], 6) for x in per]},
                            edit_rate_per_level=summary["edit_rate_per_level"],
                            agreement_per_level=summary["agreement_per_level"], **extra)
                for m in TOKEN_METRICS]

    def emit(self, recs: list[dict], curves: list[dict] | None = None) -> None:
        emit(self.sess, self.request, self.codec, recs, curves or [])


@pytest.fixture
def token_point(conformance: ConformanceSession, request: pytest.FixtureRequest,
                codec_point: tuple[str, float]) -> TokenPoint:
    """The codec point under test; a codec that exposes no codes (no encode/decode) is skipped as
    not applicable."""
    codec, bitrate = codec_point
    coder = conformance.runner.token_codec(codec)
    if coder is None:
        pytest.skip(f"not applicable: codec {codec!r} exposes no codes (no encode/decode)")
    return TokenPoint(conformance, request, codec, bitrate, coder)


def test_token_noise(token_point, token_condition):
    p = token_point
    noisy = p.sess.degraded(token_condition, p.corpus)
    pairs = [(p.codes(u.audio), p.codes(y)) for u, y in zip(p.corpus.items, noisy)]
    recs = p.summary_records(token_condition.to_record(), pairs)
    p.emit(recs)
    check(recs)


def test_token_gain(token_point):
    p = token_point
    sess, codec, bitrate, corpus = p.sess, p.codec, p.bitrate, p.corpus
    cond = condition_record("gain", level_dbfs=PEAK_DBFS)
    th = limit(sess, codec, bitrate, SUITE.name, cond, "unit_edit_rate")
    n = len(corpus.items)
    examples = []

    @hypothesis_settings(sess)
    @given(i=st.integers(0, n - 1), gain_db=gains_db())
    @with_gain_ends(n)
    def prop(i, gain_db):
        x = normalise_peak(corpus.items[i].audio, PEAK_DBFS)
        ref, test = p.codes(x), p.codes((x * 10 ** (gain_db / 20)).astype(np.float32))
        edit, agree = level_edit_rates(ref, test), level_agreement(ref, test)
        ex = {"x": corpus.items[i].id, "gain_db": round(gain_db, 3), "unit_edit_rate": round(float(np.mean(edit)), 4),
              "token_agreement": round(float(np.mean(agree)), 4), "token_agreement_level1": round(agree[0], 4)}
        examples.append(ex)
        if th is not None and not th.check(ex["unit_edit_rate"], None, False):
            raise Counterexample(f"unit edit rate {ex['unit_edit_rate']:.3f} beyond {th.text()} for {ex}", ex)

    err = run_property(sess, prop, sess.settings.seed)
    grid = list(sess.profile.gain_grid_db)
    curve_mean, curve_l1 = [], []
    for g in grid:  # agreement on the gain grid, over the first (up to) 3 utterances
        pairs = []
        for u in corpus.items[:3]:
            x = normalise_peak(u.audio, PEAK_DBFS)
            pairs.append((p.codes(x), p.codes((x * 10 ** (g / 20)).astype(np.float32))))
        s = token_summary(pairs)
        curve_mean.append(s["token_agreement"])
        curve_l1.append(s["token_agreement_level1"])
    counter = counterexample(err, examples)
    worst = {"unit_edit_rate": max(e["unit_edit_rate"] for e in examples),
             "token_agreement": min(e["token_agreement"] for e in examples),
             "token_agreement_level1": min(e["token_agreement_level1"] for e in examples)}
    recs = [p.record(cond, m, v, **median_of_draws([e[m] for e in examples], p.sess.settings.seed),
                     n_items=len(examples), counterexample=counter if m == "unit_edit_rate" else None,
                     examples=examples[:50] if m == "unit_edit_rate" else None)
            for m, v in worst.items()]
    curves = [{"codec": codec, "bitrate_kbps": bitrate, "kind": "token_gain", "level_dbfs": PEAK_DBFS,
               "x": grid, "x_unit": "dB", "y": y, "y_unit": "fraction", "label": label}
              for y, label in ((curve_mean, "token agreement (mean over levels)"),
                               (curve_l1, "token agreement (level 1)"))]
    p.emit(recs, curves)
    if err is not None:
        pytest.fail(f"token gain robustness fails for {codec} @ {bitrate:g} kbps; shrunk counterexample: "
                    f"{counter}\n{err}", pytrace=False)
    check(recs)


def test_token_shift(token_point, token_shift):
    p = token_point
    hop = int(p.coder.token_hop)
    shift = {"1-sample": 1, "hop/4": hop // 4, "hop/2": hop // 2}[token_shift]
    sr = int(p.coder.sample_rate)  # shifts are in the codec's own samples: encode at its rate
    pairs = []
    for u in p.corpus.items:
        x = resample(u.audio, p.sr, sr).astype(np.float32)
        delayed = np.concatenate([np.zeros(shift, np.float32), x])
        pairs.append((p.codes(x, sr), p.codes(delayed, sr)))
    recs = p.summary_records(condition_record("shift", shift_samples=shift), pairs, hop_samples=hop)
    p.emit(recs)
    check(recs)


def test_token_determinism(token_point):
    p = token_point
    same, total, differing = 0, 0, []
    for u in p.corpus.items:
        a, b = p.codes(u.audio, memo=False), p.codes(u.audio, memo=False)
        ok = a.shape == b.shape and bool(np.array_equal(a, b))
        eq = int(np.sum(a == b)) if a.shape == b.shape else 0
        same, total = same + eq, total + a.size
        if not ok:
            differing.append(u.id)
    rec = p.record(condition_record("determinism"), "identical_codes", same / max(1, total),
                   n_items=len(p.corpus.items), differing_items=differing or None)
    if differing:
        rec["passed"] = False
        rec["failure"] = f"encoding the same input twice gave different codes for {len(differing)} items"
    p.emit([rec])
    if differing:
        pytest.fail(f"{p.codec} @ {p.bitrate:g} kbps is not deterministic: {rec['failure']}: {differing[:5]}",
                    pytrace=False)
    check([rec])
