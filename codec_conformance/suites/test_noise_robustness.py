"""Noise robustness (paper section 4): codec x bitrate x condition x metric.

Each test degrades the corpus by one condition (clean, ambient noise or white noise at an SNR,
reverberation), computes the metric on the uncoded degraded signal (the oracle) and on the
codec's output, and checks delta = codec - oracle against the bitrate's threshold.
"""
import pytest

from codec_conformance.catalogue import Condition, SuiteInfo, condition_kinds, metrics
from codec_conformance.engine.session import ConformanceSession
from codec_conformance.gate.statistics import record_statistics
from codec_conformance.plugin.checks import build_record, check, emit, worst_case_clips


def _cost(params) -> float:
    info = metrics().get(params.get("noise_metric"))
    cost = info.cost if info is not None else 1.0
    if getattr(params.get("noise_condition"), "kind", "clean") != "clean":
        cost *= 1.3  # noisy input: Whisper's temperature fallback decodes again
    return cost


# the grid: every condition kind that declares this suite (each kind's own grid per profile),
# times every metric of the run; thresholds key: the condition kind
SUITE = SuiteInfo(
    name="noise", label="noise robustness",
    conditions=lambda: [{"kind": k.name} for k in condition_kinds().values() if "noise" in k.suites],
    params={"noise_condition": lambda sess: [(c.id, c) for c in sess.conditions("noise")],
            "noise_metric": lambda sess: [(m, m) for m in sess.metric_names()]},
    limit_on_delta=True, item_cost=_cost)


def test_noise_robustness(conformance: ConformanceSession, request: pytest.FixtureRequest,
                          codec_point: tuple[str, float], noise_condition: Condition, noise_metric: str) -> None:
    codec, bitrate = codec_point
    value, oracle = conformance.noise_scores(codec, bitrate, noise_condition, noise_metric)
    m = conformance.scorer.metric(noise_metric)
    undefined = {**{f"codec:{k}": v for k, v in value.undefined.items()},
                 **{f"oracle:{k}": v for k, v in oracle.undefined.items()}}
    clips, files = None, None
    if noise_metric == "mel_distance":  # keep the worst item's audio for the report's players
        corpus = conformance.corpus_for(noise_metric)
        deltas = [(v - o) if v is not None and o is not None else float("-inf")
                  for v, o in zip(value.per_item, oracle.per_item)]
        k = max(range(len(deltas)), key=deltas.__getitem__)
        noisy = conformance.degraded(noise_condition, corpus)
        out = conformance.runner.roundtrip(codec, bitrate, noisy, corpus.sample_rate, tag=(noise_condition, corpus.name))
        clips, files = worst_case_clips(f"{codec}-{bitrate:g}-{noise_condition.id}", corpus.items[k].id,
                                        corpus.sample_rate, corpus.items[k].audio, noisy[k], out[k])
    corpus = conformance.corpus_for(noise_metric)
    stats = record_statistics(value, oracle, corpus.items, conformance.settings.seed, codec, f"{bitrate:g}",
                              noise_condition.id, noise_metric)
    rec = build_record(
        conformance, request, codec=codec, bitrate=bitrate, suite="noise",
        condition=noise_condition.to_record(), metric=noise_metric,
        value=value.value, oracle=oracle.value, n_items=value.n_items,
        n_undefined=value.n_undefined + oracle.n_undefined,
        undefined_reasons=dict(list(undefined.items())[:10]) or None,
        stand_in=bool(m.stand_in), evaluator=m.evaluator,
        corpus=conformance.corpus_for(noise_metric).name,
        details={k: v for k, v in value.details.items() if k != "hypotheses"} or None,
        audio=clips, **stats,
    )
    reason = None
    if value.value is None and oracle.value is not None:  # the codec destroyed what the metric needs
        reason = (f"{noise_metric} is undefined for every codec output under {noise_condition.id} "
                  f"although the oracle is defined: {list(value.undefined.values())[:3]}")
        rec["passed"], rec["failure"] = False, reason
    emit(conformance, request, codec, [rec], audio_files=files)
    if reason:
        pytest.fail(reason, pytrace=False)
    check([rec])
