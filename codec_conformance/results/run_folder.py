"""A run folder: ``results.json``, ``journal.jsonl``, the lock, ``latest``.

Only the controller process writes files. Each finished test's records are appended to
``journal.jsonl`` at once, and ``results.json`` is rewritten atomically after every test and at
the end, so an interrupted run (Ctrl-C, a killed worker) still leaves a valid results file with
everything that finished and ``run.finished = null``. A run folder is locked (``.lock``,
``fcntl.flock``) by the one process that writes it; files are written to a temporary file in the
same folder and renamed, so a failed write (disk full) leaves the last good file and no temporary.
"""
from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from pathlib import Path

from ..errors import RunInUseError
from .contract import SCHEMA, finite_json, now_iso, record_key


def safe_name(text: str, limit: int) -> str:
    """``text`` as part of a file or folder name in a run folder: letters, digits and ``_.+-``
    kept, anything else ``_``, at most ``limit`` characters."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", text)[:limit]


def _file_mode() -> int:
    """Mode of an ordinary new file under the current umask (what ``open(..., "w")`` gives)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file next to ``path`` and rename it over ``path``: readers see
    the old or the new file, never a part. On any error (disk full) the temporary file is removed,
    ``path`` is left as it was, and the error is raised. The file gets ordinary permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        os.fchmod(fd, _file_mode())  # mkstemp makes 0600; results are shared like the report
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.errno and not exc.filename:  # say which file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(Path(path), json.dumps(obj, indent=1, allow_nan=False))


def lock_run_dir(run_dir: Path) -> int | None:
    """Take the run folder's exclusive lock (``RUN_DIR/.lock``, ``fcntl.flock``): one writing process
    per folder. Returns the descriptor that holds it (closing it, or the process ending, releases
    it); raises RunInUseError naming the holder's pid when another process has it."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return None
    run_dir = Path(run_dir)
    fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT, _file_mode())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        try:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        except OSError:
            holder = "?"
        os.close(fd)
        raise RunInUseError(f"{run_dir}: in use by another codec-conformance process (pid {holder}); "
                            "wait for it to finish, or start a new run instead of resuming this one") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def new_run_dir(report_root: Path, name: str) -> Path:
    """Create and return ``report_root/name`` (or ``name-2``, ``name-3``... when taken): the folder
    is created atomically, so two runs started in the same second never share one."""
    report_root = Path(report_root)
    report_root.mkdir(parents=True, exist_ok=True)
    k = 1
    while True:
        d = report_root / (name if k == 1 else f"{name}-{k}")
        try:
            d.mkdir()
            return d
        except FileExistsError:
            k += 1


def run_record_key(r: dict) -> tuple:
    """Identity of a record within one run: its test and its record key (a test run again, on a
    resume, replaces its own records and nobody else's)."""
    return (str(r.get("test_id")),) + tuple(record_key(r))


def curve_key(c: dict) -> tuple:
    return (c.get("codec"), c.get("bitrate_kbps"), c.get("kind"), c.get("level_dbfs"), c.get("label"))


class RunRecorder:
    """Controller-side collector of records, curves, codec and evaluator infos.

    Holds the run folder's lock from construction to :meth:`close`. With ``old`` (the folder's
    previous results, read under that lock) the run is resumed: the old records, and any that only
    reached the journal, are merged in before the first write, so ``results.json`` never loses
    what it had."""

    def __init__(self, run_dir: Path, run_info: dict, *, old: dict | None = None, lock_fd: int | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = lock_fd if lock_fd is not None else lock_run_dir(self.run_dir)
        self.run = dict(run_info, started=run_info.get("started") or now_iso(), finished=None)
        self.run.setdefault("errors", [])
        self.codecs: dict[str, dict] = {}
        self._records: dict[tuple, dict] = {}
        self._curves: dict[tuple, dict] = {}
        self.corpora: dict[str, dict] = {}
        self.metrics: dict[str, dict] = {}
        self.conditions: dict[str, dict] = {}
        self.journal = self.run_dir / "journal.jsonl"
        if old is not None:
            self._merge({"records": old["records"], "curves": old["curves"], "codecs": old["codecs"],
                         "metrics": old.get("metrics", {}), "conditions": old.get("conditions", {}),
                         "evaluators": old["run"].get("evaluators", {}),
                         "corpora": old["run"].get("corpora", {})})
            for e in old["run"].get("errors") or []:
                self._add_error(e)
            if self.journal.is_file():  # records that reached the journal but not results.json
                self._replay(self.journal.read_text(errors="replace"), telemetry=False)
            self.run["finished"] = None
            self.run.pop("exitstatus", None)
            self.run["started"] = old["run"].get("started")
            self.run["resumed"] = True
        self._journal_line({"resumed": now_iso()} if old is not None else {"started": self.run["started"]})
        self.flush()
        self._link_latest()

    @property
    def records(self) -> list[dict]:
        return list(self._records.values())

    @property
    def curves(self) -> list[dict]:
        return list(self._curves.values())

    def _link_latest(self) -> None:
        latest = self.run_dir.parent / "latest"
        tmp = self.run_dir.parent / f".latest-{os.getpid()}-{id(self)}"
        try:
            if tmp.is_symlink():
                tmp.unlink()
            tmp.symlink_to(self.run_dir.name)
            os.replace(tmp, latest)  # atomic: 'latest' always names a run
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass

    @property
    def results_path(self) -> Path:
        return self.run_dir / "results.json"

    def _journal_line(self, obj: dict) -> None:
        with open(self.journal, "a") as f:
            if not getattr(self, "_journal_checked", False) and f.tell() > 0:
                with open(self.journal, "rb") as r:  # a torn last line (a killed writer): start afresh
                    r.seek(-1, os.SEEK_END)
                    if r.read(1) != b"\n":
                        f.write("\n")
            self._journal_checked = True
            try:
                f.write(json.dumps(obj, allow_nan=False) + "\n")
                f.flush()
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, str(self.journal)) from exc

    def add(self, payload: dict) -> None:
        files = payload.pop("audio_files", None) or {}
        for rel, b64 in files.items():
            target = (self.run_dir / rel).resolve()
            if self.run_dir.resolve() in target.parents:  # never outside the run directory
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(base64.b64decode(b64))
        payload, notes = finite_json(payload)
        if notes:  # the workers sanitise their payloads (checks.emit); this is the last guard
            self.run.setdefault("errors", []).append(
                {"test_id": "", "when": "record", "message": "non-finite numbers written as null: "
                 + ", ".join(f"{k}={v}" for k, v in list(notes.items())[:10])})
        self._journal_line(payload)
        self._merge(payload)
        self.flush()

    def add_error(self, error: dict) -> None:
        """A test that failed without records (journaled too: ``report --recover`` keeps it)."""
        self._journal_line({"error": error})
        self._add_error(error)
        self.flush()

    def _add_error(self, error: dict) -> None:
        errs = self.run.setdefault("errors", [])
        if error not in errs:
            errs.append(error)

    def _merge(self, payload: dict) -> None:
        for c in payload.get("codecs", []):
            self.codecs[c["name"]] = c
        for k, v in payload.get("evaluators", {}).items():
            self.run.setdefault("evaluators", {})[k] = v
        for k, v in payload.get("corpora", {}).items():
            self.corpora[k] = v
        for block in ("metrics", "conditions"):  # what each metric / condition kind is (the catalogue)
            getattr(self, block).update(payload.get(block) or {})
        if payload.get("device"):
            devs = set(filter(None, str(self.run.get("device") or "").split(","))) | {payload["device"]}
            self.run["device"] = ",".join(sorted(devs))
        t = payload.get("telemetry")
        if t:
            tm = self.run.setdefault("timing", {"codec_s": 0.0, "evaluator_s": 0.0, "peak_rss_mb": {}})
            tm["codec_s"] += t.get("codec_s", 0.0)
            tm["evaluator_s"] += t.get("evaluator_s", 0.0)
            by = tm.setdefault("evaluator_s_by_metric", {})
            for k, v in (t.get("evaluator_s_by_metric") or {}).items():
                by[k] = by.get(k, 0.0) + v
            for block in ("stages", "stage_counts"):  # every process's long work, summed
                acc = tm.setdefault(block, {})
                for k, v in (t.get(block) or {}).items():
                    acc[k] = acc.get(k, 0) + v
            if t.get("threads"):
                tm.setdefault("threads", {})[t.get("worker", "main")] = t["threads"]
            w = t.get("worker", "main")
            tm["peak_rss_mb"][w] = max(tm["peak_rss_mb"].get(w, 0.0), t.get("peak_rss_mb", 0.0))
        for w in payload.get("cache_warnings") or []:
            self.run.setdefault("cache_warnings", []).append(w)
        for r in payload.get("records", []):  # a test run twice (resume) replaces its records
            self._records[run_record_key(r)] = r
        for c in payload.get("curves", []):
            self._curves[curve_key(c)] = c

    def _replay(self, text: str, telemetry: bool = True) -> None:
        """Apply journal lines (payloads and markers); unreadable lines (torn by a kill) are skipped."""
        for line in text.splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            if "finished" in obj and "records" not in obj:
                self.run["finished"] = obj["finished"]
                if "exitstatus" in obj:
                    self.run["exitstatus"] = obj["exitstatus"]
            elif "resumed" in obj or "started" in obj:
                self.run["finished"] = None
            elif "error" in obj:
                self._add_error(obj["error"])
            else:
                self._merge(obj if telemetry else {k: v for k, v in obj.items() if k != "telemetry"})

    def to_json(self) -> dict:
        run = dict(self.run)
        run["corpora"] = self.corpora
        return {"schema": SCHEMA, "run": run, "codecs": list(self.codecs.values()),
                "metrics": dict(sorted(self.metrics.items())), "conditions": dict(sorted(self.conditions.items())),
                "records": self.records, "curves": self.curves}

    def flush(self) -> None:
        atomic_write_json(self.results_path, self.to_json())

    def finish(self, extra: dict | None = None) -> Path:
        self.run["finished"] = now_iso()
        if extra:
            self.run.update(extra)
        self._journal_line({"finished": self.run["finished"], "exitstatus": self.run.get("exitstatus")})
        self.flush()
        return self.results_path

    def close(self) -> None:
        """Release the run folder's lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def recover_from_journal(run_dir: Path) -> dict:
    """Rebuild a results document from a run's journal (for a run whose controller died): records
    deduplicated by test and record key (a test run again on a resume counts once), ``finished``
    from the journal's last start/finish marker."""
    run_dir = Path(run_dir)
    journal = run_dir / "journal.jsonl"
    if not journal.is_file():
        raise FileNotFoundError(f"{run_dir}: no journal.jsonl to recover from")
    rec = object.__new__(RunRecorder)
    rec.run_dir, rec.codecs, rec._records, rec._curves, rec.corpora = run_dir, {}, {}, {}, {}
    rec.metrics, rec.conditions = {}, {}
    old = {}
    try:
        old = json.loads((run_dir / "results.json").read_text()).get("run", {})
        old = old if isinstance(old, dict) else {}
    except (OSError, ValueError, AttributeError, RecursionError):
        pass
    rec.run = {k: v for k, v in old.items() if k != "timing"}  # timing: rebuilt from the journal
    rec.run["finished"] = old.get("finished")  # a journal without markers (older runs) keeps it
    rec.run["errors"] = [e for e in old.get("errors") or [] if isinstance(e, dict)]
    rec._replay(journal.read_text(errors="replace"))
    return rec.to_json()


