"""Run settings: one typed attribute per option, the profiles, and how a run's settings are read
(command line > ini keys > ``[tool.codec_conformance]`` of pyproject.toml > defaults).

The model every layer below the pytest integration takes: pure Python, no pytest. An option is a
field of :class:`Settings` declared with :func:`option` (its default, help, value type, whether it
is a path); the command-line flag ``--codec-<name>``, the ini key ``codec_<name>`` and the
pyproject key ``<name>`` are generated from that field (:data:`OPTIONS`).
"""
from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .errors import ConformanceError


# Option value types: each takes a command-line string (or a value from a config file) and returns
# the typed value, or raises ValueError whose message starts with the value (``'abc': expected an
# integer``). The pytest integration hands them to argparse (``type=``), so a bad value is refused at parse
# time; build_settings applies the same functions to ini and pyproject values.
def integer(minimum: int | None = None) -> Callable[[Any], int]:
    def convert(v: Any) -> int:
        # a TOML true/false is not a number; a TOML 1.5 is not an integer
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
            raise ValueError(f"{v!r}: expected an integer")
        try:
            n = int(v)
        except (TypeError, ValueError):
            raise ValueError(f"{v!r}: expected an integer") from None
        if minimum is not None and n < minimum:
            raise ValueError(f"{n}: expected an integer >= {minimum}")
        return n
    return convert


def non_negative(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError(f"{v!r}: expected a number")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{v!r}: expected a number") from None
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{x!r}: expected a finite number >= 0")
    return x


def seconds(v: Any) -> float:
    try:
        return non_negative(v)
    except ValueError:
        raise ValueError(f"{v!r}: use seconds, e.g. 600 (0: no limit)") from None


def choice(*options: str) -> Callable[[Any], str]:
    def convert(v: Any) -> str:
        if str(v) not in options:
            raise ValueError(f"{v!r}: use {', '.join(options[:-1])} or {options[-1]}")
        return str(v)
    return convert


def device(v: Any) -> str:
    if not DEVICE_RE.fullmatch(str(v)):
        raise ValueError(f"{v!r}: use auto, cpu, cuda or cuda:N (N = a GPU index)")
    return str(v)


def profile_name(v: Any) -> str:
    return choice(*PROFILES)(v)


DEVICE_RE = re.compile(r"auto|cpu|cuda(:[0-9]+)?")
# corpora an audio-folder option may name (data/sources.py downloads them): never made a path
CORPUS_NAMES = ("librispeech:test-clean", "librispeech:dev-clean", "ravdess", "wham")


@dataclass(frozen=True)
class Option:
    """One option, generated from its :class:`Settings` field: ``--codec-<name>`` on the command
    line, ``codec_<name>`` as an ini key, ``<name>`` under ``[tool.codec_conformance]``."""

    name: str
    default: Any
    help: str
    type: Callable[[Any], Any] | None = None   # validates and converts a value (None: a string)
    is_flag: bool = False                       # a bool option: --codec-<name> alone turns it on
    is_path: bool = False                       # relative to where it was given (see build_settings)
    words: tuple[str, ...] = ()                 # values of a path option that are not paths ('auto', a corpus name)

    @property
    def flag(self) -> str:
        return flag(self.name)

    def convert(self, value: Any) -> Any:
        """``value`` through the option's type, or one ConformanceError naming the option."""
        if self.is_flag and not isinstance(value, bool) and value is not None:
            return str(value).strip().lower() in ("1", "true", "yes", "on")
        if self.type is None or value is None:
            return value
        try:
            return self.type(value)
        except ValueError as exc:
            raise ConformanceError(f"{self.flag} {exc}") from None


def option(default: Any, help: str, *, type: Callable[[Any], Any] | None = None, path: bool = False,
           words: tuple[str, ...] = ()) -> Any:
    """A :class:`Settings` field that is an option (see :class:`Option`)."""
    return field(default=default, metadata={"help": help, "type": type, "path": path, "words": words})


@dataclass(frozen=True)
class Profile:
    name: str
    n_speakers: int
    n_per_speaker: int
    snrs_db: tuple[float, ...]
    rt60s_s: tuple[float, ...]
    max_rirs: int
    hypothesis_examples: int
    sweep_seconds: float
    sweep_levels_dbfs: tuple[float, ...]
    gain_grid_db: tuple[float, ...]
    whole_corpus: bool = False          # --codec-corpus is used whole (else n_speakers x n_per_speaker)
    emotion_items: int | None = None    # items of --codec-emotion-corpus (None: all)


PROFILES = {
    "smoke": Profile("smoke", 4, 4, (0.0, 10.0), (0.6,), 1, 16, 1.5, (0.0, -6.0, -20.0),
                     (-40.0, -20.0, -10.0, 0.0, 6.0, 12.0), emotion_items=8),
    "standard": Profile("standard", 6, 5, (-5.0, 0.0, 10.0, 20.0), (0.3, 0.8), 2, 20, 3.0,
                        (0.0, -6.0, -20.0), tuple(float(g) for g in range(-40, 13, 4)), emotion_items=16),
    "paper": Profile("paper", 10, 6, (-5.0, 0.0, 5.0, 10.0, 15.0, 20.0), (0.3, 0.6, 0.9), 10, 100, 5.0,
                     (0.0, -6.0, -20.0), tuple(float(g) for g in range(-40, 13, 2)), whole_corpus=True),
}


@dataclass
class Settings:
    """The run's settings: the codecs, the project folder, and one typed attribute per option.
    Built by :func:`build_settings`; ``Settings(codecs=[...], seed=1)`` in code and tests."""

    codecs: list[str] = field(default_factory=lambda: ["opus"])
    rootdir: str = "."
    bitrate: str = option("max", "all | max | min | comma-separated kbps list (default: max, as in the paper)")
    checkpoint: str | None = option(None, "checkpoint file (or directory) for the codec under test", path=True)
    config: str | None = option(None, "model config file, for codecs whose checkpoint needs one", path=True)
    weights: str = option(
        "pretrained",
        "pretrained | random-init (untrained weights: pipeline checks only)",
        type=choice("pretrained", "random-init"))
    trust_checkpoint: bool = option(
        False,
        "allow full unpickling of a checkpoint (runs code: only for files you trust)")
    trust_evaluators: bool = option(
        False,
        "load evaluator files that can run code (HyperPyYAML tags beyond the published ECAPA model's, funasr "
        "remote code, checkpoints that are not weights only): only for files you trust")
    precision: str = option(
        "fp32",
        "fp32 | fp16 | bf16: mixed-precision (autocast) round trips for neural codecs; fp16 is for GPUs",
        type=choice("fp32", "fp16", "bf16"))
    device: str = option(
        "auto",
        "auto | cpu | cuda | cuda:N (auto: cuda:(worker index mod GPUs) when present)",
        type=device)
    profile: str = option(
        "smoke",
        "smoke | standard | paper: corpus size, condition grid, Hypothesis examples",
        type=profile_name)
    corpus: str | None = option(
        None,
        "speech directory (LibriSpeech layout or speaker folders), or 'synthetic' (eSpeak NG voices); "
        "default: the shipped LibriSpeech utterances",
        path=True, words=("synthetic", *CORPUS_NAMES))
    noise_dir: str | None = option(
        None,
        "ambient noise directory (WHAM! or any); default: the shipped real noise and LibriSpeech babble",
        path=True, words=CORPUS_NAMES)
    rir_dir: str | None = option(
        None,
        "room impulse response directory; default: the shipped measured RIRs (simulated RT60s with --codec-"
        "corpus=synthetic)",
        path=True)
    emotion_corpus: str | None = option(
        None,
        "RAVDESS-layout directory for the emotion metrics",
        path=True, words=CORPUS_NAMES)
    emotion_model: str | None = option(
        None,
        "emotion2vec model directory (funasr); without it a prosody proxy is used",
        path=True)
    asr_model: str = option(
        "auto",
        "Whisper .pt file, CTranslate2 dir, 'pocketsphinx' or 'auto' (stand-in tiny.en)",
        path=True, words=("auto", "pocketsphinx", "tiny.en"))
    speaker_model: str = option(
        "auto",
        "speechbrain ECAPA directory, or 'auto' (stand-in resemblyzer)",
        path=True, words=("auto",))
    metrics: str | None = option(
        None,
        "comma-separated metrics for the noise suite (default: the profile's; see list-metrics)")
    eer_protocol: str = option(
        "enrol-test",
        "enrol-test (clean enrolment vs processed test, the paper's) | all-pairs",
        type=choice("enrol-test", "all-pairs"))
    thresholds: str | None = option(
        None,
        "thresholds TOML file for every codec of the run (overrides all others)",
        path=True)
    thresholds_dir: str = option(
        "thresholds",
        "the project's thresholds: <dir>/<codec>.toml, <dir>/default.toml; they override the files shipped in"
        " the package (reference codecs, default.toml)",
        path=True)
    goldens_dir: str = option(
        "goldens",
        "the project's golden vectors: <dir>/<codec>.json, written by codec-conformance golden, compared by the "
        "golden suite (docs/golden.md)",
        path=True)
    report_dir: str = option("reports", "where reports/<run-id>/ is written", path=True)
    seed: int = option(
        0,
        "seed of every random draw (noise, Hypothesis examples); recorded in the report",
        type=integer())
    baseline: str | None = option(
        None,
        "results.json of an earlier run: fail where a quantity got worse by at least its minimal meaningful "
        "difference (and, where there is a test, significantly)",
        path=True)
    measure_only: bool = option(
        False,
        "measure and report without a verdict: a run that gates nothing passes only with this")
    update_thresholds: bool = option(
        False,
        "write thresholds/<codec>.toml from this run's values with --codec-threshold-margin")
    threshold_margin: float = option(
        0.2,
        "margin for --codec-update-thresholds, a fraction of the measured |delta| or |value| (with per-metric"
        " minimums)",
        type=non_negative)
    cache_dir: str | None = option(
        None,
        "content-addressed cache of codec and evaluator outputs (default ~/.cache/codec-conformance)",
        path=True)
    no_cache: bool = option(False, "disable the on-disk cache")
    shard_id: int = option(0, "this shard's index (0-based), with --codec-num-shards", type=integer(0))
    num_shards: int = option(
        1,
        "split the selected tests deterministically into this many shards, balanced by cost",
        type=integer(1))
    shard_costs: str | None = option(
        None,
        "results.json (or run folder) of an earlier run: balance the shards by its measured per-test "
        "durations (default: the suites' declared costs)",
        path=True)
    resume: str | None = option(None, "run directory (or 'latest') to continue: skip tests whose records exist")
    evaluators: str = option(
        "embedded",
        "embedded | paper: the paper's Whisper large-v3, ECAPA-TDNN, emotion2vec (downloaded once; "
        "docs/models.md)",
        type=choice("embedded", "paper"))
    offline: bool = option(
        False,
        "forbid any download (as HF_HUB_OFFLINE=1): a missing model or corpus is a usage error naming the URL"
        " and cache path")
    model_mirror: str | None = option(
        None,
        "base URL replacing scheme and host of every download (or env CODEC_CONFORMANCE_MIRROR)")
    timeout: float = option(
        600.0,
        "seconds one codec call (its build, a round trip of one batch, an encode) may take; then its test "
        "errors, naming the codec, and that call is not started again (0: no limit)",
        type=seconds)
    isolation: str = option(
        "process",
        "where codec calls run: process (a worker process per codec: a hang, even one holding the GIL, ends at "
        "--codec-timeout, and Ctrl-C ends the run at once) or thread (in this process, as a debugger expects; "
        "a hang that holds the GIL cannot be ended)",
        type=choice("process", "thread"))

    @property
    def profile_spec(self) -> Profile:
        if self.profile not in PROFILES:
            raise ConformanceError(f"unknown profile {self.profile!r}; choose from {', '.join(PROFILES)}")
        return PROFILES[self.profile]

    def path(self, value: str | os.PathLike[str] | None) -> Path | None:
        """A path option's value as a path: relative ones are relative to the project folder. A
        corpus given by name is not a path here (data/sources.py resolves names)."""
        if value in (None, ""):
            return None
        p = Path(os.path.expanduser(str(value)))
        return p if p.is_absolute() else Path(self.rootdir) / p

    def given_path(self, name: str) -> Path:
        """Path option ``name``'s value as a path (see :meth:`path`); a ConformanceError naming the
        option where it has none (unset, or an empty string from a config file)."""
        p = self.path(getattr(self, name))
        if p is None:
            raise ConformanceError(f"{flag(name)} is empty; give a path")
        return p

    def to_dict(self) -> dict[str, Any]:
        """The codecs and every option's value (as recorded in results.json)."""
        return {"codecs": list(self.codecs), **{name: getattr(self, name) for name in OPTIONS}}


def _options() -> dict[str, Option]:
    out = {}
    for f in fields(Settings):
        if "help" not in f.metadata:
            continue
        default = f.default if f.default is not MISSING else None
        out[f.name] = Option(f.name, default, f.metadata["help"], f.metadata["type"], isinstance(default, bool),
                             f.metadata["path"], f.metadata["words"])
    return out


OPTIONS: Mapping[str, Option] = _options()   # name -> Option, in the order of Settings' fields


def project_dir(start: str | Path) -> Path:
    """The nearest folder at or above ``start`` holding a pyproject.toml (else ``start``).

    Not pytest's rootdir: pytest derives that before plugins' options are known, so an option
    value that is an existing path (``--codec-corpus ../data``) would move it."""
    start = Path(start).resolve()
    for d in (start, *start.parents):
        if (d / "pyproject.toml").is_file():
            return d
    return start


def read_pyproject(rootdir: str | Path) -> dict[str, Any]:
    p = Path(rootdir) / "pyproject.toml"
    if not p.is_file():
        return {}
    try:
        got = tomllib.loads(p.read_text()).get("tool", {}).get("codec_conformance", {})
    except tomllib.TOMLDecodeError:
        return {}
    return got if isinstance(got, dict) else {}


Getter = Callable[[str], Any]


def build_settings(getoption: Getter, invocation_dir: str | Path, getini: Getter | None = None) -> Settings:
    """Command line > ini keys ``codec_<name>`` (pytest.ini, tox.ini, setup.cfg,
    [tool.pytest.ini_options], ``-o``) > pyproject [tool.codec_conformance] > built-in defaults.
    Values are typed by the options' type functions (the command line's already at parse time).

    Relative paths given on the command line are relative to the invocation directory; those in
    config files and the defaults (reports/, thresholds/) to the project directory."""
    rootdir = project_dir(invocation_dir)
    file_vals = read_pyproject(rootdir)
    unknown = set(file_vals) - set(OPTIONS) - {"codec"}
    if unknown:
        raise ConformanceError(f"pyproject.toml [tool.codec_conformance]: unknown keys {sorted(unknown)}; "
                               f"known: codec, {', '.join(sorted(OPTIONS))}")

    def ini(name: str) -> Any:
        if getini is None:
            return None
        try:
            v = getini(name)
        except ValueError:  # not registered (a Settings built outside pytest)
            return None
        return None if v in (None, "", []) else v

    values: dict[str, Any] = {}
    for name, opt in OPTIONS.items():
        cli = getoption("codec_" + name)
        if cli not in (None, False):
            if opt.is_path and isinstance(cli, str) and cli not in opt.words:
                cli = os.path.abspath(os.path.join(str(invocation_dir), os.path.expanduser(cli)))
            values[name] = opt.convert(cli)
        elif ini("codec_" + name) is not None:
            values[name] = opt.convert(ini("codec_" + name))
        elif name in file_vals:
            values[name] = opt.convert(file_vals[name])
        else:
            values[name] = opt.default
    codecs = getoption("codec") or list(ini("codec") or []) or file_vals.get("codec") or ["opus"]
    if isinstance(codecs, str):
        codecs = [codecs]
    s = Settings(codecs=list(dict.fromkeys(codecs)), rootdir=str(rootdir), **values)
    if not 0 <= s.shard_id < s.num_shards:
        raise ConformanceError(f"--codec-shard-id {s.shard_id} must be in [0, --codec-num-shards={s.num_shards})")
    return s


def flag(name: str) -> str:
    """The command-line spelling of option ``name``."""
    return "--codec-" + name.replace("_", "-")


def select_bitrates(available: Iterable[float], spec: str) -> list[float]:
    av = [float(b) for b in available]
    spec = str(spec).strip()
    if spec == "all":
        return av
    if spec == "max":
        return [max(av)]
    if spec == "min":
        return [min(av)]
    out: list[float] = []
    for part in spec.split(","):
        try:
            want = float(part)
        except ValueError:
            raise ConformanceError(f"--codec-bitrate {spec!r}: use all, max, min or kbps numbers like 6,24") from None
        match = [b for b in av if abs(b - want) < 1e-6]
        if not match:
            raise ConformanceError(f"--codec-bitrate {want:g} kbps is not an operating point; available: "
                                   + ", ".join(f"{b:g}" for b in av))
        out.append(match[0])
    return out

