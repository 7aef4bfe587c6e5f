"""Run settings: command-line options, ``[tool.codec_conformance]`` of pyproject.toml, profiles.

Pure Python and light: the pytest plugin imports it at start-up.
"""
from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


# Option value types: each takes a command-line string (or a value from a config file) and returns
# the typed value, or raises ValueError whose message starts with the value (``'abc': expected an
# integer``). The plugin hands them to argparse (``type=``), so a bad value is refused at parse
# time; build_settings applies the same functions to ini and pyproject values.
def integer(minimum: int | None = None):
    def convert(v) -> int:
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


def non_negative(v) -> float:
    if isinstance(v, bool):
        raise ValueError(f"{v!r}: expected a number")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{v!r}: expected a number") from None
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{x!r}: expected a finite number >= 0")
    return x


def seconds(v) -> float:
    try:
        return non_negative(v)
    except ValueError:
        raise ValueError(f"{v!r}: use seconds, e.g. 600 (0: no limit)") from None


def choice(*options: str):
    def convert(v) -> str:
        if str(v) not in options:
            raise ValueError(f"{v!r}: use {', '.join(options[:-1])} or {options[-1]}")
        return str(v)
    return convert


def device(v) -> str:
    if not DEVICE_RE.fullmatch(str(v)):
        raise ValueError(f"{v!r}: use auto, cpu, cuda or cuda:N (N = a GPU index)")
    return str(v)


def profile_name(v) -> str:
    return choice(*PROFILES)(v)


DEVICE_RE = re.compile(r"auto|cpu|cuda(:[0-9]+)?")

# name: (default, help[, type]). Each is --codec-<name with - for _>, an ini key codec_<name>
# (pytest.ini, tox.ini, setup.cfg, [tool.pytest.ini_options], -o codec_<name>=...) and a key of
# [tool.codec_conformance]; ``type`` (above) validates and converts a value at parse time.
OPTIONS = {
    "bitrate": ("max", "all | max | min | comma-separated kbps list (default: max, as in the paper)"),
    "checkpoint": (None, "checkpoint file (or directory) for the codec under test"),
    "config": (None, "model config file, for codecs whose checkpoint needs one"),
    "weights": ("pretrained", "pretrained | random-init (untrained weights: pipeline checks only)", choice("pretrained", "random-init")),
    "trust_checkpoint": (False, "allow full unpickling of a checkpoint (runs code: only for files you trust)"),
    "precision": ("fp32", "fp32 | fp16 | bf16: mixed-precision (autocast) round trips for neural codecs; fp16 is for GPUs", choice("fp32", "fp16", "bf16")),
    "device": ("auto", "auto | cpu | cuda | cuda:N (auto: cuda:(worker index mod GPUs) when present)", device),
    "profile": ("smoke", "smoke | standard | paper: corpus size, condition grid, Hypothesis examples", profile_name),
    "corpus": (None, "speech directory (LibriSpeech layout or speaker folders), or 'synthetic' (eSpeak NG voices); default: the shipped LibriSpeech utterances"),
    "noise_dir": (None, "ambient noise directory (WHAM! or any); default: the shipped real noise and LibriSpeech babble"),
    "rir_dir": (None, "room impulse response directory; default: the shipped measured RIRs (simulated RT60s with --codec-corpus=synthetic)"),
    "emotion_corpus": (None, "RAVDESS-layout directory for the emotion metrics"),
    "emotion_model": (None, "emotion2vec model directory (funasr); without it a prosody proxy is used"),
    "asr_model": ("auto", "Whisper .pt file, CTranslate2 dir, 'pocketsphinx' or 'auto' (stand-in tiny.en)"),
    "speaker_model": ("auto", "speechbrain ECAPA directory, or 'auto' (stand-in resemblyzer)"),
    "metrics": (None, "comma-separated metrics for the noise suite (default: the profile's; see list-metrics)"),
    "eer_protocol": ("enrol-test", "enrol-test (clean enrolment vs processed test, the paper's) | all-pairs", choice("enrol-test", "all-pairs")),
    "thresholds": (None, "thresholds TOML file for every codec of the run (overrides all others)"),
    "thresholds_dir": ("thresholds", "the project's thresholds: <dir>/<codec>.toml, <dir>/default.toml; they "
                       "override the files shipped in the package (reference codecs, default.toml)"),
    "report_dir": ("reports", "where reports/<run-id>/ is written"),
    "seed": (0, "seed of every random draw (noise, Hypothesis examples); recorded in the report", integer()),
    "baseline": (None, "results.json of an earlier run: fail where a quantity got worse by at least its minimal "
                 "meaningful difference (and, where there is a test, significantly)"),
    "measure_only": (False, "measure and report without a verdict: a run that gates nothing passes only with this"),
    "update_thresholds": (False, "write thresholds/<codec>.toml from this run's values with --codec-threshold-margin"),
    "threshold_margin": (0.2, "margin for --codec-update-thresholds, a fraction of the measured |delta| or |value| (with per-metric minimums)", non_negative),
    "cache_dir": (None, "content-addressed cache of codec and evaluator outputs (default ~/.cache/codec-conformance)"),
    "no_cache": (False, "disable the on-disk cache"),
    "shard_id": (0, "this shard's index (0-based), with --codec-num-shards", integer(0)),
    "num_shards": (1, "split the selected tests deterministically into this many shards, balanced by cost", integer(1)),
    "shard_costs": (None, "results.json (or run folder) of an earlier run: balance the shards by its measured "
                    "per-test durations (default: the suites' declared costs)"),
    "resume": (None, "run directory (or 'latest') to continue: skip tests whose records exist"),
    "evaluators": ("embedded", "embedded | paper: the paper's Whisper large-v3, ECAPA-TDNN, emotion2vec (downloaded once; docs/models.md)", choice("embedded", "paper")),
    "offline": (False, "forbid any download (as HF_HUB_OFFLINE=1): a missing model or corpus is a usage error naming the URL and cache path"),
    "model_mirror": (None, "base URL replacing scheme and host of every download (or env CODEC_CONFORMANCE_MIRROR)"),
    "timeout": (600.0, "seconds one codec round trip (one batch) may take; then its test errors, naming the codec "
                       "(0: no limit)", seconds),
}
BOOL_OPTIONS = {"trust_checkpoint", "update_thresholds", "no_cache", "measure_only", "offline"}
PATH_OPTIONS = {"checkpoint", "config", "corpus", "noise_dir", "rir_dir", "emotion_corpus", "emotion_model",
                "thresholds", "thresholds_dir", "report_dir", "baseline", "cache_dir", "asr_model",
                "speaker_model", "shard_costs"}


@dataclass(frozen=True)
class Profile:
    name: str
    n_speakers: int
    n_per_speaker: int
    snrs_db: tuple
    rt60s_s: tuple
    max_rirs: int
    hypothesis_examples: int
    sweep_seconds: float
    sweep_levels_dbfs: tuple
    gain_grid_db: tuple
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
    """The run's settings: the codecs, the project folder, and one typed attribute per entry of
    ``OPTIONS`` (same names, same defaults; tests/test_options.py keeps the two the same set).
    Built by :func:`build_settings`; ``Settings(codecs=[...], seed=1)`` in code and tests."""
    codecs: list[str] = field(default_factory=lambda: ["opus"])
    rootdir: str = "."
    # --- one field per OPTIONS entry, in its order (a new option: a new line here too)
    bitrate: str = "max"
    checkpoint: str | None = None
    config: str | None = None
    weights: str = "pretrained"
    trust_checkpoint: bool = False
    precision: str = "fp32"
    device: str = "auto"
    profile: str = "smoke"
    corpus: str | None = None
    noise_dir: str | None = None
    rir_dir: str | None = None
    emotion_corpus: str | None = None
    emotion_model: str | None = None
    asr_model: str = "auto"
    speaker_model: str = "auto"
    metrics: str | None = None
    eer_protocol: str = "enrol-test"
    thresholds: str | None = None
    thresholds_dir: str = "thresholds"
    report_dir: str = "reports"
    seed: int = 0
    baseline: str | None = None
    measure_only: bool = False
    update_thresholds: bool = False
    threshold_margin: float = 0.2
    cache_dir: str | None = None
    no_cache: bool = False
    shard_id: int = 0
    num_shards: int = 1
    shard_costs: str | None = None
    resume: str | None = None
    evaluators: str = "embedded"
    offline: bool = False
    model_mirror: str | None = None
    timeout: float = 600.0

    @property
    def profile_spec(self) -> Profile:
        if self.profile not in PROFILES:
            from ..errors import ConformanceError
            raise ConformanceError(f"unknown profile {self.profile!r}; choose from {', '.join(PROFILES)}")
        return PROFILES[self.profile]

    def path(self, value) -> Path | None:
        if value in (None, ""):
            return None
        from ..data.sources import folder, is_named
        if is_named(value):  # a corpus by name: its folder in the download cache
            return folder(value)
        p = Path(os.path.expanduser(str(value)))
        return p if p.is_absolute() else Path(self.rootdir) / p

    def to_dict(self) -> dict:
        """The codecs and every option's value (as recorded in results.json)."""
        return {"codecs": list(self.codecs), **{name: getattr(self, name) for name in OPTIONS}}


def project_dir(start: str | Path) -> Path:
    """The nearest folder at or above ``start`` holding a pyproject.toml (else ``start``).

    Not pytest's rootdir: pytest derives that before plugins' options are known, so an option
    value that is an existing path (``--codec-corpus ../data``) would move it."""
    start = Path(start).resolve()
    for d in (start, *start.parents):
        if (d / "pyproject.toml").is_file():
            return d
    return start


def read_pyproject(rootdir: str | Path) -> dict:
    p = Path(rootdir) / "pyproject.toml"
    if not p.is_file():
        return {}
    try:
        return tomllib.loads(p.read_text()).get("tool", {}).get("codec_conformance", {})
    except tomllib.TOMLDecodeError:
        return {}


def option_type(name: str):
    """The type function of option ``name`` (None: a string, or a flag)."""
    entry = OPTIONS[name]
    return entry[2] if len(entry) > 2 else None


def convert(name: str, value):
    """``value`` of option ``name`` through its type, or one ConformanceError naming the option."""
    from ..errors import ConformanceError

    fn = option_type(name)
    if fn is None or value is None:
        return value
    try:
        return fn(value)
    except ValueError as exc:
        raise ConformanceError(f"{flag(name)} {exc}") from None


def _ini_flag(v) -> bool:
    return v if isinstance(v, bool) else str(v).strip().lower() in ("1", "true", "yes", "on")


def build_settings(getoption, invocation_dir: str | Path, getini=None) -> Settings:
    """Command line > ini keys ``codec_<name>`` (pytest.ini, tox.ini, setup.cfg,
    [tool.pytest.ini_options], ``-o``) > pyproject [tool.codec_conformance] > built-in defaults.
    Values are typed by OPTIONS' type functions (the command line's already at parse time).

    Relative paths given on the command line are relative to the invocation directory; those in
    config files and the defaults (reports/, thresholds/) to the project directory."""
    from ..data.sources import OPTION_NAMES, is_named
    from ..errors import ConformanceError

    rootdir = project_dir(invocation_dir)
    file_vals = read_pyproject(rootdir)
    unknown = set(file_vals) - set(OPTIONS) - {"codec"}
    if unknown:
        raise ConformanceError(f"pyproject.toml [tool.codec_conformance]: unknown keys {sorted(unknown)}; "
                               f"known: codec, {', '.join(sorted(OPTIONS))}")

    def ini(name):
        if getini is None:
            return None
        try:
            v = getini("codec_" + name)
        except ValueError:  # not registered (a Settings built outside pytest)
            return None
        return None if v in (None, "", []) else v

    values = {}
    for name, (default, *_) in OPTIONS.items():
        cli = getoption("codec_" + name)
        if cli not in (None, False):
            if name in PATH_OPTIONS and isinstance(cli, str) and cli not in ("auto", "pocketsphinx", "tiny.en", "synthetic") \
                    and not (is_named(cli) and name in OPTION_NAMES):
                cli = os.path.abspath(os.path.join(str(invocation_dir), os.path.expanduser(cli)))
            values[name] = convert(name, cli)
        elif ini(name) is not None:
            v = ini(name)
            values[name] = _ini_flag(v) if name in BOOL_OPTIONS else convert(name, v)
        elif name in file_vals:
            values[name] = convert(name, file_vals[name])
        else:
            values[name] = default
    codecs = getoption("codec") or _ini_codecs(getini) or file_vals.get("codec") or ["opus"]
    if isinstance(codecs, str):
        codecs = [codecs]
    s = Settings(codecs=list(dict.fromkeys(codecs)), rootdir=str(rootdir), **values)
    if not 0 <= s.shard_id < s.num_shards:
        raise ConformanceError(f"--codec-shard-id {s.shard_id} must be in [0, --codec-num-shards={s.num_shards})")
    return s


def _ini_codecs(getini) -> list[str]:
    if getini is None:
        return []
    try:
        return list(getini("codec") or [])
    except ValueError:
        return []


def flag(name: str) -> str:
    """The command-line spelling of option ``name``."""
    return "--codec-" + name.replace("_", "-")


def select_bitrates(available, spec) -> list[float]:
    from ..errors import ConformanceError

    av = [float(b) for b in available]
    spec = str(spec).strip()
    if spec == "all":
        return av
    if spec == "max":
        return [max(av)]
    if spec == "min":
        return [min(av)]
    out = []
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

