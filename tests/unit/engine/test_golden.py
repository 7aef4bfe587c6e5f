"""Golden vectors (engine/golden.py, issue 25 item 4): the fixed inputs, the difference measure
against ground truth, recording then comparing, a changed weight of a random-init EnCodec, a key
mismatch falling back to the tolerance tier, and corrupt or hostile golden files."""
import copy
import json
import math

import numpy as np
import pytest

from codec_conformance.engine import golden
from codec_conformance.engine.golden import GoldenError
from tests.helpers import make_session


def recorded(tmp_path, codec, bitrates=None, **values):
    s = make_session(tmp_path, codec, **values)
    rates = bitrates or list(s.runner.codec(codec).bitrates_kbps)
    doc = golden.record(s.runner, codec, rates)
    path = golden.write_goldens(doc, golden.golden_path(tmp_path / "goldens", codec))
    return s, golden.read_goldens(path), path


# ------------------------------------------------------------------ inputs and the measure
def test_inputs_are_fixed_on_the_16_bit_grid_and_at_the_codec_rate():
    for sr in (8000, 16000, 24000, 44100):
        a, b = golden.golden_inputs(sr), golden.golden_inputs(sr)
        assert list(a) == list(golden.SIGNALS)
        assert [len(a[k]) for k in golden.SIGNALS] == [sr // 2, sr, sr // 4]
        for k in golden.SIGNALS:
            assert a[k].dtype == np.float32 and np.array_equal(a[k], b[k])
            assert np.array_equal(np.round(a[k] * 32768), a[k] * 32768)  # on the grid: machine-independent bits
        assert 0.4 < np.max(np.abs(a["sweep"])) <= 10 ** (-6 / 20) + 1e-4
        assert abs(np.max(np.abs(a["speech"])) - 10 ** (-3 / 20)) < 1e-3
        assert not np.any(a["silence"])


def test_difference_snr_against_ground_truth():
    rng = np.random.default_rng(0)
    g = (0.5 * np.sin(np.arange(8000) * 0.05) * 32768).astype(np.int16)
    assert golden.difference_snr_db(g, g) == golden.SNR_CAP_DB
    # a difference of known power: 20 dB below the signal
    d = rng.standard_normal(8000)
    d *= np.sqrt(np.mean(g.astype(float) ** 2) / np.mean(d ** 2)) / 10
    c = np.round(g + d).astype(np.int16)
    assert abs(golden.difference_snr_db(g, c) - 20.0) < 0.2
    # a silent golden is judged against -60 dBFS: a -80 dBFS difference is 20 dB below it
    z = np.zeros(8000, np.int16)
    noise = rng.standard_normal(8000)
    noise *= 10 ** (-80 / 20) * 32768 / np.sqrt(np.mean(noise ** 2))
    assert abs(golden.difference_snr_db(z, np.round(noise).astype(np.int16)) - 20.0) < 0.5
    # a length change is a difference
    assert golden.difference_snr_db(g, g[:-100]) < golden.SNR_CAP_DB


def test_pcm_beyond_full_scale_keeps_its_shape_on_a_wider_grid():
    y = np.array([0.0, 1.5, -3.0], np.float32)
    assert golden.pcm_scale(y) == 4.0 and golden.pcm_scale(y / 4) == 1.0
    assert np.allclose(golden.to_grid(y, 4.0) / 32768 * 4, y)


# ------------------------------------------------------------------ record, compare
def test_recording_then_comparing_is_bit_exact(tmp_path):
    s, doc, path = recorded(tmp_path, "mulaw")
    assert doc["deterministic"] and doc["key"]["codec"] == "mulaw" and doc["sample_rate"] == 8000
    assert doc["key"]["device"] == "cpu/" + __import__("platform").machine()  # integer arithmetic: no ISA
    cmp = golden.compare(s.runner, "mulaw", 64.0, doc, path)
    assert cmp.tier == "bit-exact" and cmp.passed and not cmp.why_tolerance
    assert [x.snr_db for x in cmp.signals] == [golden.SNR_CAP_DB] * 3


def test_a_changed_codec_fails_the_bit_exact_tier(tmp_path, monkeypatch):
    s, doc, path = recorded(tmp_path, "identity")
    codec = s.runner.codec("identity")
    monkeypatch.setattr(type(codec), "roundtrip_batch", lambda self, b, br: b * np.float32(1 - 2 ** -20))
    cmp = golden.compare(s.runner, "identity", codec.bitrates_kbps[0], doc, path)
    assert cmp.tier == "bit-exact" and not cmp.passed
    assert all("SHA-256 differs" in x.note for x in cmp.signals[:2])
    assert "sweep: not bit-exact" in cmp.failures()[0]


def test_changing_one_weight_of_a_random_init_encodec_fails(tmp_path):
    """Issue 25: changing one weight of a stored golden codec fails its golden comparison (EnCodec's
    architecture at random-init, reduced size: tests/small_codecs.py)."""
    pytest.importorskip("encodec")
    from tests.small_codecs import tweak_one_weight
    name = "tests.small_codecs:small_encodec"
    s, doc, path = recorded(tmp_path, name, bitrates=[1.5], device="cpu")
    assert doc["deterministic"] and doc["bitrates"]["1.5"]["signals"]["speech"]["codes"] is not None
    assert golden.compare(s.runner, name, 1.5, doc, path).passed  # unchanged: bit-exact
    tweak_one_weight(s.runner.codec(name).model)
    cmp = golden.compare(s.runner, name, 1.5, doc, path)
    assert cmp.tier == "bit-exact" and not cmp.passed
    assert all(x.codes_identical == 1.0 for x in cmp.signals)  # a decoder weight: same codes, other audio
    assert not any(x.bit_exact for x in cmp.signals[:2])


def test_another_key_falls_back_to_the_tolerance_tier_with_the_differences(tmp_path):
    s, doc, path = recorded(tmp_path, "g722")
    other = copy.deepcopy(doc)
    other["key"]["libraries"]["av"] = "0.0.1"
    other["key"]["device"] = "cpu/riscv"
    cmp = golden.compare(s.runner, "g722", 64.0, other, path)
    assert cmp.tier == "tolerance" and cmp.passed
    assert any("av 0.0.1 (goldens) vs" in w for w in cmp.why_tolerance)
    assert any(w.startswith("device: cpu/riscv (goldens) vs cpu/") for w in cmp.why_tolerance)
    # within the tolerance means within it: a golden 1 dB louder is an 18 dB difference, below 30 dB
    louder = copy.deepcopy(other)
    x = golden.golden_inputs(16000)
    for name, sig in louder["bitrates"]["64"]["signals"].items():
        pcm = golden.decode_pcm(sig, len(x[name]), path, name)
        sig["pcm_flac"] = golden.flac_b64(np.round(pcm * 10 ** (1 / 20)).astype(np.int16), 16000)
    cmp = golden.compare(s.runner, "g722", 64.0, louder, path)
    assert cmp.tier == "tolerance" and not cmp.passed
    assert "below the tolerance 30 dB" in cmp.failures()[0]
    assert 18.0 < cmp.signals[1].snr_db < 20.0  # speech: 20 log10(1 / (10^(1/20) - 1)) = 18.3 dB


def test_a_non_deterministic_codec_is_recorded_so_and_compared_within_the_tolerance(tmp_path, monkeypatch):
    s = make_session(tmp_path, "identity")
    codec = s.runner.codec("identity")
    calls = iter(range(10 ** 6))
    monkeypatch.setattr(type(codec), "roundtrip_batch",
                        lambda self, b, br: b + np.float32(1e-7) * (next(calls) % 2))
    doc = golden.record(s.runner, "identity", [256.0])
    assert doc["deterministic"] is False
    path = golden.write_goldens(doc, tmp_path / "identity.json")
    cmp = golden.compare(s.runner, "identity", 256.0, golden.read_goldens(path), path)
    assert cmp.tier == "tolerance" and cmp.passed and "varied between two calls" in cmp.why_tolerance[-1]


def test_inputs_that_changed_since_recording_are_one_error(tmp_path):
    s, doc, path = recorded(tmp_path, "mulaw")
    doc["inputs"][1]["sha256"] = "0" * 64
    with pytest.raises(GoldenError, match=r"input 'speech' here is not the one the goldens were recorded from.*"
                                          r"codec-conformance golden --codec mulaw"):
        golden.compare(s.runner, "mulaw", 64.0, doc, path)


# ------------------------------------------------------------------ corrupt and hostile files
def good(tmp_path):
    return recorded(tmp_path, "mulaw")[1]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("key"), r"the file lacks 'key'"),
    (lambda d: d.update(schema="x"), r"schema must be 'codec-conformance/goldens/1'"),
    (lambda d: d["tolerance"].update(snr_db=float("nan")), r"not valid JSON|tolerance.snr_db"),
    (lambda d: d["tolerance"].update(snr_db=1e300), r"tolerance.snr_db must be a finite number in \[1e-09, 120\]"),
    (lambda d: d["tolerance"].update(snr_db=True), r"tolerance.snr_db must be a finite number"),
    (lambda d: d["inputs"].pop(), r"inputs must be the input set"),
    (lambda d: d["inputs"][0].update(samples=10 ** 12), r"inputs\[0\].samples must be an integer in"),
    (lambda d: d["bitrates"]["64"]["signals"]["sweep"].update(codes=[[1, 2], [3]]), r"codes\[1\] must be a row of 2"),
    (lambda d: d["bitrates"]["64"]["signals"]["sweep"].update(codes=[[-1]]), r"codes\[0\]\[0\] must be an integer code"),
    (lambda d: d["bitrates"]["64"]["signals"]["sweep"].update(codes=[[1.5]]), r"codes\[0\]\[0\] must be an integer"),
    (lambda d: d["bitrates"]["64"]["signals"]["sweep"].update(pcm_sha256="zz"), r"pcm_sha256 must be a SHA-256"),
    (lambda d: d["bitrates"]["64"]["signals"]["sweep"].update(pcm_flac="x" * 10 ** 7), r"pcm_flac must be a string"),
    (lambda d: d["bitrates"].update({"7": d["bitrates"]["64"]}), r"bitrates.7 must be named by its bitrate"),
    (lambda d: d["key"].update(libraries={str(i): "1" for i in range(100)}), r"key.libraries must be at most 64"),
])
def test_a_corrupt_golden_file_is_one_clear_error(tmp_path, edit, message):
    doc = good(tmp_path)
    edit(doc)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(GoldenError, match=message) as e:
        golden.read_goldens(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text, message", [
    ("not json", r"not valid JSON"),
    ("[" * 100000 + "]" * 100000, r"nested too deeply|not valid JSON"),
    ('{"schema": NaN}', r"not valid JSON \(NaN is not a number JSON allows\)"),
    ("[]", r"the file must be an object, not an array"),
])
def test_a_file_that_is_not_a_golden_file_is_one_clear_error(tmp_path, text, message):
    p = tmp_path / "x.json"
    p.write_text(text)
    with pytest.raises(GoldenError, match=message):
        golden.read_goldens(p)


def test_flac_that_is_not_flac_or_of_the_wrong_length_is_one_clear_error(tmp_path):
    s, doc, path = recorded(tmp_path, "mulaw")
    sig = doc["bitrates"]["64"]["signals"]["speech"]
    bad = dict(sig, pcm_flac="bm90IGZsYWM=")  # base64 of "not flac"
    with pytest.raises(GoldenError, match=r"pcm_flac is not base64 FLAC audio"):
        golden.decode_pcm(bad, 8000, path, "speech")
    short = dict(sig, pcm_flac=golden.flac_b64(np.zeros(10, np.int16), 8000))
    with pytest.raises(GoldenError, match=r"holds 10 samples x 1 channels; the input has 8000"):
        golden.decode_pcm(short, 8000, path, "speech")


def test_a_file_too_large_is_refused_before_it_is_read(tmp_path, monkeypatch):
    p = tmp_path / "big.json"
    p.write_text("{}")
    monkeypatch.setattr(golden, "MAX_FILE_BYTES", 1)
    with pytest.raises(GoldenError, match="more than a golden file may be"):
        golden.read_goldens(p)


def test_the_shipped_goldens_are_valid_and_bit_exact_here(tmp_path):
    """The goldens shipped in goldens/ (identity, mulaw, g722, amrnb: integer arithmetic) read and
    compare bit-exactly on this machine."""
    shipped = golden.shipped_dir()
    assert shipped is not None
    names = sorted(p.stem for p in shipped.glob("*.json"))
    assert names == ["amrnb", "g722", "identity", "mulaw"]
    for name in names:
        doc = golden.read_goldens(shipped / f"{name}.json")
        s = make_session(tmp_path, name)
        b = min(e["bitrate_kbps"] for e in doc["bitrates"].values())
        cmp = golden.compare(s.runner, name, b, doc, shipped / f"{name}.json")
        assert cmp.tier == "bit-exact" and cmp.passed, (name, cmp.why_tolerance, cmp.failures())
        assert math.isfinite(doc["tolerance"]["snr_db"])


def test_the_key_of_a_subclassed_adapter_names_its_libraries_and_is_the_same_in_a_fresh_session(tmp_path):
    """A codec subclassing an adapter is keyed by the adapter's libraries; the key is taken after
    the codec ran, so a session that compares before building the model (torch not yet imported
    by it) gets the recording's key (this failed: torch and the device's torch part were missing)."""
    pytest.importorskip("encodec")
    from tests.small_codecs import small_encodec
    assert set(golden.libraries_of(small_encodec(device="cpu"))) == {"encodec", "torch", "numpy"}
    name = "tests.small_codecs:small_encodec"
    _, doc, path = recorded(tmp_path, name, bitrates=[1.5], device="cpu")
    fresh = make_session(tmp_path, name, device="cpu")
    cmp = golden.compare(fresh.runner, name, 1.5, doc, path)
    assert cmp.tier == "bit-exact" and cmp.passed, cmp.why_tolerance
