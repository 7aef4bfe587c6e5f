"""The degradation ladder (codec_conformance/codecs/ladder.py): each rung does what it claims
against ground truth, rungs are selected as ``ladder:<rung>``, the passband gain measures a
gain, and end to end a -20 dB gain fails the frequency-response suite where identity passes."""
import importlib.metadata as md

import numpy as np
import pytest

from codec_conformance import registry
from codec_conformance.codecs import ladder as L
from codec_conformance.errors import CodecError
from codec_conformance.probes.analysis import band_summary, frequency_response
from tests.helpers import ROOT

SR = 16000


def _tone(f_hz: float, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * f_hz * t)).astype(np.float32)


def _speechlike(n: int = SR * 2, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    env = np.abs(np.sin(2 * np.pi * 3 * np.arange(n) / SR))  # syllable-rate envelope
    return (0.1 * env * rng.standard_normal(n)).astype(np.float32)


def _rt(rung: str, x: np.ndarray) -> np.ndarray:
    c = L.make_ladder_codec(rung)
    return np.asarray(c.roundtrip(x, c.bitrates_kbps[0]), np.float64)


def _db(p: float) -> float:
    return float(10 * np.log10(p))


def _level_db(y, x) -> float:
    return _db(np.sum(np.asarray(y, np.float64) ** 2) / np.sum(np.asarray(x, np.float64) ** 2))


# ----------------------------------------------------------------------------- the rungs
def test_gains_are_exact():
    x = _speechlike()
    for rung, db in (("gain_m20db", -20.0), ("gain_m6db", -6.0)):
        y = _rt(rung, x)
        np.testing.assert_allclose(y, x * 10 ** (db / 20), rtol=1e-6, atol=1e-9)
        assert abs(_level_db(y, x) - db) < 1e-4


@pytest.mark.parametrize("rung,db", [("gain_p6db_delay", 6.0), ("gain_m6db_delay", -6.0)])
def test_delay_rungs_delay_exactly(rung, db):
    x = _speechlike()
    y = _rt(rung, x)
    d = L.DELAY_SAMPLES
    assert np.all(y[:d] == 0)
    np.testing.assert_allclose(y[d:], x[:-d] * 10 ** (db / 20), rtol=1e-6, atol=1e-9)
    lag = int(np.argmax(np.correlate(y[: SR // 2], x[: SR // 2], "full"))) - (SR // 2 - 1)
    assert lag == d


def test_lowpass_attenuates_above_cutoff_and_passes_below():
    for rung, cut in (("lowpass4k", 4000.0), ("lowpass2k", 2000.0)):
        inside = slice(SR // 4, -SR // 4)  # away from filtfilt's edges
        passed = _rt(rung, _tone(cut / 4))
        assert abs(_level_db(passed[inside], _tone(cut / 4)[inside])) < 0.1
        assert _level_db(_rt(rung, _tone(cut * 1.5))[inside], _tone(cut * 1.5)[inside]) < -40
        assert abs(_level_db(_rt(rung, _tone(cut))[inside], _tone(cut)[inside]) + 6.02) < 0.3  # |H|^2 at fc


def test_highpass_and_zero_phase():
    inside = slice(SR // 4, -SR // 4)
    assert _level_db(_rt("highpass300", _tone(100.0))[inside], _tone(100.0)[inside]) < -60
    x = _tone(1000.0)
    y = _rt("highpass300", x)
    np.testing.assert_allclose(y[inside], x[inside], atol=2e-3)  # no delay, no phase shift


def test_quantisers_levels():
    x = _tone(440.0, amp=0.9)
    for bits in (4, 6):
        y = _rt(f"quant{bits}bit", x)
        step = 2.0 / 2 ** bits
        np.testing.assert_allclose(y / step, np.round(y / step), atol=1e-4)  # on the grid
        assert len(np.unique(np.round(y / step))) <= 2 ** bits
        assert np.max(np.abs(y - x)) <= step / 2 + 1e-6


def test_clippers():
    x = _tone(440.0, amp=0.5)
    y = _rt("hardclip", x)
    assert np.isclose(np.max(np.abs(y)), L.CLIP_LEVEL)
    small = _tone(440.0, amp=0.001)
    np.testing.assert_allclose(_rt("hardclip", small), small, atol=1e-9)
    s = _rt("softclip", x)
    assert np.max(np.abs(s)) <= 1 / L.SOFT_DRIVE + 1e-9
    assert abs(_level_db(_rt("softclip", 0.1 * small), 0.1 * small)) < 0.01  # small-signal gain 1


@pytest.mark.parametrize("q", [10, 20, 30])
def test_mnru_noise_is_q_db_below_the_signal(q):
    x = _speechlike(SR * 10)
    y = _rt(f"mnru{q}", x)
    snr = -_level_db(y - x, x)
    assert abs(snr - q) < 0.3
    np.testing.assert_array_equal(y, _rt(f"mnru{q}", x))               # a fixed function
    np.testing.assert_allclose(_rt(f"mnru{q}", 0.5 * x), 0.5 * y, rtol=1e-5, atol=1e-7)  # f(a x) = a f(x)


def test_white_noise_snr():
    x = _speechlike(SR * 10)
    y = _rt("noise20db", x)
    assert abs(-_level_db(y - x, x) - 20.0) < 0.3


def test_tvgain_and_drops():
    x = np.full(SR, 0.1, np.float32)
    g = 20 * np.log10(_rt("tvgain", x) / 0.1)
    assert abs(g.max() - 6.0) < 0.01 and abs(g.min() + 6.0) < 0.01
    y = _rt("drops", x)
    zero = y == 0
    assert abs(zero.mean() - 1 / L.DROP_EVERY) < 0.01
    blocks = zero.reshape(-1, L.DROP_BLOCK)
    assert np.all(blocks.all(axis=1) | ~blocks.any(axis=1))  # whole blocks


def test_corrupt_codec_changes_five_percent_of_tokens():
    clean, bad = L.make_ladder_codec("mulaw_tokens"), L.make_ladder_codec("corrupt5pct")
    x = _speechlike(SR * 4)[None]
    ref = clean.encode(x, 128.0)
    assert ref.shape == (1, L.TOKEN_HOP, -(-x.shape[1] // L.TOKEN_HOP))
    np.testing.assert_array_equal(ref, clean.encode(x, 128.0))   # the clean tokenizer is deterministic
    a, b = bad.encode(x, 128.0), bad.encode(x, 128.0)
    frac = float(np.mean(a != ref))
    assert abs(frac - 0.05 * 255 / 256) < 0.005                  # 5 % replaced (1/256 by the same code)
    assert not np.array_equal(a, b)                              # fresh corruption per encode
    y = clean.decode(ref)[0, : x.shape[1]]
    assert -_level_db(y - x[0], x[0]) > 30                       # 8-bit mu-law round trip


# ----------------------------------------------------------------------------- selection
@pytest.fixture
def ladder_registered(monkeypatch):
    """The ``ladder`` entry point as pyproject.toml declares it (the shared test venv's install
    metadata may predate it)."""
    real = registry._eps
    ep = md.EntryPoint(name="ladder", value="codec_conformance.codecs.ladder:make_ladder_codec",
                       group=registry.CODEC_GROUP)

    def eps(group):
        out = real(group)
        if group == registry.CODEC_GROUP:
            out = {**out, "ladder": ep}
        return out
    monkeypatch.setattr(registry, "_eps", eps)


def test_pyproject_declares_the_family():
    assert 'ladder = "codec_conformance.codecs.ladder:make_ladder_codec"' in (ROOT / "pyproject.toml").read_text()


def test_family_selection(ladder_registered):
    c = registry.make_codec("ladder:lowpass4k")
    assert isinstance(c, L.LadderCodec) and c.rung.name == "lowpass4k" and c.name == "ladder:lowpass4k"
    assert registry.family_variants("ladder") == list(L.RUNGS)
    assert registry.family_variants("identity") is None
    with pytest.raises(CodecError) as e:
        registry.make_codec("ladder:lowpass5k")
    msg = str(e.value)
    assert "unknown rung 'lowpass5k'" in msg and all(r in msg for r in L.RUNGS) and msg.count("unknown") == 1
    with pytest.raises(CodecError, match="name a member"):
        registry.make_codec("ladder:")


def test_module_factory_still_works(ladder_registered, tmp_path, monkeypatch):
    (tmp_path / "mypkg_ladder_t").mkdir()
    (tmp_path / "mypkg_ladder_t" / "__init__.py").write_text("")
    (tmp_path / "mypkg_ladder_t" / "module.py").write_text(
        "from codec_conformance.codecs.identity import IdentityCodec\n"
        "def factory(**kw):\n    return IdentityCodec()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry.make_codec("mypkg_ladder_t.module:factory").name == "identity"
    # every rung is also a module-level factory (no entry point needed)
    assert registry.make_codec("codec_conformance.codecs.ladder:gain_m20db").rung.name == "gain_m20db"
    # a registered codec that is not a family keeps the module:factory meaning
    with pytest.raises(CodecError, match="cannot import module 'identity'"):
        registry.make_codec("identity:x")


def test_list_codecs_shows_the_rungs(ladder_registered, monkeypatch, capsys):
    from codec_conformance.cli import main
    real = registry._eps
    monkeypatch.setattr(registry, "_eps", lambda g: {k: v for k, v in real(g).items() if k in ("ladder", "identity")})
    assert main(["list-codecs"]) == 0
    out = capsys.readouterr().out
    assert "ladder:lowpass4k" in out and "ladder:corrupt5pct" in out and "identity" in out


def test_claims_name_known_rungs_and_groups():
    from codec_conformance.catalogue import suites
    names = {s.name for s in suites().values()} | {"*"}
    for rung, claim in L.CLAIMS.items():
        assert rung in L.RUNGS
        for group in (*claim["must_fail"], *claim["must_pass"]):
            assert len(group) == 3 and group[0] in names, (rung, group)
        assert not set(claim["must_fail"]) & set(claim["must_pass"])


# ----------------------------------------------------------------------------- passband gain
@pytest.mark.parametrize("rung,expected", [("gain_m6db", -6.0), ("identity", 0.0), ("gain_m6db_delay", -6.0)])
def test_passband_gain(rung, expected):
    c = L.make_ladder_codec(rung)
    for level in (0.0, -20.0):
        fr = frequency_response(lambda x: c.roundtrip(x, 256.0), SR, level_dbfs=level, seconds=1.5)
        s = band_summary(fr, SR)
        assert abs(s["passband_gain_db"] - expected) < 0.1
        assert abs(s["high_band_rolloff_db"]) < 0.1  # the shape quantities are blind to the gain


def test_bench_table_counts_claims():
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_ladder", ROOT / "benchmarks" / "bench_ladder.py")
    b = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(b)
    rec = lambda suite, cond, metric, passed: {"suite": suite, "condition": cond, "metric": metric,  # noqa: E731
                                               "passed": passed, "gated": True}
    seed0 = b.outcomes({"records": [
        rec("frequency_response", {"kind": "sweep", "level_dbfs": 0.0}, "passband_gain_db", False),
        rec("frequency_response", {"kind": "sweep", "level_dbfs": -20.0}, "passband_gain_db", True),
        rec("homogeneity", {"kind": "gain", "level_dbfs": -14.0}, "ser_db", True),
        rec("additivity", {"kind": "mixture", "mixture": "speech_noise"}, "ser_db", True)]})
    seed1 = b.outcomes({"records": [
        rec("frequency_response", {"kind": "sweep", "level_dbfs": 0.0}, "passband_gain_db", True),
        rec("homogeneity", {"kind": "gain", "level_dbfs": -14.0}, "ser_db", False)]})
    seeds = {"0": seed0, "1": seed1}
    assert b.claim_result(L.PASSBAND, "must_fail", seeds) == (1, 2)       # one failing record catches it
    assert b.claim_result(L.HOMOGENEITY, "must_pass", seeds) == (1, 2)
    assert b.claim_result(("additivity", "*", "ser_db"), "must_pass", seeds) == (1, 1)
    assert b.claim_result(L.PESQ, "must_fail", seeds) == (0, 0)           # not run
    assert b.parse_seeds("0-2,5") == [0, 1, 2, 5]
    text = b.table({"gain_m20db": seeds})
    assert "| gain_m20db | degradation | must fail | frequency_response, sweep, passband_gain_db | failed on 1 of 2" in text
