"""pytest's conventions and the CLI's output: --version, compare (regressions first, full names,
--only-regressions, --html), list-codecs, JUnit properties, the session's start time and the
command in provenance, the cache provider, the live progress line."""
import json
import re
import subprocess
import sys
import tomllib
from types import SimpleNamespace

import pytest

from codec_conformance.cli import main
from codec_conformance.gate import baseline
from codec_conformance.gate.thresholds import ThresholdSet
from codec_conformance.results.contract import make_record
from tests.helpers import child_env as _child_env, ROOT
from tests.results_helpers import MALFORMED, good_doc, limited as _limited, rec_reliability, rec_results_cli


def rec(metric, value, mixture=None, kind="mixture", hib=True):
    return make_record(codec="c", bitrate_kbps=6.0, suite="additivity" if mixture else "noise",
                       condition={"kind": kind, "mixture": mixture}, metric=metric, higher_is_better=hib,
                       value=value, n_items=6, test_id="t", unit="dB", median=value)


def doc(records):
    return {"schema": "codec-conformance/results/1", "run": {"id": "x", "started": None, "finished": None},
            "codecs": [], "records": records, "curves": []}


def files(tmp_path, base, new):
    (tmp_path / "base.json").write_text(json.dumps(doc(base)))
    (tmp_path / "new.json").write_text(json.dumps(doc(new)))
    return str(tmp_path / "base.json"), str(tmp_path / "new.json")


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert re.fullmatch(r"codec-conformance \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


def test_compare_full_condition_names_and_regressions_first(tmp_path, capsys):
    """Old code cut conditions at 28 characters: the speech_speech and speech_noise rows looked identical."""
    base = [rec("ser_db", 10.0, "speech_speech"), rec("ser_db", 10.0, "speech_noise"), rec("mel_distance", 1.0, "speech_noise", hib=False)]
    new = [rec("ser_db", 10.0, "speech_speech"), rec("ser_db", 5.0, "speech_noise"), rec("mel_distance", 1.0, "speech_noise", hib=False)]
    b, n = files(tmp_path, base, new)
    assert main(["compare", b, n]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "status"
    assert lines[1].startswith("REGRESSED") and "mixture=speech_noise" in lines[1]  # regressions first
    assert any("mixture=speech_speech" in line for line in lines[2:])
    body = [line for line in lines[1:4]]
    assert len(set(body)) == 3  # no two rows print the same
    assert main(["compare", b, n, "--only-regressions"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len([line for line in out if line.startswith("REGRESSED")]) == 1
    assert not any(line.startswith(("same", "improved", "not significant", "negligible")) for line in out)


def test_compare_html(tmp_path, capsys):
    base = [rec("ser_db", 10.0, "speech_speech"), rec("ser_db", 10.0, "speech_noise")]
    new = [dict(rec("ser_db", 10.5, "speech_speech"), value_ci95=[10.0, 11.0]), rec("ser_db", 5.0, "speech_noise")]
    base[0]["value_ci95"] = [9.5, 10.5]
    b, n = files(tmp_path, base, new)
    out = tmp_path / "cmp" / "checkpoint.html"
    out.parent.mkdir()
    assert main(["compare", b, n, "--html", str(out)]) == 1
    page = out.read_text()
    assert "1 of 2 comparable records regressed" in page
    assert page.index("REGRESSED") < page.index(">not significant<")  # regressions first
    # BASE and NEW with their own intervals, in the report's one form; the change's in its cell: SER
    # with intervals on both sides is tested (issue 24: every gated quantity by its declared minimal
    # meaningful difference and its test), so the interval is the test's (unpaired, 1 - 2 alpha = 90 %),
    # no longer the conservative [-0.5, +1.5] of a quantity judged by a relative tolerance
    assert "10 <span class='ci'>[9.5, 10.5]</span>" in page and "10.5 <span class='ci'>[10, 11]</span>" in page
    assert "+0.5 <span class='ci'>[-0.0934, +1.09]</span><br><span class='small'>90 % interval</span>" in page
    assert "change 95 % CI" not in page and "|base|" not in page and "tolerance" not in page
    assert (out.parent / "checkpoint-figures" / "fig1-compare-linearity.svg").is_file()


def test_list_codecs_helpers():
    from codec_conformance.cli import rate_text, weights_status
    assert [rate_text(b) for b in (0.861328125, 1.5, 12.2, 64.0, 4.75)] == ["0.861", "1.5", "12.2", "64", "4.75"]
    assert weights_status(SimpleNamespace(weights="none")) == "no weights needed"
    assert weights_status(SimpleNamespace(weights="pretrained", checkpoint=__file__)).startswith("weights available")
    missing = weights_status(SimpleNamespace(weights="pretrained", checkpoint="/nonexistent/w.th"))
    assert "MISSING" in missing and "/nonexistent/w.th" in missing
    assert weights_status(SimpleNamespace(weights_status=lambda: "downloadable")) == "downloadable"


def test_list_codecs_output(capsys, monkeypatch):
    import codec_conformance.registry as reg
    monkeypatch.setattr(reg, "codec_names", lambda: ["mulaw", "amrnb"])
    assert main(["list-codecs"]) == 0
    out = capsys.readouterr().out
    assert "weights here" in out and "no weights needed" in out
    assert "4.75, 5.15" in out and "8000 Hz" in out


def test_project_config_keeps_the_cache_provider():
    """Old config: addopts = "-p no:cacheprovider", so --lf / --ff had nothing to go on."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "cacheprovider" not in str(cfg["tool"]["pytest"]["ini_options"].get("addopts", ""))


def test_compare_json_output_is_one_json_document(tmp_path, capsys):
    """`compare --json` printed its summary line after the JSON, so `json.load` of stdout failed."""
    b, n = files(tmp_path, [rec("pesq", 3.0)], [rec("pesq", 2.0)])
    assert main(["compare", b, n, "--json"]) == 1
    out = capsys.readouterr()
    rows = json.loads(out.out)
    assert rows[0]["status"] == "REGRESSED" and "comparable records" in out.err


# ----------------------------------------------------------------------
# Issue 24, item 5: one rule for the baseline gate. Every gated quantity is judged against its
# declared minimal meaningful difference (the catalogue's MetricInfo, suite quantities included)
# and, where the records carry per-item values or intervals, its statistical test; a change that is
# not significant says so, with its interval and p-value, in compare's text, ``--json`` and HTML.


# ----------------------------------------------------------------- no relative tolerance left
def test_no_relative_tolerance_option_is_left(capsys):
    from codec_conformance.settings import OPTIONS, Settings
    assert "baseline_tolerance" not in OPTIONS and not hasattr(Settings, "baseline_tolerance")
    assert not hasattr(baseline, "tolerance_for")
    with pytest.raises(SystemExit):
        main(["compare", "a.json", "b.json", "--tolerance", "0.05"])
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    help_text = capsys.readouterr().out
    assert "|base|" not in help_text and "tolerance" not in help_text and "minimal meaningful difference" in help_text


# ----------------------------------------------------------------------
# Faults and bad input: malformed results files, two processes on one run folder, resume, write
# errors, hung codecs, file permissions (the battery of docs/reliability.md; the report's escaping
# is in tests/unit/report/test_html.py).


# ---------------------------------------------------------------- 4. malformed input files
@pytest.mark.parametrize("cmd", ["compare", "merge", "report"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_cli_refuses_malformed_results_in_one_line(tmp_path, capsys, cmd, case):
    good, bad = tmp_path / "good.json", tmp_path / "run" / "results.json"
    bad.parent.mkdir()
    good.write_text(json.dumps(good_doc()))
    bad.write_text(MALFORMED[case]())
    argv = {"compare": ["compare", str(good), str(bad)],
            "merge": ["merge", str(good), str(bad), "-o", str(tmp_path / "m.json")],
            "report": ["report", str(bad.parent)]}[cmd]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"codec-conformance {cmd}: ") and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "m.json").exists() and not (bad.parent / "index.html").exists()


def test_entry_point_prints_no_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(MALFORMED["400-digit number"]())
    p = subprocess.run([sys.executable, "-m", "codec_conformance.cli", "compare", str(bad), str(bad)],
                       capture_output=True, text=True, env=_child_env(), timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- 7. write errors
def test_failed_merge_is_one_line_and_leaves_no_temporary(tmp_path):
    big = dict(good_doc(), records=[rec_reliability(test_id=f"t::{k}", metric=f"m{k}") for k in range(400)])
    (tmp_path / "a.json").write_text(json.dumps(big))
    out = tmp_path / "out"
    out.mkdir()
    p = _limited(f'''
        import sys
        from codec_conformance.cli import main
        sys.exit(main(["merge", {str(tmp_path / "a.json")!r}, "-o", {str(out / "m.json")!r}]))
    ''', 20_000)
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "cannot write" in p.stderr and "Traceback" not in p.stderr
    assert list(out.iterdir()) == []


# ---------------------------------------------------------------- plugin end to end (5, 6, 7, 8)


# ----------------------------------------------------------------------


def test_compare_exit_code_is_the_gate(tmp_path, capsys):
    base = {"schema": "codec-conformance/results/1", "run": {"id": "a"}, "codecs": [],
            "records": [rec_results_cli(value=3.0), rec_results_cli(metric="wer", value=0.20, hib=False)], "curves": []}
    ok = dict(base, records=[rec_results_cli(value=2.99), rec_results_cli(metric="wer", value=0.19, hib=False)])
    bad = dict(base, records=[rec_results_cli(value=2.5), rec_results_cli(metric="wer", value=0.19, hib=False)])
    for name, d in (("base.json", base), ("ok.json", ok), ("bad.json", bad)):
        (tmp_path / name).write_text(json.dumps(d))
    assert main(["compare", str(tmp_path / "base.json"), str(tmp_path / "ok.json")]) == 0
    assert main(["compare", str(tmp_path / "base.json"), str(tmp_path / "bad.json")]) == 1
    assert "REGRESSED" in capsys.readouterr().out


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "none.json"), str(tmp_path / "none.json")]) == 2
    assert "results file not found" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{")
    assert main(["merge", str(tmp_path / "bad.json"), "-o", str(tmp_path / "o.json")]) == 2


# ----------------------------------------------------------------------


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


# ------------------------------------------------------------------ golden (issue 25, item 4)
def test_golden_records_a_codec_into_the_project_goldens_and_says_the_key(tmp_path, capsys, monkeypatch):
    from codec_conformance.engine.golden import read_goldens
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert main(["golden", "--codec", "mulaw"]) == 0
    out = capsys.readouterr().out
    path = tmp_path / "goldens" / "mulaw.json"
    assert f"{path}: mulaw at 64 kbps, 3 signals; compared bit-exact where the key matches" in out
    doc = read_goldens(path)
    assert doc["command"] == "codec-conformance golden --codec mulaw" and list(doc["bitrates"]) == ["64"]
    assert main(["golden", "--codec", "g722", "--out", str(tmp_path / "elsewhere"), "--tolerance-db", "40"]) == 0
    assert read_goldens(tmp_path / "elsewhere" / "g722.json")["tolerance"]["snr_db"] == 40.0


def test_golden_bad_options_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["golden", "--codec", "mulaw", "--codec-bitrate", "7"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("codec-conformance golden: --codec-bitrate 7 kbps is not an operating point; "
                           "available: 64")
    assert main(["golden", "--codec", "mulaw", "--tolerance-db", "0"]) == 2
    assert "tolerance 0.0 dB: give a number in (0, 120]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["golden", "--codec", "mulaw", "--codec-timeout", "abc"])
    assert "'abc': use seconds" in capsys.readouterr().err


def test_list_codecs_shows_each_codecs_licence_even_when_its_weights_are_missing(capsys, monkeypatch, tmp_path):
    """Issue 25: X-Codec 2's weights are CC-BY-NC; list-codecs says so before anything is downloaded
    (its pretrained weights are not in this empty cache, so the codec itself cannot be built)."""
    pytest.importorskip("transformers")
    import codec_conformance.registry as reg
    for k in ("HF_HOME", "HF_HUB_CACHE", "CODEC_CONFORMANCE_MIRROR"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(reg, "codec_names", lambda: ["mulaw", "xcodec2"])
    assert main(["list-codecs"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()}
    assert "licence" in lines["codec"]
    assert "CC-BY-NC-4.0" in lines["xcodec2"] and "unavailable" in lines["xcodec2"]
    assert "HKUSTAudio/xcodec2-hf" in lines["xcodec2"]
    assert "—" in lines["mulaw"] and "CC-BY" not in lines["mulaw"]
