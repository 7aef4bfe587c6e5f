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
import re
import time
from pathlib import Path

import pytest

from ..errors import ConformanceError
from .ids import test_id
from .settings import Settings, build_settings

# keys of a report's user_properties: a test's payload (records, curves), a codec load error
PAYLOAD_KEY = "codec_conformance"
LOAD_ERROR_KEY = "codec_conformance_load_error"


class Role:
    """What every process of a run does."""

    is_worker = False

    def __init__(self, config) -> None:
        self.config = config
        try:
            self.settings: Settings = build_settings(config.getoption, config.invocation_params.dir,
                                                     getini=config.getini)
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
        self.load_failed: dict[str, str] = {}  # codec -> why it could not be loaded (this process)
        self.collect_error: str | None = None  # a parametrisation that failed: the run stops after collection
        self._session = None

    def session(self):
        if self._session is None:
            from .session import ConformanceSession
            self._session = ConformanceSession(self.settings)
        return self._session

    # ------------------------------------------------------------ collection
    def collection_modifyitems(self, items, conf_items) -> None:
        """Keep this shard's suite tests that the run does not have yet (``conf_items``: the suite
        tests among ``items``), then order them for this process."""
        s = self.settings
        have = self.done_ids(conf_items)
        shard_of: dict[str, int] = {}
        if s.num_shards > 1:  # the same partition in every shard (shards.py): by measured or declared cost
            from . import shards
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

    def done_ids(self, conf_items) -> set[str]:
        """Test ids whose records the run already has (a resume)."""
        return set()

    def order(self, items) -> None:
        """Order this process's tests in place."""

    # ------------------------------------------------------------ reporting
    def logreport(self, report) -> None:
        """A test's report (the controller sees every process's)."""

    def sessionstart(self, session) -> None:
        pass

    def sessionfinish(self, session, exitstatus) -> None:
        pass

    def terminal_summary(self, terminalreporter) -> None:
        pass


class Worker(Role):
    """An xdist worker: runs its tests, longest first; writes nothing (its records go to the
    controller with each test's report)."""

    is_worker = True

    def done_ids(self, conf_items) -> set[str]:
        """Under xdist the workers collect, not the controller: each reads the resumed run's
        records (results.json and its journal) read-only, so a resume skips finished tests with
        ``-n`` too. All workers read the same files before any test runs, so they collect alike;
        a folder that cannot be read is the controller's to report (it checks it at configure)."""
        s = self.settings
        if not (s.resume and conf_items):
            return set()
        from ..results.records import load_results, recover_from_journal
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

    def order(self, items) -> None:
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

    def __init__(self, config) -> None:
        super().__init__(config)
        from ..results.records import now_iso
        self.started = now_iso()  # the session's start (the recorder is made at the first result)
        if not getattr(config.option, "help", False):  # checked once, here, for the workers too
            from .preflight import check_inputs
            try:
                check_inputs(self.settings)  # the baseline's codecs included
            except ConformanceError as exc:
                raise pytest.UsageError(str(exc)) from None
        self.recorder = None  # RunRecorder, made at the first result
        self.run_dir: Path | None = None
        self.durations: dict[str, float] = {}  # nodeid -> seconds (setup + call + teardown)
        # nodeid -> readable JUnit properties, held from the call report for the teardown report
        # (junitxml reads teardown's properties)
        self.junit_pending: dict[str, list[tuple[str, str]]] = {}
        self.write_error: str | None = None  # results could not be written: the run stops
        self.write_error_shown = False       # ... and pytest already printed why
        self.report_path: Path | None = None  # the HTML report, once written
        self.report_error: str | None = None  # why the HTML report could not be written
        self.updated: list = []               # thresholds files written (--codec-update-thresholds)

    def ensure_recorder(self):
        if self.recorder is None:
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
            info = {"id": self.run_dir.name, "argv": args, "started": self.started,
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

    # ------------------------------------------------------------ collection
    def done_ids(self, conf_items) -> set[str]:
        if not (self.settings.resume and conf_items):
            return set()
        return {test_id(r["test_id"]) for r in self.ensure_recorder().records}

    # ------------------------------------------------------------ reporting
    def sessionstart(self, session) -> None:
        from .. import progress
        progress.install(session.config)

    def logreport(self, report) -> None:
        from .. import progress
        prog = progress.current()
        if prog is not None:
            prog.clear()  # the live status goes before pytest writes the outcome
        if "conformance" in report.keywords:
            self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + float(report.duration or 0.0)
        props = list(report.user_properties)
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
                report.user_properties = list(report.user_properties) + pending.pop(report.nodeid)

    def _record(self, report, props) -> None:
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
            if report.failed and report.when in ("setup", "call") and "conformance" in report.keywords:
                rec = self.ensure_recorder()
                if rec is not None and load:
                    rec.add_error({"test_id": report.nodeid, "when": report.when,
                                   "message": load[0]["message"][-2000:], "kind": "codec_load",
                                   "codec": load[0]["codec"]})
                elif rec is not None and not payloads:
                    msg = str(getattr(report.longrepr, "reprcrash", None) and report.longrepr.reprcrash.message
                              or report.longrepr)
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

    def sessionfinish(self, session, exitstatus) -> None:
        rec = self.recorder
        if rec is None:
            return
        if self.write_error:
            rec.close()
            return  # nothing more is written after a write error (the last good results.json stays)
        interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
        rec.run["durations"] = {k: round(v, 3) for k, v in self.durations.items()}
        from .. import progress
        prog = progress.current()
        if prog is not None and prog.totals:
            rec.run.setdefault("timing", {})["stages"] = {k: round(v, 2) for k, v in prog.totals.items()}
        gate_errors = self.gate_problems()
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
            self.write_error = self._write_error_text(exc)
            session.exitstatus = pytest.ExitCode.INTERRUPTED
            rec.close()
            return
        try:
            from ..results.report import write_html
            self.report_path = write_html(rec.run_dir)
        except Exception as exc:  # the results file is already safe; say what went wrong
            self.report_error = f"{type(exc).__name__}: {exc}"
        finally:
            rec.close()
        if self.settings.update_thresholds:
            from ..gate.calibration import write_thresholds
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
        from ..gate.baseline import mismatch_message
        from ..results.records import load_results
        base = load_results(where)["records"]
        return [mismatch_message(base, rec.records, f"baseline {s.baseline}", "this run")]

    def terminal_summary(self, terminalreporter) -> None:
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
        from ..results.records import verdict
        from ..results.report import load_errors
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
        from .. import progress
        prog = progress.current()
        for line in prog.summary_lines() if prog is not None else []:
            terminalreporter.write_line(line)


def make_role(config) -> Role:
    """The role of this process, chosen once: an xdist worker, or the controller."""
    return Worker(config) if hasattr(config, "workerinput") else Controller(config)


def config_hash(s) -> str:
    keep = {k: v for k, v in s.to_dict().items() if k not in ("resume", "shard_id", "num_shards", "shard_costs",
                                                             "report_dir", "cache_dir", "no_cache", "timeout",
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


# ---------------------------------------------------------------- scheduling (the workers' order)
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
