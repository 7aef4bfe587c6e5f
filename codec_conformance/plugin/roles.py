"""The plugin's roles in a run, one class each, chosen once per process in ``pytest_configure``
(as pytest-cov's ``engine.py``); the hooks only delegate to the chosen object.

- :class:`Controller`: the process that owns the run (the only process without xdist, the
  xdist controller with it): checks the inputs before any work, deselects what a resume already
  has, writes ``reports/<run-id>/`` (journal, ``results.json``, the HTML report) from the records
  that arrive with each test's report, and prints the terminal summary.
- :class:`Worker`: an xdist worker: runs tests in longest-first order and writes nothing; its
  records travel to the controller inside each test's report (``pytest_runtest_makereport`` in
  ``hooks.py`` puts them there, in both roles), so the records of a killed worker's finished
  tests are already with the controller.

Both share :class:`Role`: the settings, the process's :class:`ConformanceSession` (built
lazily) and the codecs that could not be loaded in this process.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Generator

import pytest

from .. import __version__
from ..catalogue import suites
from ..engine.preflight import check_inputs
from ..engine import shards
from ..engine.runner import exit_despite_hung_calls
from ..engine.session import ConformanceSession
from ..errors import CheckpointError, ConformanceError
from ..fetch import configure_from, redact
from ..gate.baseline import mismatch_message, record_change, rule_text
from ..gate.calibration import write_thresholds
from ..gate.thresholds import limit_text
from ..progress import Progress, Stages, stage_summary
from ..registry import codec_names
from ..report import load_errors, write_html
from ..results.contract import load_results, now_iso, verdict
from ..results.run_folder import RunRecorder, lock_run_dir, new_run_dir, recover_from_journal, safe_name
from ..settings import Settings, build_settings
from .checks import rejudge_resumed
from .ids import PAYLOADS_ATTR, test_id

ROLE = pytest.StashKey["Role"]()  # config.stash[ROLE]: this process's role

# keys of a report's user_properties: a test's payload (records, curves), a codec load error
PAYLOAD_KEY = "codec_conformance"
LOAD_ERROR_KEY = "codec_conformance_load_error"


class Role:
    """What every process of a run does: the hooks of collection and of running a test."""

    is_worker = False

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        try:
            self.settings: Settings = build_settings(config.getoption, config.invocation_params.dir,
                                                     getini=config.getini)
        except Exception as exc:  # ConformanceError: a usage problem, say it plainly
            raise pytest.UsageError(str(exc)) from None
        configure_from(self.settings)  # --codec-offline / --codec-model-mirror, in every process
        known = codec_names()
        for name in self.settings.codecs:
            if ":" not in name and name not in known:  # entry points only: imports nothing
                raise pytest.UsageError(f"unknown codec {name!r}; registered: {', '.join(known)}; "
                                        "or pass --codec=package.module:factory")
        self.load_failed: dict[str, str] = {}  # codec -> why it could not be loaded (this process)
        self.collect_error: str | None = None  # a parametrisation that failed: the run stops after collection
        self.progress: Stages = Stages()               # times the stages of long work (the controller also shows them)
        self._session: ConformanceSession | None = None

    def session(self) -> ConformanceSession:
        if self._session is None:
            self._session = ConformanceSession(self.settings, self.progress)
        return self._session

    @pytest.hookimpl(specname="pytest_sessionfinish", trylast=True)
    def pytest_sessionfinish_end_despite_hung_calls(self, session: pytest.Session) -> None:
        """The codecs' worker processes end with the session (this process's: an xdist worker's
        its own). A codec call abandoned past --codec-timeout in this process that is still
        running must not keep the process from exiting (issue 29): it ends, with the run's exit
        status, when pytest is done. (pytest reads hooks from methods named pytest_*: hence the
        name, and specname.)"""
        if self._session is not None:
            self._session.runner.close()
            exit_despite_hung_calls(self._session.runner.abandoned, lambda: session.exitstatus)

    # ------------------------------------------------------------ collection
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        names = metafunc.fixturenames
        if not any(n in names for n in conf_fixtures()):
            return
        sess = self.session()
        try:
            if "codec_point" in names:
                # marks at parametrization, so that -m and xdist's --dist loadgroup (which reads
                # xdist_group during collection) see them: one codec's tests share a worker
                points = [pytest.param((c, b), id=f"{c}-{b:g}kbps" if b == b else f"{c}-unloaded",
                                       marks=[pytest.mark.conformance, pytest.mark.xdist_group(c)])
                          for c in self.settings.codecs for b in self.bitrates_or_placeholder(sess, c)]
                metafunc.parametrize("codec_point", points)
            for suite in suites().values():  # each suite's parameters, as its SUITE declares them
                for fixture, values in suite.params.items():
                    if fixture in names:
                        pairs = values(sess)
                        metafunc.parametrize(fixture, [v for _, v in pairs], ids=[str(i) for i, _ in pairs])
        except Exception as exc:  # a codec that cannot be built, a bad --codec-bitrate or metric
            msg = str(exc)
            self.collect_error = msg if msg.startswith("codec-conformance") else f"codec-conformance: {msg}"
            for n in conf_fixtures():  # no tests from this module; the run stops after collection
                if n in names and n not in getattr(metafunc, "_calls_params", ()):
                    try:
                        metafunc.parametrize(n, [])
                    except ValueError:
                        pass

    @staticmethod
    def bitrates_or_placeholder(sess: ConformanceSession, codec: str) -> list[float]:
        """The codec's bitrates to run; one that cannot be loaded (CheckpointError, from a
        registered codec or a plugin factory alike) cannot tell them: one placeholder point (NaN)
        whose tests run and report the load error once, as when it fails at test time."""
        try:
            return sess.runner.bitrates(codec)
        except CheckpointError:
            return [float("nan")]

    @pytest.hookimpl(trylast=True)  # after -k/-m deselection: plan only what will run
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Keep this shard's suite tests that the run does not have yet, then order them for this
        process."""
        if self.collect_error:
            pytest.exit(self.collect_error, returncode=pytest.ExitCode.USAGE_ERROR)
        fixtures = conf_fixtures()
        conf_items = [it for it in items if any(n in getattr(it, "fixturenames", ()) for n in fixtures)]
        s = self.settings
        have = self.done_ids(conf_items)
        shard_of: dict[str, int] = {}
        if s.num_shards > 1:  # the same partition in every shard (shards.py): by measured or declared cost

            where = s.path(s.shard_costs)  # --codec-shard-costs: an earlier run's durations
            try:
                measured = shards.load_durations(where, key=test_id) if where is not None else None
            except ValueError as exc:
                raise pytest.UsageError(f"--codec-shard-costs {exc}") from None
            declared = {test_id(it.nodeid): estimated_cost(it) for it in conf_items}
            shard_of = shards.partition(sorted(declared), s.num_shards, measured, declared)
        keep, drop = [], []
        for it in items:
            conf = it in conf_items
            if conf and s.num_shards > 1:
                if shard_of[test_id(it.nodeid)] != s.shard_id:
                    drop.append(it)
                    continue
            if conf and test_id(it.nodeid) in have:
                drop.append(it)
                continue
            keep.append(it)
        if drop:
            self.config.hook.pytest_deselected(items=drop)
            items[:] = keep
        self.order(items)

    def done_ids(self, conf_items: list[pytest.Item]) -> set[str]:
        """Test ids whose records the run already has (a resume)."""
        return set()

    def order(self, items: list[pytest.Item]) -> None:
        """Order this process's tests in place."""

    # ------------------------------------------------------------ running a test
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """A codec that could not be loaded in this process is reported once: its later tests skip."""
        codec = codec_of(item)
        if codec is not None and codec in self.load_failed:
            pytest.skip(f"codec {codec!r} could not be loaded (reported once, above): {self.load_failed[codec]}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        """A codec that could not even tell its bitrates (its placeholder point): its load error,
        before the test does any work, reported as a load error at test time always is."""
        point = codec_point_of(item)
        if point is not None and point[1] != point[1]:
            err = self.session().runner.load_failed.get(point[0])
            raise err if err is not None else CheckpointError(f"codec {point[0]!r} could not be loaded")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Move what the test handed over (ids.hand_over: records, curves) onto its call report,
        which xdist sends to the controller: records travel per test, so they survive a killed
        worker. A codec that could not be loaded (CheckpointError) is said once, without a traceback."""
        report = yield
        if call.when == "call":
            for payload in item.__dict__.pop(PAYLOADS_ATTR, ()):
                report.user_properties.append((PAYLOAD_KEY, payload))
        if call.excinfo is None or call.when not in ("setup", "call"):
            return report
        codec = codec_of(item)
        if codec is None or not call.excinfo.errisinstance(CheckpointError):
            return report
        msg = " ".join(str(call.excinfo.value).split())
        self.load_failed[codec] = msg
        report.longrepr = f"codec-conformance: codec {codec!r} could not be loaded: {msg}"  # no traceback
        report.user_properties.append((LOAD_ERROR_KEY, {"codec": codec, "message": msg}))
        return report


def conf_fixtures() -> tuple[str, ...]:
    """The parameters the plugin provides: the codec point, and each suite's declared ones."""
    return ("codec_point", *(p for s in suites().values() for p in s.params))


def codec_point_of(item: pytest.Item) -> tuple[str, float] | None:
    cs = getattr(item, "callspec", None)
    point = cs.params.get("codec_point") if cs is not None else None
    return (str(point[0]), float(point[1])) if isinstance(point, tuple) and len(point) == 2 else None


def codec_of(item: pytest.Item) -> str | None:
    point = codec_point_of(item)
    return point[0] if point is not None else None


class Worker(Role):
    """An xdist worker: runs its tests, longest first; writes nothing (its records go to the
    controller with each test's report)."""

    is_worker = True

    def done_ids(self, conf_items: list[pytest.Item]) -> set[str]:
        """Under xdist the workers collect, not the controller: each reads the resumed run's
        records (results.json and its journal) read-only, so a resume skips finished tests with
        ``-n`` too. All workers read the same files before any test runs, so they collect alike;
        a folder that cannot be read is the controller's to report (it checks it at configure)."""
        s = self.settings
        if not (s.resume and conf_items):
            return set()
        root = s.path(s.report_dir)
        if root is None:
            return set()
        run_dir = (root / s.resume).resolve()
        ids: set[str] = set()
        for read in (load_results, recover_from_journal):
            try:
                ids |= {test_id(r["test_id"]) for r in read(run_dir)["records"]}
            except (ConformanceError, OSError, ValueError, KeyError):
                continue
        return ids

    def order(self, items: list[pytest.Item]) -> None:
        if getattr(self.config.option, "loadgroup", False):
            add_group_suffix(items)
        # xdist hands tests out in collection order and keeps up to 2 queued per busy worker:
        # longest first, so the run's tail is made of short tests and the workers finish together
        # (same deterministic order in every worker, as xdist requires)
        order = {id(it): k for k, it in enumerate(items)}
        items.sort(key=lambda it: (-estimated_cost(it), order[id(it)]))


class Controller(Role):
    """The process that owns the run: checks the inputs, writes the run folder from the records
    that arrive with each test's report, and prints the summary."""

    def __init__(self, config: pytest.Config) -> None:
        super().__init__(config)
        self.started = now_iso()  # the session's start (the recorder is made at the first result)
        if not getattr(config.option, "help", False):  # checked once, here, for the workers too
            try:
                check_inputs(self.settings)  # the baseline's codecs included
            except ConformanceError as exc:
                raise pytest.UsageError(str(exc)) from None
        self.recorder: RunRecorder | None = None  # made at the first result
        self.run_dir: Path | None = None
        self.durations: dict[str, float] = {}  # nodeid -> seconds (setup + call + teardown)
        # nodeid -> readable JUnit properties, held from the call report for the teardown report
        # (junitxml reads teardown's properties)
        self.junit_pending: dict[str, list[tuple[str, str]]] = {}
        self.write_error: str | None = None  # results could not be written: the run stops
        self.write_error_shown = False       # ... and pytest already printed why
        self.report_path: Path | None = None  # the HTML report, once written
        self.report_error: str | None = None  # why the HTML report could not be written
        self.updated: list[Path] = []               # thresholds files written (--codec-update-thresholds)

    def ensure_recorder(self) -> RunRecorder:
        if self.recorder is None:
            s = self.settings
            report_root = s.given_path("report_dir")
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
                codecs = safe_name("+".join(s.codecs), 60)
                self.run_dir = new_run_dir(report_root, f"{stamp}-{codecs}-{s.profile}")  # created atomically
            args = [str(a) for a in self.config.invocation_params.args]
            vers = versions()
            vers["codec_conformance"] = __version__
            info = {"id": self.run_dir.name, "argv": args, "started": self.started,
                    "command": shlex.join(["pytest", *args]),
                    "seed": s.seed, "profile": s.profile, "device": None,
                    "versions": vers, "evaluators": {}, "settings": recorded_settings(s),
                    "config_hash": config_hash(s), "measure_only": bool(s.measure_only),
                    "shard": {"id": s.shard_id, "count": s.num_shards}, "errors": []}
            try:  # a resume merges the old records before its first write: nothing is lost
                self.recorder = RunRecorder(self.run_dir, info, old=old, lock_fd=lock)
                if old is not None and rejudge_resumed(self.recorder.records):  # a stored pass is not trusted
                    self.recorder.flush()
            except ConformanceError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self.recorder

    # ------------------------------------------------------------ collection
    def done_ids(self, conf_items: list[pytest.Item]) -> set[str]:
        if not (self.settings.resume and conf_items):
            return set()
        return {test_id(r["test_id"]) for r in self.ensure_recorder().records}

    # ------------------------------------------------------------ reporting
    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        shown = Progress.install(session.config)
        if shown is not None:
            self.progress = shown
            if self._session is not None:
                self._session.use_stages(shown)

    @pytest.hookimpl(tryfirst=True)  # before junitxml reads user_properties
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Every process's test reports (xdist forwards the workers')."""
        self.progress.clear()  # the live status goes before pytest writes the outcome
        if "conformance" in report.keywords:
            self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + float(report.duration or 0.0)
        props: list[tuple[str, Any]] = list(report.user_properties)  # values: what the tests handed over
        try:
            self._record(report, props)
        finally:  # JUnit XML gets readable properties, not the records' Python repr
            payloads = [v for k, v in props if k == PAYLOAD_KEY]
            rest = [(k, v) for k, v in props if k not in (PAYLOAD_KEY, LOAD_ERROR_KEY)]
            pending = self.junit_pending
            if payloads:
                pending[report.nodeid] = junit_properties(payloads)
            if len(rest) != len(props):
                report.user_properties = rest
            if report.when == "teardown" and report.nodeid in pending:  # junitxml reads teardown's properties
                report.user_properties = [*report.user_properties, *pending.pop(report.nodeid)]

    def _record(self, report: pytest.TestReport, props: list[tuple[str, Any]]) -> None:
        """The report's records (or its error) into the run's journal and results."""
        if self.write_error:
            return  # the run is stopping: results.json keeps its last good state
        payloads = [v for k, v in props if k == PAYLOAD_KEY]
        load = [v for k, v in props if k == LOAD_ERROR_KEY]
        try:
            if report.when == "call" and payloads:
                rec = self.ensure_recorder()
                for p in payloads:
                    rec.add(p)
            if report.failed and report.when not in ("setup", "call", "teardown"):
                # a worker that died (os._exit, a segfault, the OOM killer): xdist reports its
                # running test with no phase and no keywords; it ran and left no record
                rec = self.ensure_recorder()
                rec.add_error({"test_id": test_id(report.nodeid), "when": "crash", "kind": "worker_crash",
                               "message": " ".join(str(report.longrepr).split())[-2000:]})
            elif report.failed and report.when in ("setup", "call") and "conformance" in report.keywords:
                rec = self.ensure_recorder()
                if rec is not None and load:
                    rec.add_error({"test_id": report.nodeid, "when": report.when,
                                   "message": load[0]["message"][-2000:], "kind": "codec_load",
                                   "codec": load[0]["codec"]})
                elif rec is not None and not payloads:
                    crash = getattr(report.longrepr, "reprcrash", None)
                    msg = str(crash and crash.message or report.longrepr)
                    rec.add_error({"test_id": test_id(report.nodeid), "when": report.when, "message": msg[-2000:]})
        except OSError as exc:  # disk full, a vanished folder: stop now, with one clear error
            self.write_error = self._write_error_text(exc)
            self.write_error_shown = True  # pytest prints the exit message
            pytest.exit(self.write_error, returncode=pytest.ExitCode.INTERRUPTED)

    def _write_error_text(self, exc: OSError) -> str:
        where = self.recorder.results_path if self.recorder is not None else self.run_dir
        return (f"codec-conformance: cannot write the results of this run ({exc.strerror or exc}: "
                f"{exc.filename or where}); the run stops here. {where} keeps its last good state; "
                "free space (or fix the folder) and continue with --codec-resume")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
        rec = self.recorder
        if rec is None:
            return
        if self.write_error:
            rec.close()
            return  # nothing more is written after a write error (the last good results.json stays)
        interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
        rec.run["durations"] = {k: round(v, 3) for k, v in self.durations.items()}
        gate_errors = self.gate_problems()
        if gate_errors:
            rec.run["gate_errors"] = gate_errors
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
            self.write_error = self._write_error_text(exc)
            session.exitstatus = pytest.ExitCode.INTERRUPTED
            rec.close()
            return
        try:
            self.report_path = write_html(rec.run_dir)
        except Exception as exc:  # the results file is already safe; say what went wrong
            self.report_error = f"{type(exc).__name__}: {exc}"
        finally:
            rec.close()
        if self.settings.update_thresholds:
            self.updated = write_thresholds(rec.to_json(), self.settings)
        session.config.hook.pytest_codec_conformance_finished(results=rec.to_json(), run_dir=rec.run_dir,
                                                              config=session.config)

    def gate_problems(self) -> list[str]:
        """What makes a finished run's verdict untrustworthy beyond failed checks: a baseline that
        matched no record."""
        s, rec = self.settings, self.recorder
        where = s.path(s.baseline)
        if where is None or rec is None or not rec.records:
            return []
        if any(r.get("baseline") for r in rec.records):
            return []
        base = load_results(where)["records"]
        return [mismatch_message(base, rec.records, f"baseline {s.baseline}", "this run")]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.recorder is None:
            return
        recs = self.recorder.records
        gated = [r for r in recs if r.get("passed") is not None]
        n_pass = sum(1 for r in gated if r["passed"])
        n_fail = len(gated) - n_pass
        n_meas = len(recs) - len(gated)
        n_undef = sum(1 for r in recs if r.get("value") is None)
        where = self.report_path or self.recorder.results_path
        line = (f"codec-conformance: {n_pass} checks passed, {n_fail} failed, {n_meas} measured (not gated), "
                f"{n_undef} undefined; {len(self.recorder.run.get('errors', []))} test errors; report: {where}")
        doc = self.recorder.to_json()
        _, text = verdict(doc)
        terminalreporter.write_sep("-", "codec-conformance")
        for e in load_errors(doc["run"]):  # once, at the top
            terminalreporter.write_line(f"codec-conformance: ERROR: codec {e.get('codec')!r} could not be loaded: "
                                        f"{e.get('message')}", red=True, bold=True)
        if self.write_error:
            line = self.write_error if not self.write_error_shown else \
                f"codec-conformance: stopped by a write error (see its message); results: {self.recorder.results_path}"
        terminalreporter.write_line(line)
        terminalreporter.write_line(f"codec-conformance verdict: {text}")
        warns = self.recorder.run.get("cache_warnings") or []
        for w in warns[:5]:
            terminalreporter.write_line(f"codec-conformance: {w}")
        if len(warns) > 5:
            terminalreporter.write_line(f"codec-conformance: ... {len(warns) - 5} more cache warnings in results.json")
        if self.report_error:
            terminalreporter.write_line(f"codec-conformance: HTML report failed ({self.report_error}); "
                                        "results.json is complete")
        for p in self.updated or []:
            terminalreporter.write_line(f"codec-conformance: wrote thresholds {p}")
        timing = self.recorder.run.get("timing") or {}  # every process's stages (the workers' under -n)
        for line in stage_summary(timing.get("stages") or {}, timing.get("stage_counts") or {}):
            terminalreporter.write_line(line)


def make_role(config: pytest.Config) -> Role:
    """The role of this process, chosen once: an xdist worker, or the controller."""
    return Worker(config) if hasattr(config, "workerinput") else Controller(config)


def recorded_settings(s: Settings) -> dict[str, Any]:
    """The settings as results.json records them: a mirror URL's password shows as ``***``."""
    out = s.to_dict()
    if out.get("model_mirror"):
        out["model_mirror"] = redact(out["model_mirror"])
    return out


def config_hash(s: Settings) -> str:
    keep = {k: v for k, v in s.to_dict().items() if k not in ("resume", "shard_id", "num_shards", "shard_costs",
                                                             "report_dir", "cache_dir", "no_cache", "timeout", "isolation",
                                                             "offline", "model_mirror")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "numpy", "av", "pesq", "pystoi", "faster-whisper", "resemblyzer", "encodec",
                "descript-audio-codec", "hypothesis", "pytest", "openai-whisper", "speechbrain", "funasr"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def junit_properties(payloads: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """A few readable JUnit properties per test (value, limit, delta, passed per record; with a
    baseline its value, the change new - base, its interval, the status and the rule applied) in
    place of the records themselves (which are kept in results.json)."""
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
            out.append((pre + k, _prop(v)))
        b = r.get("baseline")
        if isinstance(b, dict):  # why a baseline check passed or failed (issue 26): base, change, interval, rule
            ch, ci = record_change(r), b.get("change_ci")
            for k, v in (("baseline", b.get("value")), ("baseline.change", ch),
                         ("baseline.change_ci", f"[{_prop(ci[0])}, {_prop(ci[1])}]"
                          if isinstance(ci, (list, tuple)) and len(ci) == 2 else None),
                         ("baseline.status", b.get("status") or ("ok" if b.get("passed") else "REGRESSED")),
                         ("baseline.rule", rule_text(b))):
                if v is not None or k == "baseline":
                    out.append((pre + k, _prop(v)))
    return out


def _prop(v: Any) -> str:
    """A JUnit property's text: floats to 6 significant digits, booleans and None in lower case."""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v).lower() if isinstance(v, bool) or v is None else str(v)


# ---------------------------------------------------------------- scheduling (the workers' order)
def add_group_suffix(items: list[pytest.Item]) -> None:
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
            item._nodeid = new  # type: ignore[attr-defined]  # pytest < 9.2 keeps the id there


def estimated_cost(item: pytest.Item) -> float:
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
