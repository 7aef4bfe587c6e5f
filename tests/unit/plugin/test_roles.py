"""Thread budget per process and the longest-first order of tests under xdist."""
import threading
from types import SimpleNamespace

from codec_conformance.data import conditions as C
from codec_conformance.plugin.roles import estimated_cost, junit_properties
from codec_conformance.results.contract import load_results, make_record


def _item(name, **params):
    """A collected test of suite module ``name`` (its SUITE declares the costs)."""
    import importlib
    module = importlib.import_module(f"codec_conformance.suites.{name}")
    return SimpleNamespace(originalname=name, module=module, callspec=SimpleNamespace(params=params))


def test_expensive_tests_are_scheduled_first():
    items = [_item("test_noise_robustness", noise_metric="pesq", noise_condition=C.white(0.0)),
             _item("test_frequency_response"),
             _item("test_noise_robustness", noise_metric="wer", noise_condition=C.clean()),
             _item("test_noise_robustness", noise_metric="wer", noise_condition=C.white(-5.0)),
             _item("test_additivity"),
             _item("test_noise_robustness", noise_metric="dnsmos", noise_condition=C.clean())]
    ranked = sorted(items, key=lambda it: -estimated_cost(it))
    names = [(it.originalname, it.callspec.params.get("noise_metric")) for it in ranked]
    assert names[:3] == [("test_noise_robustness", "wer")] * 2 + [("test_noise_robustness", "dnsmos")]
    assert ranked[0].callspec.params["noise_condition"].kind == "white"  # noisy ASR decodes more
    assert names[-1] == ("test_frequency_response", None)


# ----------------------------------------------------------------------
# Faults and bad input: malformed results files, two processes on one run folder, resume, write
# errors, hung codecs, file permissions (the battery of docs/reliability.md; the report's escaping
# is in tests/unit/report/test_html.py).


def rec(metric="pesq", value=3.0, test_id="t::a", br=6.0):
    return make_record(codec="c", bitrate_kbps=br, suite="noise",
                       condition={"kind": "white", "snr_db": 10, "gain_db": None, "rt60_s": None, "level_dbfs": None},
                       metric=metric, higher_is_better=True, value=value, oracle=3.5, n_items=4, test_id=test_id)


def test_runs_created_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    from codec_conformance.plugin import roles
    from codec_conformance.settings import build_settings
    monkeypatch.setattr(roles.time, "strftime", lambda fmt: "20260101-000000")
    opts = {"codec": ["gain"], "codec_report_dir": str(tmp_path / "reports")}
    n = 6
    states = []
    for _ in range(n):
        st = object.__new__(roles.Controller)
        st.settings = build_settings(opts.get, tmp_path)
        st.config = type("C", (), {"invocation_params": type("P", (), {"args": ()})()})()
        st.recorder, st.run_dir, st.started = None, None, None
        states.append(st)
    barrier = threading.Barrier(n)

    def start(st):
        barrier.wait()
        st.ensure_recorder().add({"records": [rec(test_id=f"t::{id(st)}")]})

    threads = [threading.Thread(target=start, args=(st,)) for st in states]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dirs = {st.run_dir for st in states}
    assert len(dirs) == n, sorted(d.name for d in dirs)
    for st in states:  # each run's folder holds exactly its own record
        assert [r["test_id"] for r in load_results(st.run_dir)["records"]] == [f"t::{id(st)}"]
        st.recorder.close()


def _regressed(metric, value, base, **extra):
    r = make_record(codec="mycodec", bitrate_kbps=6.0, suite="noise",
                    condition={"kind": "white", "snr_db": 0.0, "rt60_s": None}, metric=metric,
                    higher_is_better=True, value=value, oracle=2.2, n_items=6, test_id="t", unit="MOS-LQO")
    r["passed"] = False
    r["baseline"] = {"value": base, "min_meaningful_difference": 0.1, "passed": False, "status": "REGRESSED",
                     "source": "base.json", "judged": "change -0.3", "p_value": 0.004, **extra}
    return r


def test_junit_properties_carry_the_baseline_its_change_interval_and_rule():
    """Old code: the JUnit properties had value, oracle, delta, limit, unit and passed only; a check
    failed against its baseline said nothing of the baseline value, the change or the rule."""
    one = dict(junit_properties([{"records": [_regressed("pesq", 1.9, 2.2, change_ci=[-0.4, -0.2],
                                                                     change_ci_confidence=0.99)]}]))
    assert one["baseline"] == "2.2" and one["value"] == "1.9"
    assert one["baseline.change"] == "-0.3" and one["baseline.change_ci"] == "[-0.4, -0.2]"
    assert one["baseline.status"] == "REGRESSED"
    rule = one["baseline.rule"]
    assert "0.1" in rule and "min. meaningful difference" in rule and "α = 0.005" in rule and "p = 0.004" in rule
    # several records: prefixed by the metric, like the others; no test: no interval, the rule says so
    two = dict(junit_properties([{"records": [_regressed("pesq", 1.9, 2.2, change_ci=[-0.4, -0.2]),
                                              _regressed("stoi", 0.5, 0.7, change_ci=None)]}]))
    assert two["pesq.baseline"] == "2.2" and two["stoi.baseline"] == "0.7"
    assert two["stoi.baseline.change"] == "-0.2" and "stoi.baseline.change_ci" not in two
    assert "no test" in two["stoi.baseline.rule"] and two["pesq.baseline.change_ci"] == "[-0.4, -0.2]"
    # a record without a baseline gets no baseline property
    plain = _regressed("pesq", 1.9, 2.2)
    del plain["baseline"]
    assert not [k for k, _ in junit_properties([{"records": [plain]}]) if "baseline" in k]
