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


def test_update_writes_margins_and_replaces_the_file(tmp_path):
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
    # a second run of the homogeneity suite at 64 kbps replaces that table whole (nothing of the
    # first run is kept there, even the looser limit); what it did not measure is kept and named
    other = {"run": {"id": "run-2", "profile": "smoke", "seed": 1}, "records": [
        _rec(64.0, "homogeneity", {"kind": "gain", "gain_db": 8.0}, "ser_db", 30.0)]}
    write_thresholds(other, settings)
    t = ThresholdSet.load(path)
    assert t.lookup(64, "homogeneity", "gain", "ser_db").limit == pytest.approx(24.0)
    assert t.lookup(64, "noise", "white", "pesq").limit == pytest.approx(-0.65)  # a suite it did not run: kept
    assert t.lookup(6, "noise", "white", "pesq").limit == pytest.approx(-1.2)
    text = path.read_text()
    assert "run-2" in text and "run-smoke" not in text and 'Kept as they were (not measured by these runs): bitrate."6" noise' in text


def _runs(quality: float, seeds=(0, 1, 2)) -> list[dict]:
    """Runs of a codec under several seeds; ``quality`` shifts every measurement (higher: better)."""
    out = []
    for s in seeds:
        jitter = 0.01 * s
        out.append({"run": {"id": f"q{quality}-s{s}", "profile": "smoke", "seed": s}, "records": [
            _rec(64.0, "noise", {"kind": "white", "snr_db": 10.0}, "pesq", 2.5 + quality, -1.0 + quality - jitter),
            _rec(64.0, "noise", {"kind": "white", "snr_db": 10.0}, "wer", 0.3, 0.2 - quality / 4 + jitter, hib=False),
            _rec(64.0, "additivity", {"kind": "mixture", "mixture": "speech_speech"}, "ser_db",
                 10.0 + 10 * quality - jitter),
            _rec(64.0, "frequency_response", {"kind": "sweep", "level_dbfs": 0.0}, "mid_band_ripple_db",
                 8.0 - 4 * quality + jitter, hib=False)]})
        for r in out[-1]["records"]:
            if r["metric"] == "pesq":
                r["oracle"] = r["value"] - r["delta"]
    return out


def test_recalibrating_from_a_better_codecs_runs_makes_every_limit_tighter(tmp_path):
    """The old policy merged a new run into the file keeping the looser limit, so limits could
    only widen; limits now come from the runs given, and a better codec gets tighter ones."""
    from codec_conformance.gate.calibration import calibrate
    (worse,) = calibrate(_runs(0.0), tmp_path / "a", 0.2)
    (better,) = calibrate(_runs(0.5), tmp_path / "b", 0.2)
    a, b = ThresholdSet.load(worse), ThresholdSet.load(better)
    keys = [("noise", "white", "pesq"), ("noise", "white", "wer"), ("additivity", "speech_speech", "ser_db"),
            ("frequency_response", "sweep", "mid_band_ripple_db")]
    tighter = {"pesq": lambda x, y: y > x, "wer": lambda x, y: y < x, "ser_db": lambda x, y: y > x,
               "mid_band_ripple_db": lambda x, y: y < x}
    for suite, cond, metric in keys:
        old, new = a.lookup(64, suite, cond, metric), b.lookup(64, suite, cond, metric)
        assert tighter[metric](old.limit, new.limit), (metric, old.limit, new.limit)
    # the worst seed decides: seed 2's delta -1.02 -> -1.02 - max(0.15, 0.2 x 1.02)
    assert a.lookup(64, "noise", "white", "pesq").limit == pytest.approx(-1.02 - 0.204)
    text = worse.read_text()
    assert "3 runs" in text and "seeds 0, 1, 2" in text and "q0.0-s2" in text


def test_calibration_margin_is_capped_by_the_metrics_maximum():
    from codec_conformance.gate.calibration import derive
    r = _rec(64.0, "homogeneity", {"kind": "gain"}, "ser_db", 100.0)  # 0.2 x 100 = 20 dB > the 6 dB cap
    assert derive([r], 0.2)[64.0]["homogeneity"]["gain"]["ser_db"] == ("min_value", pytest.approx(94.0))


def test_calibration_leaves_out_a_limit_that_could_not_fail():
    """PESQ of a codec at the floor (1.06 with an oracle of 1.08): delta -0.02 - 0.15 puts the
    bound below 1.04, so no limit is written, and the header says why."""
    from codec_conformance.gate.calibration import derive
    r = _rec(64.0, "noise", {"kind": "white", "snr_db": 0.0}, "pesq", 1.06, -0.02)
    r["oracle"] = 1.08
    skipped: list = []
    assert derive([r], 0.2, skipped) == {} and "1.08" in skipped[0] and "[1.04, 4.64]" in skipped[0]
    r2 = dict(r, condition={"kind": "white", "snr_db": 20.0}, value=2.9, delta=-0.1, oracle=3.0)
    table = derive([r, r2], 0.2)  # reachable at 20 dB: the key is written
    assert table[64.0]["noise"]["white"]["pesq"] == ("max_delta", pytest.approx(-0.25))


def test_calibrate_command_writes_a_file_from_several_seeds(tmp_path):
    import json

    from codec_conformance.cli import main
    from codec_conformance.results.contract import SCHEMA, make_record
    paths = []
    for seed, ser in ((0, 12.0), (1, 9.5)):
        doc = {"schema": SCHEMA, "run": {"id": f"run-{seed}", "profile": "smoke", "seed": seed}, "codecs": [],
               "curves": [], "records": [make_record(
                   codec="toy", bitrate_kbps=8, suite="additivity", metric="ser_db", direction="higher",
                   condition={"kind": "mixture", "mixture": "speech_speech"}, value=ser, test_id="t")]}
        paths.append(tmp_path / f"r{seed}.json")
        paths[-1].write_text(json.dumps(doc))
    assert main(["calibrate", *map(str, paths), "-o", str(tmp_path / "th"), "--name", "default"]) == 0
    t = ThresholdSet.load(tmp_path / "th" / "default.toml")  # anchors' limits, for any bitrate
    assert t.lookup(64, "additivity", "speech_speech", "ser_db").limit == pytest.approx(9.5 - 3.0)
    assert "[default.additivity.speech_speech]" in (tmp_path / "th" / "default.toml").read_text()


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
    from codec_conformance.results.contract import verdict
    rec = {"passed": True, "threshold": {"kind": "max_delta", "limit": -0.1}}
    idle = {"passed": None, "threshold": {"kind": "max_delta", "limit": -1.5, "cannot_fail": "floor"}}
    status, text = verdict({"run": {}, "records": [rec, idle, idle]})
    assert status == "PASS" and "all 1 gated checks passed" in text and "2 limits could not fail" in text
    status, text = verdict({"run": {}, "records": [idle]})
    assert status == "FAIL" and "nothing was gated" in text
