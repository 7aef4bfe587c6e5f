import json

import numpy as np
import pytest

from codec_conformance.errors import ResultsFormatError
from codec_conformance.results.contract import SCHEMA, load_results, make_record, record_key, validate_results, verdict
from tests.results_helpers import MALFORMED, rec_results_cli, rec_verdict, verdict_doc as _doc

# ----------------------------------------------------------------------
# Faults and bad input: malformed results files, two processes on one run folder, resume, write
# errors, hung codecs, file permissions (the battery of docs/reliability.md; the report's escaping
# is in tests/unit/report/test_html.py).


# ---------------------------------------------------------------- 4. malformed input files
def test_malformed_file_messages_name_the_field(tmp_path):
    p = tmp_path / "r.json"
    for case, where in (("400-digit number", "records[0].bitrate_kbps"), ("null run", "run must be an object"),
                        ("non-list records", "records must be an array"), ("top-level array", "the file must be"),
                        ("record missing a key", "records[0] lacks 'metric'"), ("Infinity", "not valid JSON")):
        p.write_text(MALFORMED[case]())
        with pytest.raises(ValueError) as e:
            load_results(p)
        assert str(p) in str(e.value) and where in str(e.value), (case, str(e.value))


# ---------------------------------------------------------------- plugin end to end (5, 6, 7, 8)


# ----------------------------------------------------------------------


def test_record_shape_follows_contract():
    r = rec_results_cli()
    for k in ("codec", "bitrate_kbps", "suite", "condition", "metric", "higher_is_better", "value", "oracle",
              "delta", "threshold", "passed", "n_items", "test_id"):
        assert k in r
    assert r["delta"] == pytest.approx(-0.5) and r["threshold"] is None and r["passed"] is None
    assert make_record(codec="c", bitrate_kbps=1, suite="noise", condition={}, metric="m",
                       higher_is_better=True, value=float("nan"))["value"] is None


# ----------------------------------------------------------------------
# Issue 14: the shipped real corpus, profile sizes for statistical power, bootstrap intervals on
# every record, the paired baseline test with per-metric minimal meaningful differences, and
# calibration margins at least the calibration run's 95 % half-width.


def test_records_carry_interval_fields_and_the_contract_checks_them():
    r = make_record(codec="c", bitrate_kbps=6, suite="noise", condition={"kind": "clean"}, metric="pesq",
                    direction="higher", value=3.0, oracle=4.0, n_items=16)
    assert r["value_ci95"] is None and r["oracle_ci95"] is None and r["delta_ci95"] is None
    doc = {"schema": SCHEMA, "run": {}, "codecs": [], "records": [dict(r, value_ci95=[2.9, 3.1])], "curves": []}
    validate_results(doc)
    for bad in ([3.1, 2.9], [1.0], ["a", 2]):
        with pytest.raises(ResultsFormatError, match="value_ci95"):
            validate_results({**doc, "records": [dict(r, value_ci95=bad)]})
    with pytest.raises(ResultsFormatError, match="per_item.value"):
        validate_results({**doc, "records": [dict(r, per_item={"ids": ["a", "b"], "value": [1.0]})]})


# ----------------------------------------------------------------------


def test_the_verdict_does_not_count_a_limit_that_could_not_fail():
    from codec_conformance.results.contract import verdict
    rec = {"passed": True, "threshold": {"kind": "max_delta", "limit": -0.1}}
    idle = {"passed": None, "threshold": {"kind": "max_delta", "limit": -1.5, "cannot_fail": "floor"}}
    status, text = verdict({"run": {}, "records": [rec, idle, idle]})
    assert status == "PASS" and "all 1 gated checks passed" in text and "2 limits could not fail" in text
    status, text = verdict({"run": {}, "records": [idle]})
    assert status == "FAIL" and "nothing was gated" in text


# ----------------------------------------------------------------------
# What the verdict guarantees (issue: verdict integrity): nothing passes because nothing was
# checked; a baseline that matches nothing is an error; undefined values are regressions; pytest's
# own selection and xdist's grouping see the suite's markers; one record key and one codec id; each
# gated quantity is judged in its own direction.


# --------------------------------------------------------------- 2. a baseline that matches nothing
# --------------------------------------------------------------- 10. one record key, one codec id
def test_record_key_keeps_the_rir_source_and_mixture():
    from codec_conformance.data import conditions as C
    a, b = C.reverb(rir="room/a.wav").to_record(), C.reverb(rir="room/b.wav").to_record()
    assert a["source"] == "room/a.wav" and a != b
    ka = record_key(rec_verdict(**{k: v for k, v in a.items()}))
    kb = record_key(rec_verdict(**{k: v for k, v in b.items()}))
    assert ka != kb
    old = rec_verdict()
    del old["condition"]["source"], old["condition"]["mixture"]  # a file written before these fields
    assert record_key(old) == record_key(rec_verdict())


def test_verdict_sentence():
    assert verdict(_doc([rec_verdict()]))[0] == "FAIL"  # measured, nothing gated
    assert verdict({**_doc([rec_verdict()]), "run": {"measure_only": True}})[0] == "MEASURE ONLY"
    ok = dict(rec_verdict(), passed=True)
    assert verdict(_doc([ok])) == ("PASS", "PASS — all 1 gated checks passed")


# ----------------------------------------------------------------------
# Verdict integrity: the cache never serves a wrong value (keys carry what changes the output,
# entries carry a checksum), a factory's options are never dropped, only real float output is
# measured, and non-finite numbers become nulls with a reason instead of crashing the session.


# ------------------------------------------------------------------ 9: non-finite numbers
def test_make_record_writes_non_finite_numbers_as_null_with_a_reason():
    from codec_conformance.results.contract import finite_json, make_record
    rec = make_record(codec="c", bitrate_kbps=8, suite="homogeneity", condition={}, metric="ser_db",
                      higher_is_better=True, value=float("nan"), oracle=1.0, median=np.float32("inf"),
                      examples=[{"ser_db": float("nan")}, {"ser_db": 3.0}], threshold={"limit": float("nan")})
    assert rec["value"] is None and rec["delta"] is None and rec["median"] is None
    assert rec["examples"] == [{"ser_db": None}, {"ser_db": 3.0}] and rec["threshold"]["limit"] is None
    assert rec["non_finite"] == {"value": "nan", "median": "inf", "examples[0].ser_db": "nan",
                                 "threshold.limit": "nan"}
    assert "undefined" in rec["non_finite_reason"]
    json.dumps(rec, allow_nan=False)
    clean, notes = finite_json({"y": np.array([1.0, -np.inf]), "n": np.int64(3)})
    assert clean == {"y": [1.0, None], "n": 3} and notes == {"y[1]": "-inf"}


@pytest.mark.parametrize("kind,says", [("fifo", r"is a FIFO \(named pipe\)"), ("zero", "is a character device")])
def test_a_fifo_or_device_as_results_file_is_refused_before_reading(tmp_path, kind, says):
    """Issue 29 item 6: a FIFO or /dev/zero given as a results file (a baseline, compare, merge,
    or a run folder's results.json) is one ResultsFormatError naming it, at once. The old code
    opened it: it blocked forever on a FIFO with no writer and read /dev/zero without end."""
    import os

    from tests.helpers import within
    for p in (tmp_path / "base.json", tmp_path / "run" / "results.json"):
        p.parent.mkdir(exist_ok=True)
        os.mkfifo(p) if kind == "fifo" else p.symlink_to("/dev/zero")
        with within(10):
            with pytest.raises(ResultsFormatError, match=rf"^{p}: {says}, not a regular file"):
                load_results(p if p.name == "base.json" else p.parent)


def test_a_codec_licence_is_a_string_or_null():
    """Issue 25: codecs[].licence (optional) is checked like the other codec strings."""
    base = {"schema": SCHEMA, "run": {}, "records": [], "curves": []}
    for ok in ("MIT", None):
        validate_results({**base, "codecs": [{"name": "c", "licence": ok}]}, "r.json")
    with pytest.raises(ResultsFormatError, match=r"codecs\[0\]\.licence"):
        validate_results({**base, "codecs": [{"name": "c", "licence": 3}]}, "r.json")
