"""The catalogue: each metric, condition kind and suite declares itself once, and a package
outside this repository adds a metric, a condition kind and a codec through entry points alone."""

import pytest

from codec_conformance import catalogue

# the values every reader (baseline tests, compare, the report) gets, in the metric's unit
MMD = {"mel_distance": 0.05, "pesq": 0.1, "pesq_nb": 0.1, "stoi": 0.01, "estoi": 0.01, "si_sdr": 0.5,
       "wer": 0.01, "eer": 0.01, "prosody_corr": 0.02, "dnsmos": 0.1, "emotion_acc": 0.02}


@pytest.mark.parametrize("name,value", sorted(MMD.items()))
def test_every_metric_declares_its_min_meaningful_difference_on_the_class(name, value):
    from codec_conformance.registry import load_metric_class
    cls = load_metric_class(name)
    assert cls.min_meaningful_difference == value
    assert cls.info.name == cls.name == name
    assert catalogue.metrics()[name].min_meaningful_difference == value


def test_variants_are_configuration_not_branches():
    from codec_conformance.metrics import build_metric
    from codec_conformance.metrics.signal import Pesq, Stoi
    nb, est = build_metric("pesq_nb"), build_metric("estoi")
    assert isinstance(nb, Pesq) and nb.mode == "nb" and nb.name == "pesq_nb" and nb.info.label == "PESQ-NB"
    assert isinstance(est, Stoi) and est.extended and est.name == "estoi"
    assert build_metric("pesq").mode == "wb" and build_metric("pesq").name == "pesq"
    assert not catalogue.metrics()["pesq_nb"].default  # run only when asked (--codec-metrics)


def test_one_key_function_per_suite_in_both_directions():
    from codec_conformance.gate.thresholds import suite_keys
    keys = suite_keys()
    assert keys["noise"] == {"clean", "ambient", "white", "reverb"}
    assert keys["tokens"] == {"ambient", "white", "reverb", "gain", "shift", "determinism"}
    assert keys["additivity"] == {"speech_speech", "speech_noise"}
    # a reverb record with a measured RIR keeps its source in the record key, and its thresholds
    # key is its kind: lookup and calibration use the same function
    from codec_conformance.data.conditions import reverb
    rec = reverb(rir="room/a.wav").to_record()
    assert rec["source"] == "room/a.wav" and catalogue.suite("noise").key(rec) == "reverb"


def test_metric_metadata_reaches_the_scheduler_and_corpus_choice():
    from codec_conformance.plugin.roles import estimated_cost
    from codec_conformance.suites import test_noise_robustness as noise

    class Item:
        module = noise
        callspec = type("CS", (), {"params": {"noise_metric": "wer", "noise_condition": None}})()
    assert estimated_cost(Item()) == catalogue.metrics()["wer"].cost == 20.0
    assert catalogue.metrics()["prosody_corr"].corpus == "emotion"
    assert catalogue.metrics()["emotion_acc"].requires == "emotion_model"


def test_a_record_takes_direction_unit_and_gating_from_the_declaration():
    """build_record reads what a quantity is from its MetricInfo; a suite restating it (and so able
    to contradict it) is refused (the suites used to pass direction and unit by hand)."""
    from types import SimpleNamespace

    from codec_conformance.plugin import checks
    sess = SimpleNamespace(settings=SimpleNamespace(baseline=None),
                           thresholds=lambda codec: SimpleNamespace(lookup=lambda *a: None))
    request = SimpleNamespace(node=SimpleNamespace(nodeid="suites/test_homogeneity.py::t"))
    kw = dict(codec="c", bitrate=6.0, suite="homogeneity", condition={"kind": "gain"}, metric="ser_db", value=20.0)
    rec = checks.build_record(sess, request, **kw)
    q = catalogue.info("ser_db")
    assert (rec["direction"], rec["unit"], rec["gated"]) == (q.direction, q.unit, q.gated) == ("higher", "dB", True)
    for restated in ({"direction": "lower"}, {"unit": "dB"}):
        with pytest.raises(ValueError, match="declared in its MetricInfo"):
            checks.build_record(sess, request, **kw, **restated)
    assert checks.build_record(sess, request, **kw, gated=False)["gated"] is False
