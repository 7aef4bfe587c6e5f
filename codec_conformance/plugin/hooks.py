"""pytest plugin (entry point ``pytest11``): options, parametrisation, result collection.

Imports nothing heavy: no torch, no codec or evaluator library. Heavy objects are built lazily
by :class:`codec_conformance.plugin.session.ConformanceSession`, once per process (xdist worker). Records
travel to the controller inside the test reports (``user_properties``); only the controller
writes ``reports/<run-id>/``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import pytest

from ..errors import ConformanceError
from .ids import PAYLOADS_ATTR, test_id
from .settings import BOOL_OPTIONS, OPTIONS, build_settings, option_type

PAYLOAD_KEY = "codec_conformance"
_STATE_ATTR = "_codec_conformance_state"


def pytest_addhooks(pluginmanager):
    from . import hookspec
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser):
    group = parser.getgroup("codec-conformance", "codec-conformance: speech codec conformance suites")
    group.addoption("--codec", action="append", default=None, metavar="NAME|module:factory",
                    help="codec under test (repeatable): a registered name (see: codec-conformance "
                         "list-codecs) or package.module:factory")
    parser.addini("codec", "codecs under test (--codec), whitespace-separated", type="args", default=None)
    for name, (default, text, *_) in OPTIONS.items():
        flag = "--codec-" + name.replace("_", "-")
        if name in BOOL_OPTIONS:
            group.addoption(flag, action="store_true", default=False, dest="codec_" + name, help=text)
        else:
            group.addoption(flag, default=None, dest="codec_" + name, type=_argparse_type(name),
                            help=f"{text} [default: {default}]")
        # the same option as an ini key (its default is shown once, with the option above)
        parser.addini("codec_" + name, f"same as {flag}", type="bool" if name in BOOL_OPTIONS else None,
                      default=None)


def _argparse_type(name: str):
    """OPTIONS' type of ``name`` for argparse: a bad value is refused while parsing."""
    import argparse

    fn = option_type(name)
    if fn is None:
        return None

    def convert(text):
        try:
            return fn(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = name  # argparse names the type in some messages
    return convert


class PluginState:
    def __init__(self, config):
        self.config = config
        try:
            self.settings = build_settings(config.getoption, config.invocation_params.dir, getini=config.getini)
        except Exception as exc:  # ConformanceError: a usage problem, say it plainly
            raise pytest.UsageError(str(exc)) from None
        from ..fetch import configure_from
        configure_from(self.settings)  # --codec-offline / --codec-model-mirror, in every process
        from ..registry import codec_names
        known = codec_names()
        for name in self.settings.codecs:
            if ":" not in name and name not in known:  # entry points only: imports nothing
                raise pytest.UsageError(f"unknown codec {name!r}; registered: {', '.join(known)}; "
                                        "or pass --codec=package.module:factory")
        self.is_worker = hasattr(config, "workerinput")
        from ..results.records import now_iso
        self.started = now_iso()  # the session's start (the recorder is made at the first result)
        self.durations: dict[str, float] = {}
        self.load_failed: dict[str, str] = {}  # codec -> why it could not be loaded (this process)
        if not self.is_worker and not getattr(config.option, "help", False):  # the controller checked for the workers
            from .preflight import check_inputs
            try:
                check_inputs(self.settings)  # the baseline's codecs included
            except ConformanceError as exc:
                raise pytest.UsageError(str(exc)) from None
        self._session = None
        self.recorder = None
        self.run_dir: Path | None = None
        self.outcomes = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
        self.resume_ids: set[str] = set()
        # controller: nodeid -> readable JUnit properties, held from the call report for the
        # teardown report (junitxml reads teardown's properties)
        self.junit_pending: dict[str, list[tuple[str, str]]] = {}

    def session(self):
        if self._session is None:
            from .session import ConformanceSession
            self._session = ConformanceSession(self.settings)
        return self._session

    # controller only
    def ensure_recorder(self):
        if self.recorder is None and not self.is_worker:
            from .. import __version__
            from ..results.records import RunRecorder, load_results, lock_run_dir, new_run_dir
            s = self.settings
            report_root = s.path(s.report_dir)
            old = lock = None
            if s.resume:
                self.run_dir = (report_root / s.resume).resolve()
                try:  # lock first, then read: another process may be writing this folder
                    lock = lock_run_dir(self.run_dir) if self.run_dir.is_dir() else None
                    old = load_results(self.run_dir)
                except (ConformanceError, OSError) as exc:
                    if lock is not None:
                        os.close(lock)
                    raise pytest.UsageError(f"--codec-resume {s.resume}: {exc}") from None
                if old["run"].get("config_hash") != config_hash(s):
                    if lock is not None:
                        os.close(lock)
                    raise pytest.UsageError(f"--codec-resume {self.run_dir}: that run used other settings; "
                                            "resume needs the same codecs, bitrates, profile and seed")
            else:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                codecs = re.sub(r"[^A-Za-z0-9_.+-]", "_", "+".join(s.codecs))[:60]
                self.run_dir = new_run_dir(report_root, f"{stamp}-{codecs}-{s.profile}")  # created atomically
            import shlex
            args = [str(a) for a in self.config.invocation_params.args]
            info = {"id": self.run_dir.name, "argv": args, "started": getattr(self, "started", None),
                    "command": shlex.join(["pytest", *args]),
                    "seed": s.seed, "profile": s.profile, "device": None,
                    "versions": versions(), "evaluators": {}, "settings": s.to_dict(),
                    "config_hash": config_hash(s), "measure_only": bool(s.measure_only),
                    "shard": {"id": s.shard_id, "count": s.num_shards}, "errors": []}
            info["versions"]["codec_conformance"] = __version__
            try:  # a resume merges the old records before its first write: nothing is lost
                self.recorder = RunRecorder(self.run_dir, info, old=old, lock_fd=lock)
            except ConformanceError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self.recorder


def config_hash(s) -> str:
    keep = {k: v for k, v in s.to_dict().items() if k not in ("resume", "shard_id", "num_shards", "report_dir",
                                                             "cache_dir", "no_cache", "timeout",
                                                             "offline", "model_mirror")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


def versions() -> dict:
    import platform
    from importlib.metadata import PackageNotFoundError, version
    out = {"python": platform.python_version()}
    for pkg in ("torch", "numpy", "av", "pesq", "pystoi", "faster-whisper", "resemblyzer", "encodec",
                "descript-audio-codec", "hypothesis", "pytest", "openai-whisper", "speechbrain", "funasr"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def state(config) -> PluginState:
    return getattr(config, _STATE_ATTR)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "conformance: a codec-conformance suite test")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # workers share the cores (2 workers on 2 cores: one thread each; default threading made
        # an EnCodec call 30x slower). Light: metrics/threads.py imports nothing heavy.
        from ..metrics.threads import cpu_budget
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, str(cpu_budget()))
    setattr(config, _STATE_ATTR, PluginState(config))


def conf_fixtures() -> tuple[str, ...]:
    """The parameters the plugin provides: the codec point, and each suite's declared ones."""
    from ..catalogue import suites
    return ("codec_point", *(p for s in suites().values() for p in s.params))


def pytest_generate_tests(metafunc):
    names = metafunc.fixturenames
    if not any(n in names for n in conf_fixtures()):
        return
    from ..catalogue import suites
    st = state(metafunc.config)
    sess = st.session()
    try:
        if "codec_point" in names:
            # marks at parametrization, so that -m and xdist's --dist loadgroup (which reads
            # xdist_group during collection) see them: one codec's tests share a worker
            points = [pytest.param((c, b), id=f"{c}-{b:g}kbps",
                                   marks=[pytest.mark.conformance, pytest.mark.xdist_group(c)])
                      for c in st.settings.codecs for b in sess.bitrates(c)]
            metafunc.parametrize("codec_point", points)
        for suite in suites().values():  # each suite's parameters, as its SUITE declares them
            for fixture, values in suite.params.items():
                if fixture in names:
                    pairs = values(sess)
                    metafunc.parametrize(fixture, [v for _, v in pairs], ids=[str(i) for i, _ in pairs])
    except Exception as exc:  # a codec that cannot be built, a bad --codec-bitrate or metric
        msg = str(exc)
        st.collect_error = msg if msg.startswith("codec-conformance") else f"codec-conformance: {msg}"
        for n in conf_fixtures():  # no tests from this module; the run stops after collection
            if n in names and n not in getattr(metafunc, "_calls_params", ()):
                try:
                    metafunc.parametrize(n, [])
                except ValueError:
                    pass


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: plan only what will run
def pytest_collection_modifyitems(session, config, items):
    st = state(config)
    if getattr(st, "collect_error", None):
        pytest.exit(st.collect_error, returncode=pytest.ExitCode.USAGE_ERROR)
    s = st.settings
    fixtures = conf_fixtures()
    conf_items = [it for it in items if any(n in getattr(it, "fixturenames", ()) for n in fixtures)]
    keep, drop = [], []
    if s.resume and conf_items and not st.is_worker:
        rec = st.ensure_recorder()
        st.resume_ids = {test_id(r["test_id"]) for r in rec.records}
    for it in items:
        conf = it in conf_items
        if conf and s.num_shards > 1:
            h = int(hashlib.sha256(test_id(it.nodeid).encode()).hexdigest()[:8], 16)
            if h % s.num_shards != s.shard_id:
                drop.append(it)
                continue
        if conf and test_id(it.nodeid) in st.resume_ids:
            drop.append(it)
            continue
        keep.append(it)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    if st.is_worker and getattr(config.option, "loadgroup", False):
        add_group_suffix(items)
    if st.is_worker:
        # xdist hands tests out in collection order and keeps up to 2 queued per busy worker:
        # longest first, so the run's tail is made of short tests and the workers finish together
        # (same deterministic order in every worker, as xdist requires)
        order = {id(it): k for k, it in enumerate(items)}
        items.sort(key=lambda it: (-estimated_cost(it), order[id(it)]))


def add_group_suffix(items) -> None:
    """On a worker under ``--dist loadgroup``: the ids of tests marked ``xdist_group`` end in
    ``@<group>``, which is how the controller groups them. pytest-xdist does this by setting
    ``item._nodeid``, which pytest >= 9.2 no longer reads (an item's id lives in ``item._id``), so
    without this step every test is its own group; done here only where xdist's had no effect."""
    for item in items:
        groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                         for m in item.iter_markers("xdist_group")})
        if not groups or item.nodeid.rfind("@") > item.nodeid.rfind("]"):
            continue
        new = f"{item.nodeid}@{'_'.join(groups)}"
        if hasattr(item, "_id"):
            from _pytest.nodeid import coerce_node_id
            item._id = coerce_node_id(new)
        else:
            item._nodeid = new


def estimated_cost(item) -> float:
    """Relative cost of one test (seconds on 2 CPU cores, standard profile), as its suite declares
    it (SUITE.item_cost from the test's parameters, or SUITE.cost per test function): an ASR or
    DNSMOS test costs 15-30x a PESQ test (MetricInfo.cost); Hypothesis suites call the codec tens
    of times."""
    suite = getattr(getattr(item, "module", None), "SUITE", None)
    cs = getattr(item, "callspec", None)
    params = cs.params if cs is not None else {}
    if suite is None:
        return 0.5
    if suite.item_cost is not None:
        return float(suite.item_cost(params))
    return float(suite.cost.get(getattr(item, "originalname", "").split("[")[0], 0.5))


@pytest.fixture(scope="session")
def conformance(request):
    """The per-worker ConformanceSession (corpus, codecs, evaluators, caches)."""
    return state(request.config).session()


LOAD_ERROR_KEY = "codec_conformance_load_error"


def _codec_of(item) -> str | None:
    cs = getattr(item, "callspec", None)
    point = cs.params.get("codec_point") if cs is not None else None
    return str(point[0]) if isinstance(point, tuple) and point else None


def pytest_runtest_setup(item):
    """A codec that could not be loaded in this process is reported once: its later tests skip."""
    codec = _codec_of(item)
    st = getattr(item.config, _STATE_ATTR, None)
    if codec is not None and st is not None and codec in st.load_failed:
        pytest.skip(f"codec {codec!r} could not be loaded (reported once, above): {st.load_failed[codec]}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Move what the test handed over (ids.hand_over: records, curves) onto its call report, which
    xdist sends to the controller: records travel per test, so they survive a killed worker. A codec
    that could not be loaded (CheckpointError) is said once, without a traceback."""
    report = yield
    if call.when == "call":
        for payload in item.__dict__.pop(PAYLOADS_ATTR, ()):
            report.user_properties.append((PAYLOAD_KEY, payload))
    if call.excinfo is None or call.when not in ("setup", "call"):
        return report
    from ..errors import CheckpointError
    codec = _codec_of(item)
    if codec is None or not call.excinfo.errisinstance(CheckpointError):
        return report
    msg = " ".join(str(call.excinfo.value).split())
    st = getattr(item.config, _STATE_ATTR, None)
    if st is not None:
        st.load_failed[codec] = msg
    report.longrepr = f"codec-conformance: codec {codec!r} could not be loaded: {msg}"  # no traceback
    report.user_properties.append((LOAD_ERROR_KEY, {"codec": codec, "message": msg}))
    return report


def junit_properties(payloads) -> list[tuple[str, str]]:
    """A few readable JUnit properties per test (value, limit, delta, passed per record) in place of
    the records themselves (which are kept in results.json)."""
    from ..gate.thresholds import limit_text
    recs = [r for p in payloads for r in p.get("records", []) if isinstance(r, dict)]
    out = []
    for r in recs:
        pre = f"{r.get('metric')}." if len(recs) > 1 else ""
        if len(recs) == 1:
            out.append(("metric", str(r.get("metric"))))
        th = r.get("threshold")
        for k, v in (("value", r.get("value")), ("oracle", r.get("oracle")), ("delta", r.get("delta")),
                     ("limit", limit_text(th) if isinstance(th, dict) else None), ("unit", r.get("unit")),
                     ("passed", r.get("passed"))):
            if v is None and k in ("oracle", "delta", "unit", "limit"):
                continue
            out.append((pre + k, f"{v:.6g}" if isinstance(v, float) else str(v).lower() if isinstance(v, bool) or v is None
                        else str(v)))
    return out




@pytest.hookimpl(tryfirst=True)  # before junitxml reads user_properties
def pytest_runtest_logreport(report):
    # runs on the controller for every report (xdist forwards workers' reports)
    st = _current_state
    if st is None or st.is_worker:
        return
    from .. import progress
    prog = progress.current()
    if prog is not None:
        prog.clear()  # the live status goes before pytest writes the outcome
    if "conformance" in report.keywords:
        st.durations[report.nodeid] = st.durations.get(report.nodeid, 0.0) + float(report.duration or 0.0)
    props = list(report.user_properties)
    try:
        _logreport(st, report, props)
    finally:  # JUnit XML gets readable properties, not the records' Python repr
        payloads = [v for k, v in props if k == PAYLOAD_KEY]
        rest = [(k, v) for k, v in props if k not in (PAYLOAD_KEY, LOAD_ERROR_KEY)]
        pending = st.junit_pending
        if payloads:
            pending[report.nodeid] = junit_properties(payloads)
        if len(rest) != len(props):
            report.user_properties = rest
        if report.when == "teardown" and report.nodeid in pending:  # junitxml reads teardown's properties
            report.user_properties = list(report.user_properties) + pending.pop(report.nodeid)


def _logreport(st, report, props):
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = "error" if report.when == "setup" and report.failed else report.outcome
        if report.when == "call" or report.failed:
            st.outcomes[outcome] = st.outcomes.get(outcome, 0) + 1
    if getattr(st, "write_error", None):
        return  # the run is stopping: results.json keeps its last good state
    payloads = [v for k, v in props if k == PAYLOAD_KEY]
    load = [v for k, v in props if k == LOAD_ERROR_KEY]
    try:
        if report.when == "call" and payloads:
            rec = st.ensure_recorder()
            for p in payloads:
                rec.add(p)
        if report.failed and report.when in ("setup", "call") and "conformance" in report.keywords:
            rec = st.ensure_recorder()
            if rec is not None and load:
                rec.add_error({"test_id": report.nodeid, "when": report.when, "message": load[0]["message"][-2000:],
                               "kind": "codec_load", "codec": load[0]["codec"]})
            elif rec is not None and not payloads:
                msg = str(getattr(report.longrepr, "reprcrash", None) and report.longrepr.reprcrash.message or report.longrepr)
                rec.add_error({"test_id": test_id(report.nodeid), "when": report.when, "message": msg[-2000:]})
    except OSError as exc:  # disk full, a vanished folder: stop now, with one clear error
        st.write_error = _write_error_text(st, exc)
        st.write_error_shown = True  # pytest prints the exit message
        pytest.exit(st.write_error, returncode=pytest.ExitCode.INTERRUPTED)


def _write_error_text(st, exc: OSError) -> str:
    where = st.recorder.results_path if st.recorder is not None else st.run_dir
    return (f"codec-conformance: cannot write the results of this run ({exc.strerror or exc}: "
            f"{exc.filename or where}); the run stops here. {where} keeps its last good state; "
            "free space (or fix the folder) and continue with --codec-resume")


_current_state: PluginState | None = None


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    global _current_state
    _current_state = state(session.config)
    if not _current_state.is_worker:
        from .. import progress
        progress.install(session.config)


def pytest_sessionfinish(session, exitstatus):
    st = state(session.config)
    if st.is_worker:
        return
    rec = st.recorder
    if rec is None:
        return
    if getattr(st, "write_error", None):
        rec.close()
        return  # nothing more is written after a write error (the last good results.json stays)
    interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
    rec.run["durations"] = {k: round(v, 3) for k, v in st.durations.items()}
    from .. import progress
    prog = progress.current()
    if prog is not None and prog.totals:
        rec.run.setdefault("timing", {})["stages"] = {k: round(v, 2) for k, v in prog.totals.items()}
    gate_errors = gate_problems(st, rec)
    if gate_errors:
        rec.run["gate_errors"] = gate_errors
    from ..results.records import verdict
    status, _ = verdict(rec.to_json())
    if status in ("FAIL", "ERROR") and int(exitstatus) == int(pytest.ExitCode.OK):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # nothing gated, or a baseline that matched nothing
    try:
        if interrupted:
            rec.run["finished"] = None
            rec.run["exitstatus"] = int(exitstatus)
            rec.flush()
        else:
            rec.finish({"exitstatus": int(session.exitstatus)})  # as changed above when nothing was gated
    except OSError as exc:
        st.write_error = _write_error_text(st, exc)
        session.exitstatus = pytest.ExitCode.INTERRUPTED
        rec.close()
        return
    try:
        from ..results.report import write_html
        st.report_path = write_html(rec.run_dir)
    except Exception as exc:  # the results file is already safe; say what went wrong
        st.report_error = f"{type(exc).__name__}: {exc}"
    finally:
        rec.close()
    if st.settings.update_thresholds:
        from ..gate.calibration import write_thresholds
        st.updated = write_thresholds(rec.to_json(), st.settings)
    session.config.hook.pytest_codec_conformance_finished(results=rec.to_json(), run_dir=rec.run_dir,
                                                          config=session.config)


def gate_problems(st: PluginState, rec) -> list[str]:
    """What makes a finished run's verdict untrustworthy beyond failed checks: a baseline that
    matched no record."""
    s = st.settings
    if not s.baseline or not rec.records:
        return []
    if any(r.get("baseline") for r in rec.records):
        return []
    from ..gate.baseline import mismatch_message
    from ..results.records import load_results
    base = load_results(s.path(s.baseline))["records"]
    return [mismatch_message(base, rec.records, f"baseline {s.baseline}", "this run")]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    st = state(config)
    if st.is_worker or st.recorder is None:
        return
    recs = st.recorder.records
    gated = [r for r in recs if r.get("passed") is not None]
    n_pass = sum(1 for r in gated if r["passed"])
    n_fail = len(gated) - n_pass
    n_meas = len(recs) - len(gated)
    n_undef = sum(1 for r in recs if r.get("value") is None)
    where = getattr(st, "report_path", None) or st.recorder.results_path
    line = (f"codec-conformance: {n_pass} checks passed, {n_fail} failed, {n_meas} measured (not gated), "
            f"{n_undef} undefined; {len(st.recorder.run.get('errors', []))} test errors; report: {where}")
    from ..results.records import verdict
    from ..results.report import load_errors
    doc = st.recorder.to_json()
    _, text = verdict(doc)
    terminalreporter.write_sep("-", "codec-conformance")
    for e in load_errors(doc["run"]):  # once, at the top
        terminalreporter.write_line(f"codec-conformance: ERROR: codec {e.get('codec')!r} could not be loaded: "
                                    f"{e.get('message')}", red=True, bold=True)
    if getattr(st, "write_error", None):
        line = st.write_error if not getattr(st, "write_error_shown", False) else \
            f"codec-conformance: stopped by a write error (see its message); results: {st.recorder.results_path}"
    terminalreporter.write_line(line)
    terminalreporter.write_line(f"codec-conformance verdict: {text}")
    warns = st.recorder.run.get("cache_warnings") or []
    for w in warns[:5]:
        terminalreporter.write_line(f"codec-conformance: {w}")
    if len(warns) > 5:
        terminalreporter.write_line(f"codec-conformance: ... {len(warns) - 5} more cache warnings in results.json")
    if getattr(st, "report_error", None):
        terminalreporter.write_line(f"codec-conformance: HTML report failed ({st.report_error}); results.json is complete")
    for p in getattr(st, "updated", None) or []:
        terminalreporter.write_line(f"codec-conformance: wrote thresholds {p}")
    from .. import progress
    prog = progress.current()
    for line in prog.summary_lines() if prog is not None else []:
        terminalreporter.write_line(line)
