import json
import sys
import textwrap

import pytest

from codec_conformance.catalogue import quantities
from codec_conformance.cli import main
from codec_conformance.report.figures import fig1
from tests.helpers import install_plugin

# ----------------------------------------------------------------------
# The catalogue: each metric, condition kind and suite declares itself once, and a package
# outside this repository adds a metric, a condition kind and a codec through entry points alone.


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
    return install_plugin(tmp_path / "site", monkeypatch, "ccplug", PLUGIN, textwrap.dedent("""\
        [codec_conformance.codecs]
        halfgain = ccplug:HalfGain

        [codec_conformance.metrics]
        loudness_change_db = ccplug:LoudnessChange

        [codec_conformance.conditions]
        clipping = ccplug:CLIPPING
        lowpass = ccplug:LOWPASS
        """))


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


# ----------------------------------------------------------------------
# The options mechanism: one OPTIONS table; values typed and refused at parse time; every option
# also an ini key (pytest.ini, tox.ini, setup.cfg, [tool.pytest.ini_options], -o), with
# [tool.codec_conformance] kept as an alias; defaults printed once in --help.


def test_an_extension_hook_gets_the_final_results(pytester):
    """hookspec.py: pytest_codec_conformance_finished, on the controller, after results.json is final."""
    pytester.makeini("[pytest]\n")
    pytester.makeconftest('''
import json
def pytest_codec_conformance_finished(results, run_dir, config):
    (run_dir / "seen.json").write_text(json.dumps({"n": len(results["records"]), "metrics": sorted(results["metrics"])}))
''')
    r = pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider", "--codec=identity",
                                      "-k", "frequency_response and 0dBFS", "-q")
    assert r.ret == 0, r.stdout.str()[-2000:]
    import json
    seen = json.loads((pytester.path / "reports" / "latest" / "seen.json").read_text())
    doc = json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())
    assert seen["n"] == len(doc["records"]) > 0 and "mid_band_ripple_db" in seen["metrics"]


# ----------------------------------------------------------------------
# The report reads what a metric is (label, unit, span, whether it is a column of Fig. 1) from
# results.json's ``metrics`` block, which the run writes from each metric's ``MetricInfo``; for a
# file written before a key existed, from the catalogue. It keeps no table of metric names: a new
# metric reaches Fig. 1 and the compare page through its declaration alone.

pytestmark = pytest.mark.filterwarnings("ignore")


def titles(fig) -> list[str]:
    return [" ".join(ax.get_title().split()) for ax in fig.axes if ax.get_title()]


# ------------------------------------------------------------------ a metric from an entry point alone
PLUGIN_report_declarations = '''
"""A package that is not codec_conformance: one metric (a column of Fig. 1), one codec."""
import numpy as np

from codec_conformance.catalogue import MetricInfo
from codec_conformance.metrics.base import Metric


class ToyScore(Metric):
    info = MetricInfo("toy_score", "Toy score", "points", "higher", min_meaningful_difference=0.5, cost=0.05,
                      plot_span=4.0, in_figure=True, figure_order=0)

    def item(self, ref, deg, sr, utt):
        return float(10 * np.mean(np.abs(deg)) / max(float(np.mean(np.abs(ref))), 1e-9))


class HalfGain:
    name = "halfgain"
    sample_rate = 16000
    bitrates_kbps = (64.0,)

    def roundtrip(self, audio, kbps):
        return np.asarray(audio, dtype=np.float32) * 0.5
'''


@pytest.fixture
def toy_package(tmp_path, monkeypatch):
    return install_plugin(tmp_path / "site", monkeypatch, "toyplug", PLUGIN_report_declarations, textwrap.dedent("""\
        [codec_conformance.codecs]
        halfgain = toyplug:HalfGain

        [codec_conformance.metrics]
        toy_score = toyplug:ToyScore
        """))


def test_a_metric_from_an_entry_point_is_a_fig1_column_and_on_the_compare_page(toy_package, run_suites, pytester,
                                                                                 capsys):
    run_suites("--codec=halfgain", "--codec-metrics=mel_distance,toy_score", "-k",
               "noise_robustness and white and (toy_score or mel_distance)", "-q")
    run = pytester.path / "reports" / "latest"
    doc = json.loads((run / "results.json").read_text())
    assert {r["metric"] for r in doc["records"]} == {"mel_distance", "toy_score"}
    assert doc["metrics"]["toy_score"]["in_figure"] is True and doc["metrics"]["toy_score"]["plot_span"] == 4.0
    assert "toy_score" not in quantities()  # this process knows it only through results.json
    assert [t.split(" (")[0] for t in titles(fig1(doc))] == ["Toy score", "Mel distance"]
    out = pytester.path / "compare.html"
    main(["compare", str(run), str(run), "--html", str(out)])
    capsys.readouterr()
    page = out.read_text()
    assert "<td>Toy score</td>" in page and "<td>Mel distance</td>" in page
