"""Up-front checks of a run's inputs, on the controller at session start, before any codec or
evaluator runs: every problem found is reported together, once, as a usage error that names the
option or file and what would be valid.

Cheap by design (the plugin runs it in every pytest session): folders are listed and one audio
file of each is read, not the whole corpus; soundfile is imported only when an audio folder is
given, torch only when ``--codec-device`` asks for CUDA.
"""
from __future__ import annotations

import os
import tempfile
from functools import partial
from pathlib import Path
from typing import Callable

from ..catalogue import metrics as registered
from ..data.corpus import AUDIO_EXT, find_audio
from ..data.sources import OPTION_NAMES, folder, folder_of, is_named, obtain
from ..errors import ConformanceError, ThresholdError
from ..fetch import FetchError, Source, ensure
from ..gate.baseline import check_covers_codecs
from ..gate.thresholds import ThresholdSet, known_metrics
from ..metrics import paper
from ..registry import load_codec_factory
from ..results.contract import load_results
from ..settings import Settings, flag
from .session import resolve_device
from .shards import load_durations

AUDIO_FOLDERS = {"corpus": "speech", "noise_dir": "noise", "rir_dir": "room impulse response",
                 "emotion_corpus": "emotional speech (RAVDESS names)"}


def check_inputs(s: Settings) -> None:
    """Raise one ConformanceError listing every bad input of settings ``s``."""
    problems = []
    # first: named corpora are then extracted for the folder checks
    checks: list[Callable[[], None]] = [lambda: check_models(s)]
    checks += [partial(check_audio_folder, s, o) for o in AUDIO_FOLDERS]
    checks += [lambda: check_thresholds(s), lambda: check_baseline(s), lambda: check_resume(s),
               lambda: check_report_dir(s), lambda: check_device(s.device), lambda: check_shard_costs(s)]
    for check in checks:
        try:
            check()
        except ConformanceError as exc:
            problems.append(str(exc))
    if problems:
        raise ConformanceError("codec-conformance: bad input, nothing was run:\n  " + "\n  ".join(problems))


def check_shard_costs(s: Settings) -> None:
    """--codec-shard-costs names a results file with per-test durations (read again, identically,
    by every shard: engine/shards.py)."""
    where = s.path(s.shard_costs)
    if where is None:
        return
    try:
        load_durations(where)
    except ValueError as exc:
        raise ConformanceError(f"--codec-shard-costs {exc}") from None


def check_audio_folder(s: Settings, option: str) -> None:
    """The folder exists and at least one of its audio files can be read (a file that cannot be
    read later is skipped, counted and named in results.json and the report)."""
    value = getattr(s, option)
    if not value or (option == "corpus" and value == "synthetic"):  # the eSpeak NG corpus
        return
    if is_named(value):
        if value not in OPTION_NAMES.get(option, ()):
            raise ConformanceError(f"{flag(option)} {value}: that corpus is for "
                                   f"{', '.join(flag(o) for o, n in OPTION_NAMES.items() if value in n)}; "
                                   f"{flag(option)} takes {', '.join(OPTION_NAMES.get(option, ())) or 'a folder'}")
        if not folder(value).is_dir():
            return  # not obtained: check_models said why

    root, opt, kind = folder_of(s, option), flag(option), AUDIO_FOLDERS[option]
    if root is None:  # an empty value: no folder given
        return
    if not root.exists():
        raise ConformanceError(f"{opt} {root}: no such directory; give a folder of {kind} audio files")
    if not root.is_dir():
        raise ConformanceError(f"{opt} {root}: is a file; give a folder of {kind} audio files")
    files, unreadable = find_audio(root)
    if not files:
        more = f" (folders that cannot be listed: {', '.join(unreadable)})" if unreadable else ""
        raise ConformanceError(f"{opt} {root}: no audio files ({', '.join(sorted(AUDIO_EXT))}) in it{more}; "
                               f"give a folder of {kind} audio files")
    errors = []
    for p in files:  # stop at the first readable one
        why = unreadable_reason(p)
        if why is None:
            return
        errors.append(f"{p}: {why}")
    raise ConformanceError(f"{opt} {root}: none of its {len(files)} audio files can be read, e.g. {errors[0]}")


def unreadable_reason(path: Path) -> str | None:
    """Why the start of an audio file cannot be decoded, or None (reads at most one second)."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            n = len(f.read(frames=f.samplerate, dtype="float32"))
    except Exception as exc:  # soundfile raises its own LibsndfileError / RuntimeError, OSError
        return f"cannot be read ({exc})"
    return None if n > 0 else "no audio frames (empty)"


def check_thresholds(s: Settings) -> None:
    """--codec-thresholds parses and validates; else the files the thresholds directory holds for
    the codecs named on the command line (and its default.toml) do."""

    try:
        if s.thresholds:
            ThresholdSet.load(s.given_path("thresholds"), known_metrics())
            return
        d = s.path(s.thresholds_dir)  # None (an empty value): the packaged thresholds only
        if d is not None and d.exists() and not d.is_dir():
            raise ConformanceError(f"--codec-thresholds-dir {d}: is a file; give the folder of <codec>.toml "
                                   "files (one file for every codec is --codec-thresholds)")
        for spec in s.codecs:  # the codec's own name is known only once it is built: default.toml then
            ThresholdSet.for_codec(spec, d, None, metrics=known_metrics())
    except ThresholdError as exc:
        opt = "--codec-thresholds" if s.thresholds else "--codec-thresholds-dir"
        raise ConformanceError(f"{opt}: {exc}") from None


def _results_doc(path: Path, opt: str) -> dict:

    try:  # load_results checks the whole file against the results contract
        return load_results(path)
    except (OSError, ValueError) as exc:  # their messages name the file
        raise ConformanceError(f"{opt}: {exc}" if str(path) in str(exc) else f"{opt} {path}: {exc}") from None


def check_baseline(s: Settings) -> None:
    """The baseline is a results file with records of at least one codec of this run."""
    if s.baseline:
        where = s.given_path("baseline")
        doc = _results_doc(where, "--codec-baseline")
        check_covers_codecs(doc["records"], s.codecs, where)


def check_resume(s: Settings) -> None:
    reports = s.path(s.report_dir)
    if not s.resume or reports is None:  # no report folder: check_report_dir says so
        return
    run_dir = (reports / s.resume).resolve()
    if not run_dir.is_dir():
        raise ConformanceError(f"--codec-resume {s.resume}: no run folder {run_dir}; give a folder under "
                               f"{reports} (or 'latest') that a run wrote")
    _results_doc(run_dir, "--codec-resume")


def check_report_dir(s: Settings) -> None:
    """The report folder can be created and written to (nothing is created here)."""
    d = s.given_path("report_dir")
    opt = "--codec-report-dir"
    probe = d
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ConformanceError(f"{opt} {d}: {probe} is a file, not a folder; give a folder reports can be written to")
    if probe == d:
        try:
            with tempfile.TemporaryFile(dir=d):
                pass
        except OSError as exc:
            raise ConformanceError(f"{opt} {d}: not writable ({exc.strerror or exc}); "
                                   "give a folder reports can be written to") from None
    elif not os.access(probe, os.W_OK | os.X_OK):
        raise ConformanceError(f"{opt} {d}: cannot be created, {probe} is not writable; "
                               "give a folder reports can be written to")


def check_device(spec: str) -> None:
    """A CUDA device that is asked for is there (imports torch only for cuda / cuda:N)."""
    if spec in ("cpu", "auto"):
        return
    resolve_device(spec)


def needed_files(s: Settings) -> list[tuple[str, Source]]:
    """(label, fetch.Source) of every published file this run needs: the pretrained weights of
    its codecs (each adapter's ``PRETRAINED``), the paper's evaluators (``--codec-evaluators
    paper``) of the metrics it runs."""
    import sys

    out: list[tuple[str, Source]] = []
    if s.weights == "pretrained" and not s.checkpoint:
        for name in s.codecs:
            if ":" in name:
                continue  # a user's factory: its files are its business
            try:
                factory = load_codec_factory(name)
            except ConformanceError:
                continue  # reported when the codec is built
            declared = getattr(sys.modules.get(factory.__module__), "PRETRAINED", {}).get(name, ())
            out += [(f"--codec={name} pretrained weights", src) for src in declared]
    if s.evaluators == "paper":
        metrics = [m.strip() for m in str(s.metrics).split(",")] if s.metrics else list(registered())
        metrics.append("emotion_acc")
        for metric in dict.fromkeys(metrics):  # once each: emotion_acc is registered too (it was listed twice)
            if paper.uses_paper(s, metric):
                out += [(f"--codec-evaluators paper: {label}", src) for label, src in paper.sources(metric)]
    return out


def check_models(s: Settings) -> None:
    """Every file the run needs is in its cache, downloaded now when missing (once, on the
    controller, before any worker starts); offline, each missing file is named with its URL and
    the cache path to fill by hand. Named corpora are obtained and extracted here too."""
    problems = []
    for label, src in needed_files(s):
        try:
            ensure(src, label)
        except FetchError as exc:
            problems.append(str(exc))
    for option, names in OPTION_NAMES.items():
        value = getattr(s, option, None)
        if is_named(value) and value in names:
            try:
                obtain(value)
            except FetchError as exc:
                problems.append(f"{flag(option)} {value}: {exc}")
    if problems:
        raise ConformanceError("\n  ".join(problems))
