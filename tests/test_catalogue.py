"""The catalogue: each metric, condition kind and suite declares itself once, and a package
outside this repository adds a metric, a condition kind and a codec through entry points alone."""
import json
import os
import sys
import textwrap

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


# ------------------------------------------------------------------------------ from outside
PLUGIN = '''
"""A package that is not codec_conformance: one metric, one condition kind, one codec."""
import numpy as np

from codec_conformance.catalogue import MetricInfo
from codec_conformance.catalogue import ConditionKind
from codec_conformance.metrics.base import Metric, Undefined


class LoudnessChange(Metric):
    """|level of the signal under test - level of the reference| in dB."""
    info = MetricInfo("loudness_change_db", "Loudness change", "dB", "lower", min_meaningful_difference=0.5,
                      cost=0.1)

    def item(self, ref, deg, sr, utt):
        r, d = np.sqrt(np.mean(ref.astype(np.float64) ** 2)), np.sqrt(np.mean(deg.astype(np.float64) ** 2))
        if r <= 0 or d <= 0:
            raise Undefined("silent signal")
        return abs(20 * np.log10(d / r))


def _clip(cond, speech, sr, rng, ctx):
    a = float(np.max(np.abs(speech))) * 10 ** (cond["level_dbfs"] / 20)
    return np.clip(speech, -a, a).astype(np.float32)


CLIPPING = ConditionKind("clipping", "hard clipping", _clip, axis="level_dbfs", axis_label="clip level (dB re peak)",
                         grid={"smoke": (-6.0,), "standard": (-12.0, -6.0), "paper": (-20.0, -12.0, -6.0)})


def _lowpass(cond, speech, sr, rng, ctx):
    from scipy.signal import butter, sosfiltfilt
    return sosfiltfilt(butter(8, cond["cutoff_hz"], fs=sr, output="sos"), speech).astype(np.float32)


# a kind whose parameter no built-in kind has: its own axis, id, record field and thresholds key
LOWPASS = ConditionKind("lowpass", "low-pass filter", _lowpass, axis="cutoff_hz", axis_label="cut-off (Hz)",
                        grid={"smoke": (1000.0,), "standard": (1000.0, 3000.0), "paper": (1000.0, 3000.0)},
                        suites=("noise",))


class HalfGain:
    """A 'codec' that halves the level (-6.02 dB), nothing else."""
    name = "halfgain"
    sample_rate = 16000
    bitrates_kbps = (64.0,)

    def roundtrip(self, audio, kbps):
        return np.asarray(audio, dtype=np.float32) * 0.5
'''


@pytest.fixture
def outside_package(tmp_path, monkeypatch):
    """A package outside the repository, installed only as a .dist-info with entry_points.txt on
    the subprocess' sys.path (PYTHONPATH)."""
    site = tmp_path / "site"
    (site / "ccplug").mkdir(parents=True)
    (site / "ccplug" / "__init__.py").write_text(PLUGIN)
    dist = site / "ccplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ccplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""\
        [codec_conformance.codecs]
        halfgain = ccplug:HalfGain

        [codec_conformance.metrics]
        loudness_change_db = ccplug:LoudnessChange

        [codec_conformance.conditions]
        clipping = ccplug:CLIPPING
        lowpass = ccplug:LOWPASS
        """))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return site


def test_a_metric_a_condition_and_a_codec_from_entry_points_alone(outside_package, run_suites, pytester):
    import codec_conformance
    before = {p: p.stat().st_mtime_ns for p in __import__("pathlib").Path(codec_conformance.__file__).parent.rglob("*.py")}
    (pytester.path / "thresholds").mkdir()
    (pytester.path / "thresholds" / "halfgain.toml").write_text(
        '[meta]\nsource = "plugin test"\n\n[default.noise.clipping]\nloudness_change_db = { max_delta = 7.0 }\n')
    # collected: the new condition kind's grid (smoke: -6 dB) times the new metric, on the new codec
    r = run_suites("--codec=halfgain", "--collect-only", "-q")
    ids = r.stdout.str()
    assert "test_noise_robustness[halfgain-64kbps-clipping--6dBFS-loudness_change_db]" in ids
    assert "test_noise_robustness[halfgain-64kbps-white-0dB-loudness_change_db]" in ids
    assert "test_noise_robustness[halfgain-64kbps-clipping--6dBFS-pesq]" in ids
    # run: the thresholds file's key for the new condition and metric is known and applied
    r = run_suites("--codec=halfgain", "-k", "noise_robustness and clipping and loudness_change_db", "-q")
    r.assert_outcomes(passed=1)
    doc = json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())
    (rec,) = doc["records"]
    assert rec["codec"] == "halfgain" and rec["condition"]["kind"] == "clipping"
    assert rec["condition"]["level_dbfs"] == -6.0 and rec["metric"] == "loudness_change_db"
    assert rec["delta"] == pytest.approx(6.02, abs=0.05) and rec["unit"] == "dB"  # halved level vs the oracle
    assert rec["threshold"]["kind"] == "max_delta" and rec["threshold"]["limit"] == 7.0
    assert "halfgain.toml [default.noise.clipping.loudness_change_db]" in rec["threshold"]["source"]
    assert rec["passed"] is True
    assert doc["metrics"]["loudness_change_db"] == {
        "label": "Loudness change", "unit": "dB", "direction": "lower", "min_meaningful_difference": 0.5,
        "gated": True, "stand_in": False, "plot_span": None, "in_figure": False, "figure_order": None}
    assert doc["conditions"]["clipping"]["label"] == "hard clipping"
    assert doc["conditions"]["clipping"]["axis_label"] == "clip level (dB re peak)"
    assert [c["name"] for c in doc["codecs"]] == ["halfgain"]
    html = (pytester.path / "reports" / "latest" / "index.html").read_text()
    for text in ("Loudness change", "loudness_change_db", "hard clipping", "clip level (dB re peak)", "halfgain"):
        assert text in html, text
    # a limit on a key the suites do not declare is still refused (the lookup reads declarations)
    (pytester.path / "thresholds" / "halfgain.toml").write_text(
        '[default.noise.clippin]\nloudness_change_db = { max_delta = 7.0 }\n')
    r = run_suites("--codec=halfgain", "-k", "clipping and loudness_change_db", "-q")
    assert r.ret == pytest.ExitCode.USAGE_ERROR and "clipping" in r.stderr.str()
    after = {p: p.stat().st_mtime_ns for p in before}
    assert after == before  # no file of codec_conformance/ was touched
    assert not any(m.startswith("ccplug") for m in sys.modules)  # only the subprocesses imported it


def test_a_condition_kind_with_a_new_axis_is_one_file_and_its_registration(outside_package, run_suites, pytester):
    """The low-pass kind above is one definition and one entry point: its parameter (cutoff_hz, a
    field no built-in condition has) makes its test id, its record's condition and key, its
    thresholds key and its figure's axis."""
    (pytester.path / "thresholds").mkdir()
    (pytester.path / "thresholds" / "halfgain.toml").write_text(
        '[meta]\nsource = "plugin test"\n\n[default.noise.lowpass]\nmel_distance = { max_delta = 0.05 }\n')
    r = run_suites("--codec=halfgain", "--collect-only", "-q")
    assert "test_noise_robustness[halfgain-64kbps-lowpass-cutoff_hz-1000-mel_distance]" in r.stdout.str()
    r = run_suites("--codec=halfgain", "-k", "noise_robustness and lowpass and mel_distance", "-q")
    doc = json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())
    (rec,) = doc["records"]
    assert rec["condition"]["kind"] == "lowpass" and rec["condition"]["cutoff_hz"] == 1000.0
    assert rec["condition"]["snr_db"] is None  # the built-in fields are still there, null
    assert "[default.noise.lowpass.mel_distance]" in rec["threshold"]["source"]
    # halving the level moves the log-Mel distance well beyond 0.05 over the oracle: the check is live
    assert rec["passed"] is False and r.ret == pytest.ExitCode.TESTS_FAILED
    from codec_conformance.results.contract import record_key
    assert ("cutoff_hz", 1000.0) in record_key(rec)[3]
    assert doc["conditions"]["lowpass"] == {"label": "low-pass filter", "axis": "cutoff_hz",
                                            "axis_label": "cut-off (Hz)"}
    html = (pytester.path / "reports" / "latest" / "index.html").read_text()
    assert "low-pass filter" in html and "cut-off (Hz)" in html


# ------------------------------------------------------------------------------ one entry point
def test_a_suite_test_has_one_id_whichever_way_it_is_collected():
    from codec_conformance.plugin.ids import test_id
    a = test_id("suites/test_additivity.py::test_additivity[opus-24kbps-speech_speech]")
    b = test_id("codec_conformance/suites/test_additivity.py::test_additivity[opus-24kbps-speech_speech]@opus")
    c = test_id("../venv/lib/python3.11/site-packages/codec_conformance/suites/test_additivity.py::"
                "test_additivity[opus-24kbps-speech_speech]")
    assert a == b == c == "test_additivity.py::test_additivity[opus-24kbps-speech_speech]"


def test_top_level_suites_only_reexport_the_package_and_give_the_same_ids():
    """`pytest suites/` and `pytest --pyargs codec_conformance.suites` select the same tests under
    the same ids (so --codec-resume and shards carry over)."""
    import subprocess
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    for f in sorted((root / "suites").glob("test_*.py")):
        code = [ln for ln in f.read_text().splitlines() if ln.strip() and not ln.startswith(('"""', "repositories"))]
        assert code[-1] == f"from codec_conformance.suites.{f.stem} import *  # noqa: F401,F403", f
    hook = ("import os\nfrom codec_conformance.plugin.ids import test_id\n"
            "def pytest_collection_finish(session):\n"
            "    open(os.environ['IDS_OUT'], 'w').write('\\n'.join(sorted(test_id(i.nodeid) for i in session.items)))\n")
    ids = []
    for i, target in enumerate((["suites/"], ["--pyargs", "codec_conformance.suites"])):
        out = root / f".ids-{i}.txt"
        plug = root / f"_idsplug{i}.py"
        plug.write_text(hook)
        try:
            subprocess.run([sys.executable, "-m", "pytest", "-p", f"_idsplug{i}", "--collect-only", "-q",
                            "-p", "no:cacheprovider", "--codec=opus", *target], cwd=root, capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(root), "IDS_OUT": str(out)})
            ids.append(out.read_text().split("\n"))
        finally:
            plug.unlink()
            out.unlink(missing_ok=True)
    assert len(ids[0]) > 50 and ids[0] == ids[1]


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
