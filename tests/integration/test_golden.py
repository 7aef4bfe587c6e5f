"""The golden suite end to end (issue 25, item 4): no goldens -> a skip naming the command;
`codec-conformance golden` then the suite -> bit-exact pass; one changed weight of a random-init
EnCodec (reduced size) -> fail; another key -> the tolerance tier, said; a corrupt file -> one
clear failure."""
import json
import os
import sys

from tests.helpers import ROOT, latest_results


def record(pytester, monkeypatch, *args):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return pytester.run(sys.executable, "-m", "codec_conformance.cli", "golden", *args)


def golden_records(pytester):
    return [r for r in latest_results(pytester)["records"] if r["suite"] == "golden"]


def test_no_goldens_skip_then_record_then_bit_exact(run_suites, pytester, monkeypatch):
    r = run_suites("--codec=opus", "--codec-bitrate=6", "-k", "golden", "-q", "-rs")
    r.assert_outcomes(skipped=1)
    assert "no golden vectors for codec 'opus'" in r.stdout.str()
    assert "codec-conformance golden --codec opus" in r.stdout.str()
    rec = record(pytester, monkeypatch, "--codec", "opus", "--codec-bitrate", "6")
    assert rec.ret == 0, rec.stderr.str()
    assert (pytester.path / "goldens" / "opus.json").is_file()  # the project's goldens/
    r = run_suites("--codec=opus", "--codec-bitrate=6,8", "-k", "golden", "-q", "-rs")
    r.assert_outcomes(passed=1, skipped=1)  # 8 kbps: not recorded, skipped naming the command with it
    assert "--codec-bitrate 8" in r.stdout.str()
    recs = {x["metric"]: x for x in golden_records(pytester)}
    assert recs["golden_bit_exact"]["passed"] is True and recs["golden_bit_exact"]["value"] == 1.0
    assert recs["golden_bit_exact"]["golden_tier"] == "bit-exact"
    assert recs["golden_snr_db"]["passed"] is None and recs["golden_snr_db"]["value"] == 120.0
    # another key (a library version): the tolerance tier, said in the output and the records
    p = pytester.path / "goldens" / "opus.json"
    doc = json.loads(p.read_text())
    doc["key"]["libraries"]["av"] = "0.0.1"
    p.write_text(json.dumps(doc))
    r = run_suites("--codec=opus", "--codec-bitrate=6", "-k", "golden", "-q")
    r.assert_outcomes(passed=1)
    assert "GoldenKeyMismatch" in r.stdout.str() and "av 0.0.1 (goldens) vs" in r.stdout.str()
    recs = {x["metric"]: x for x in golden_records(pytester)}
    assert recs["golden_snr_db"]["passed"] is True and recs["golden_snr_db"]["threshold"]["limit"] == 30.0
    assert recs["golden_snr_db"]["golden_tier"] == "tolerance"
    assert any("av 0.0.1" in w for w in recs["golden_snr_db"]["golden_key_mismatch"])
    # a corrupt file: one clear failure naming the file and the field
    doc["bitrates"]["6"]["signals"]["sweep"]["codes"] = [[-5]]
    p.write_text(json.dumps(doc))
    r = run_suites("--codec=opus", "--codec-bitrate=6", "-k", "golden", "-q")
    r.assert_outcomes(failed=1)
    assert "golden vectors of 'opus' cannot be used" in r.stdout.str()
    assert "codes[0][0] must be an integer code" in r.stdout.str() and "Traceback" not in r.stdout.str()


def test_changing_one_weight_of_a_stored_golden_codec_fails_the_golden_test(run_suites, pytester, monkeypatch):
    codec = "tests.small_codecs:small_encodec"
    rec = record(pytester, monkeypatch, "--codec", codec, "--codec-bitrate", "1.5", "--codec-device", "cpu")
    assert rec.ret == 0, rec.stderr.str()
    args = (f"--codec={codec}", "--codec-bitrate=1.5", "--codec-device=cpu", "-k", "golden", "-q")
    run_suites(*args).assert_outcomes(passed=1)
    monkeypatch.setenv("GOLDEN_TWEAK", "1")  # one weight of the decoder changed
    r = run_suites(*args)
    r.assert_outcomes(failed=1)
    out = r.stdout.str()
    assert "bit-exact comparison with" in out and "not bit-exact" in out and "SHA-256 differs" in out
    (bit_exact, *_) = golden_records(pytester)
    assert bit_exact["metric"] == "golden_bit_exact" and bit_exact["passed"] is False
