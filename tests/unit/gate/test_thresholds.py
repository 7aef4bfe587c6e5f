
import pytest

from codec_conformance.errors import ThresholdError
from codec_conformance.gate.baseline import compare, judge
from codec_conformance.gate.thresholds import ThresholdSet
from codec_conformance.results.contract import make_record
from tests.helpers import ROOT

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
    files = sorted((ROOT / "thresholds").glob("*.toml"))
    assert any(f.name == "default.toml" for f in files)
    for f in files:
        ThresholdSet.load(f, known)


def test_codec_without_file_gets_default(tmp_path):
    (tmp_path / "default.toml").write_text('[default.noise.clean]\npesq = { max_delta = -1 }\n')
    t = ThresholdSet.for_codec("mycodec", tmp_path)
    assert t.lookup(3.0, "noise", "clean", "pesq").limit == -1


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


# ----------------------------------------------------------------------
# Bad configuration and bad input: one clear usage error up front (exit 4) naming the option or
# file; unreadable corpus files skipped, counted and named; near-silent items undefined, with a
# reason, instead of skewing a curve or erroring every noisy-condition test.


@pytest.mark.parametrize("text,key,says", [
    ("[default]\nnoise = 3\n", "default.noise", "must be a table of conditions"),
    ("[default.noise]\nclean = 3\n", "default.noise.clean", "must be a table of metrics"),
    ("[default.noise.clean]\npesq = { max_delta = nan }\n", "default.noise.clean.pesq", "finite"),
    ("[default.noise.clean]\npesq = { max_delta = inf }\n", "default.noise.clean.pesq", "finite"),
    ('[bitrate."nan".noise.clean]\npesq = { max_delta = -1 }\n', "bitrate.nan", "numbers in kbps"),
    ("bitrate = 3\n", "bitrate", "must be a table keyed by kbps"),
])
def test_thresholds_of_the_wrong_structure_name_file_and_key(tmp_path, text, key, says):
    from codec_conformance.gate.thresholds import ThresholdSet
    p = tmp_path / "t.toml"
    p.write_text(text)
    with pytest.raises(ThresholdError) as e:
        ThresholdSet.load(p, {"pesq"})
    assert str(p) in str(e.value) and repr(key) in str(e.value) and says in str(e.value)


def test_thresholds_path_that_is_a_directory(tmp_path):
    from codec_conformance.gate.thresholds import ThresholdSet
    with pytest.raises(ThresholdError, match="is a directory; give a .toml file"):
        ThresholdSet.load(tmp_path)


# ----------------------------------------------------------------------
# What the verdict guarantees (issue: verdict integrity): nothing passes because nothing was
# checked; a baseline that matches nothing is an error; undefined values are regressions; pytest's
# own selection and xdist's grouping see the suite's markers; one record key and one codec id; each
# gated quantity is judged in its own direction.


def test_range_thresholds_check_both_sides(tmp_path):
    from codec_conformance.gate.thresholds import ThresholdSet
    p = tmp_path / "t.toml"
    p.write_text('[default.frequency_response.sweep]\nlow_band_boost_db = { min_value = -25.0, max_value = -17.0 }\n')
    th = ThresholdSet.load(p).lookup(6, "frequency_response", "sweep", "low_band_boost_db")
    assert th.kind == "range" and th.check(-21.0, None, False) is True
    assert th.check(-30.0, None, False) is False and th.check(-10.0, None, False) is False


def test_si_sdr_is_recorded_never_gated(tmp_path):
    from codec_conformance.metrics.signal import SiSdr
    assert SiSdr.gated is False
    base = make_record(codec="c", bitrate_kbps=6, suite="noise", condition={"kind": "clean"}, metric="si_sdr",
                       direction="higher", value=30.0, gated=False)
    worse = dict(base, value=5.0)
    assert judge(base, worse)["status"] == "not gated"
    assert compare([base], [worse]).regressions == []


def test_shipped_frequency_limits_are_two_sided():
    """Every calibrated file gives the two-sided band quantities a range (both sides checked)."""
    import tomllib

    from codec_conformance.gate.thresholds import BUILTIN_DIR
    for f in BUILTIN_DIR.glob("*.toml"):
        t = tomllib.loads(f.read_text())
        blocks = [t.get("default", {})] + list(t.get("bitrate", {}).values())
        for b in blocks:
            for metric, lim in b.get("frequency_response", {}).get("sweep", {}).items():
                if metric in ("low_band_boost_db", "high_band_rolloff_db", "passband_gain_db"):
                    assert set(lim) == {"min_value", "max_value"}, (f.name, metric, lim)


# ------------------------------------------------------------------ issue 29 item 6: huge and deep
@pytest.mark.parametrize("text,says", [
    ("[default.noise.white]\npesq = { max_delta = -" + "9" * 400 + " }\n",
     r"key 'default.noise.white.pesq': limit must be a finite number, got an integer of 400 digits"),
    ("[default.noise.white]\npesq = { max_delta = -" + "9" * 5000 + " }\n",
     r"key 'default.noise.white.pesq' \(line 2\): Exceeds the limit \(4300 digits\)"),
    ("[default.noise.white]\npesq = " + "[" * 5000 + "]" * 5000 + "\n",
     r"key 'default.noise.white.pesq' \(line 2\): arrays or inline tables nested too deeply"),
    ("[default.noise.white]\npesq = " + "{a=" * 5000 + "1" + "}" * 5000 + "\n",
     r"key 'default.noise.white.pesq' \(line 2\): arrays or inline tables nested too deeply"),
])
def test_huge_number_or_deep_nesting_is_a_threshold_error_naming_file_and_key(tmp_path, text, says):
    """A 400-digit limit, a number of more digits than Python converts, or arrays / inline tables
    nested thousands deep: one ThresholdError naming the file and the key. The old code crashed:
    OverflowError from math.isfinite(10**400), ValueError (integer string conversion) and
    RecursionError out of tomllib, none of them a ThresholdError."""
    p = write(tmp_path, text)
    with pytest.raises(ThresholdError, match=rf"^{p}: .*{says}"):
        ThresholdSet.load(p, METRICS)


# ------------------------------------------------------------------ issue 29 item 6: FIFO, /dev/zero
@pytest.mark.parametrize("kind,says", [("fifo", r"is a FIFO \(named pipe\)"), ("zero", "is a character device")])
def test_a_fifo_or_device_as_thresholds_file_is_refused_before_reading(tmp_path, kind, says):
    """A FIFO (or a link to /dev/zero) given as a thresholds file: a ThresholdError naming it,
    at once. The old code opened it: it blocked forever on the FIFO (no writer) and read /dev/zero
    until memory ran out; a FIFO at thresholds/<codec>.toml was passed over for default.toml."""
    import os

    from tests.helpers import within
    p = tmp_path / "t.toml"
    os.mkfifo(p) if kind == "fifo" else p.symlink_to("/dev/zero")
    with within(10):
        with pytest.raises(ThresholdError, match=rf"^{p}: {says}, not a regular file.*give a thresholds"):
            ThresholdSet.load(p, METRICS)
        with pytest.raises(ThresholdError, match=rf"{tmp_path / 'opus.toml'}: {says}"):
            (tmp_path / "opus.toml").unlink(missing_ok=True)
            p.rename(tmp_path / "opus.toml")
            ThresholdSet.for_codec("opus", tmp_path, metrics=METRICS)
