from pathlib import Path

import pytest

from codec_conformance.errors import ThresholdError
from codec_conformance.gate.thresholds import ThresholdSet

ROOT = Path(__file__).resolve().parent.parent
METRICS = {"pesq", "wer", "ser_db", "mid_band_ripple_db", "mel_distance"}


def write(tmp_path, text):
    p = tmp_path / "t.toml"
    p.write_text(text)
    return p


def test_lookup_prefers_bitrate_then_default(tmp_path):
    p = write(tmp_path, """
[default.noise.white]
pesq = { max_delta = -1.0 }
[bitrate."6".noise.white]
pesq = { max_delta = -2.0 }
[bitrate."1.5".additivity.speech_speech]
ser_db = { min_value = 3 }
""")
    t = ThresholdSet.load(p, METRICS)
    assert t.lookup(6.0, "noise", "white", "pesq").limit == -2.0
    assert t.lookup(64.0, "noise", "white", "pesq").limit == -1.0
    assert t.lookup(1.5, "additivity", "speech_speech", "ser_db").kind == "min_value"
    assert t.lookup(64.0, "noise", "white", "wer") is None  # recorded, not gated
    assert "bitrate.6.noise.white.pesq" in t.lookup(6.0, "noise", "white", "pesq").source


def test_check_direction():
    from codec_conformance.gate.thresholds import Threshold
    hib = Threshold("max_delta", -0.5, "x")
    assert hib.check(3.0, -0.4, True) and not hib.check(3.0, -0.6, True)
    lib = Threshold("max_delta", 0.1, "x")
    assert lib.check(0.3, 0.05, False) and not lib.check(0.3, 0.2, False)
    assert Threshold("min_value", 10, "x").check(12, None, True)
    assert not Threshold("max_value", 6, "x").check(7, None, False)


@pytest.mark.parametrize("text,key", [
    ('[default.noize.white]\npesq = { max_delta = -1 }', "default.noize"),
    ('[default.noise.pink]\npesq = { max_delta = -1 }', "default.noise.pink"),
    ('[default.noise.white]\npsq = { max_delta = -1 }', "default.noise.white.psq"),
    ('[default.noise.white]\npesq = { max_dleta = -1 }', "default.noise.white.pesq"),
    ('[default.noise.white]\npesq = { max_delta = "a" }', "default.noise.white.pesq"),
    ('[bitrate.fast.noise.white]\npesq = { max_delta = -1 }', "bitrate.fast"),
    ('[defaults]\n', "defaults"),
])
def test_malformed_file_names_the_key(tmp_path, text, key):
    p = write(tmp_path, text)
    with pytest.raises(ThresholdError) as e:
        ThresholdSet.load(p, METRICS)
    assert str(p) in str(e.value) and key in str(e.value)


def test_invalid_toml_names_file(tmp_path):
    p = write(tmp_path, "[default\n")
    with pytest.raises(ThresholdError, match="not valid TOML"):
        ThresholdSet.load(p)


def test_shipped_threshold_files_are_valid():
    from codec_conformance.gate.thresholds import known_metrics
    known = known_metrics()
    assert "si_sdr" not in known and "token_agreement" in known  # never gated; the token suite's
    files = sorted((ROOT / "codec_conformance" / "gate" / "builtin_thresholds").glob("*.toml"))
    assert any(f.name == "default.toml" for f in files)
    for f in files:
        ThresholdSet.load(f, known)


def test_codec_without_file_gets_default(tmp_path):
    (tmp_path / "default.toml").write_text('[default.noise.clean]\npesq = { max_delta = -1 }\n')
    t = ThresholdSet.for_codec("mycodec", tmp_path)
    assert t.lookup(3.0, "noise", "clean", "pesq").limit == -1


def _rec(br, suite, cond, metric, value, delta=None, hib=True):
    return {"codec": "toy", "bitrate_kbps": br, "suite": suite, "condition": cond, "metric": metric,
            "value": value, "delta": delta, "higher_is_better": hib}


def test_update_writes_margins_and_merges_with_the_looser_limit(tmp_path):
    from types import SimpleNamespace
    from codec_conformance.gate.calibration import write_thresholds

    settings = SimpleNamespace(path=lambda v: tmp_path / v, thresholds_dir="th", threshold_margin=0.2, bitrate="all")
    smoke = {"run": {"id": "run-smoke", "profile": "smoke", "seed": 0}, "records": [
        _rec(6.0, "noise", {"kind": "white", "snr_db": 0.0}, "pesq", 2.0, -1.0),
        _rec(64.0, "noise", {"kind": "white", "snr_db": 0.0}, "pesq", 3.0, -0.5),
        _rec(64.0, "noise", {"kind": "white", "snr_db": 0.0}, "wer", 0.2, 0.05, hib=False),
        _rec(64.0, "homogeneity", {"kind": "gain", "gain_db": 6.0}, "ser_db", 20.0)]}
    (path,) = write_thresholds(smoke, settings)
    t = ThresholdSet.load(path)
    assert t.lookup(64, "noise", "white", "pesq").limit == pytest.approx(-0.65)  # -0.5 - max(0.15, 0.1)
    assert t.lookup(64, "noise", "white", "wer").limit == pytest.approx(0.15)    # +0.1 minimum for WER
    assert t.lookup(64, "homogeneity", "gain", "ser_db").limit == pytest.approx(16.0)  # 20 - 0.2*20
    # a harsher run at one bitrate: looser limits win, the tighter one and the other bitrate stay
    standard = {"run": {"id": "run-standard", "profile": "standard", "seed": 0}, "records": [
        _rec(64.0, "noise", {"kind": "white", "snr_db": -5.0}, "pesq", 1.5, -1.2),
        _rec(64.0, "noise", {"kind": "white", "snr_db": -5.0}, "wer", 0.9, 0.4, hib=False),
        _rec(64.0, "homogeneity", {"kind": "gain", "gain_db": 8.0}, "ser_db", 30.0)]}
    write_thresholds(standard, SimpleNamespace(**{**vars(settings), "bitrate": "max"}))
    t = ThresholdSet.load(path)
    assert t.lookup(64, "noise", "white", "pesq").limit == pytest.approx(-1.44)  # looser: new
    assert t.lookup(64, "noise", "white", "wer").limit == pytest.approx(0.5)     # looser: new
    assert t.lookup(64, "homogeneity", "gain", "ser_db").limit == pytest.approx(16.0)  # looser: old
    assert t.lookup(6, "noise", "white", "pesq").limit == pytest.approx(-1.2)    # kept
    text = path.read_text()
    assert "run-standard (profile standard)" in text and "merged with: measured: run run-smoke" in text
    assert "--codec-bitrate=max --codec-profile=standard" in text  # the command of the run that wrote it


# ---------------------------------------------------------------- limits that cannot fail
def test_every_packaged_thresholds_file_has_only_limits_that_can_fail():
    """Each limit of every shipped file can be crossed by some value of its metric (for a delta
    limit: at some oracle inside the metric's range)."""
    from codec_conformance.catalogue import gated_names
    from codec_conformance.gate.thresholds import BUILTIN_DIR
    files = sorted(BUILTIN_DIR.glob("*.toml"))
    assert len(files) >= 7
    for f in files:
        ThresholdSet.load(f, gated_names())  # raises on a limit that cannot fail


@pytest.mark.parametrize("suite, entry, words", [
    ("noise.clean", "pesq = { max_delta = -3.7 }", "PESQ lies in [1.04, 4.64], so codec - oracle is never below -3.6"),
    ("noise.white", "dnsmos = { max_delta = -4.5 }", "DNSMOS OVRL lies in [1, 5]"),
    ("noise.white", "eer = { max_delta = 0.6 }", "EER lies in [0, 0.5]"),
    ("noise.white", "stoi = { min_value = 0.0 }", "STOI lies in [0, 1], all of it inside min_value=0"),
    ("homogeneity.gain", "ser_db = { min_value = -1000 }", None),  # SER is unbounded below: can fail
    ("homogeneity.gain", "ser_db = { max_value = 120 }", "SER lies in [-inf, 120]"),
])
def test_a_limit_that_cannot_fail_is_refused_naming_file_key_and_range(tmp_path, suite, entry, words):
    from codec_conformance.catalogue import gated_names
    p = write(tmp_path, f"[default.{suite}]\n{entry}\n")
    if words is None:
        ThresholdSet.load(p, gated_names())
        return
    with pytest.raises(ThresholdError) as e:
        ThresholdSet.load(p, gated_names())
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg and f"default.{suite}." in msg and "can never fail" in msg, msg
    assert words in msg, msg


def test_a_delta_limit_judged_at_an_oracle_at_the_floor_cannot_fail():
    """PESQ of 0 dB white noise (oracle 1.045) with the old default's -1.5: the bound -0.455 lies
    below PESQ's lowest value, so the record is not a pass; a reachable bound is checked."""
    from codec_conformance.catalogue import info
    from codec_conformance.gate.thresholds import Threshold
    pesq = info("pesq")
    th = Threshold("max_delta", -1.5, "default.toml")
    why = th.cannot_fail(pesq.bounds, True, oracle=1.045, label=pesq.label)
    assert why and "1.045 -1.5 = -0.455" in why and "[1.04, 4.64]" in why
    assert th.cannot_fail(pesq.bounds, True, oracle=4.64) is None
    wer = Threshold("max_delta", 0.4, "x")
    assert wer.cannot_fail(info("wer").bounds, False, oracle=0.9) is None  # WER has no ceiling


def test_the_verdict_does_not_count_a_limit_that_could_not_fail():
    from codec_conformance.results.records import verdict
    rec = {"passed": True, "threshold": {"kind": "max_delta", "limit": -0.1}}
    idle = {"passed": None, "threshold": {"kind": "max_delta", "limit": -1.5, "cannot_fail": "floor"}}
    status, text = verdict({"run": {}, "records": [rec, idle, idle]})
    assert status == "PASS" and "all 1 gated checks passed" in text and "2 limits could not fail" in text
    status, text = verdict({"run": {}, "records": [idle]})
    assert status == "FAIL" and "nothing was gated" in text
