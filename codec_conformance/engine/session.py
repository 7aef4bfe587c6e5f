"""Per-worker state of a conformance run, built lazily, once per process: the data (corpus,
noise and RIR banks, degraded signals), a :class:`CodecRunner` (codecs, round trips, codes) and a
:class:`Scorer` (metrics, scores), and the thresholds. The suites ask this object; it hands codec
work to the runner and metric work to the scorer."""
from __future__ import annotations

import os
import resource
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..catalogue import Condition, condition_kinds, gated_names, metrics
from ..codecs.cache import Cache
from ..data.conditions import apply as apply_condition
from ..data.corpus import (
    EMBEDDED_VOICES,
    AudioBank,
    Corpus,
    babble_bank,
    load_embedded,
    load_folder,
    load_ravdess,
)
from ..data.shipped import SYNTHETIC, load_shipped_speech, shipped_noise_bank, shipped_rir_bank
from ..data.sources import folder_of
from ..errors import ConformanceError
from ..fetch import cache_root
from ..gate.thresholds import ThresholdSet
from ..metrics.base import MetricResult
from ..metrics.paper import uses_paper
from ..metrics.threads import cpu_budget
from ..progress import Stages
from ..settings import Settings, flag
from .runner import CodecRunner
from .scorer import Scorer


def cuda_device_count() -> int:
    """CUDA devices torch can see in this process (CUDA_VISIBLE_DEVICES applied); 0 without torch."""
    try:
        import torch
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        return 0


# Slurm's GPU binding of a job or step, as physical GPU indices: the step's, the job's, the
# ordinal Slurm also sets for AMD GPUs (GPU_DEVICE_ORDINAL)
SLURM_GPU_VARS = ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "GPU_DEVICE_ORDINAL")


def _indices(text: str) -> list[int] | None:
    """'0,2' / '1-3' / '0,4-5' -> [0, 2] / [1, 2, 3] / [0, 4, 5]; None when not such a list."""
    out: list[int] = []
    for part in text.replace(" ", "").split(","):
        lo, dash, hi = part.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            return None
        out += list(range(int(lo), int(hi) + 1)) if dash else [int(lo)]
    return list(dict.fromkeys(out))


def visible_gpus(n_gpus: int, env=None) -> list[int]:
    """The torch CUDA ordinals this process may use, of the ``n_gpus`` torch sees.

    With ``CUDA_VISIBLE_DEVICES`` set (by the user, or by Slurm for a job with ``--gres=gpu``), torch
    sees only those GPUs, renumbered from 0: all of them. Without it torch sees every GPU of the
    machine by its physical index, and Slurm's binding (``SLURM_STEP_GPUS``, ``SLURM_JOB_GPUS``,
    ``GPU_DEVICE_ORDINAL``: physical indices) names the ones this job was given: those (the ones
    torch can see), so a shard never computes on another job's GPU. Else every GPU."""
    env = os.environ if env is None else env
    if "CUDA_VISIBLE_DEVICES" in env:
        return list(range(n_gpus))
    for var in SLURM_GPU_VARS:
        idx = _indices(env.get(var) or "")
        mine = [i for i in idx or () if i < n_gpus]
        if mine:
            return mine
    return list(range(n_gpus))


def resolve_device(spec: str, worker_index: int = 0, env=None) -> str:
    """auto | cpu | cuda | cuda:N -> the device this process uses; a CUDA device that is not
    there is an error (never silently recorded as the device). ``auto`` and ``cuda``: the GPUs this
    process may use (:func:`visible_gpus`: CUDA_VISIBLE_DEVICES, Slurm's binding), one per xdist
    worker in turn (worker index mod their number); ``cuda:N``: torch's ordinal N, as given."""
    if spec == "cpu":
        return spec
    n_gpus = cuda_device_count()
    gpus = visible_gpus(n_gpus, env)
    if spec == "auto":
        return f"cuda:{gpus[worker_index % len(gpus)]}" if gpus else "cpu"
    if spec == "cuda" or spec.startswith("cuda:"):
        if not n_gpus:
            raise ConformanceError(f"--codec-device {spec}: no CUDA device is available here; use cpu or auto")
        if spec == "cuda":
            return f"cuda:{gpus[worker_index % len(gpus)]}"
        index = spec.partition(":")[2]
        if not index.isdigit() or int(index) >= n_gpus:
            raise ConformanceError(f"--codec-device {spec}: this machine has {n_gpus} CUDA device(s), "
                                   f"cuda:0 to cuda:{n_gpus - 1}")
        return spec
    raise ConformanceError(f"--codec-device {spec!r}: use auto, cpu, cuda or cuda:N")


def worker_index() -> int:
    wid = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    try:
        return int(wid.lstrip("gw"))
    except ValueError:
        return 0


class ConformanceSession:
    def __init__(self, settings: Settings, stages: Stages | None = None):
        self.settings = settings
        self.stages = stages if stages is not None else Stages()  # times (and may show) long work
        self.profile = settings.profile_spec
        self.device = resolve_device(settings.device, worker_index())
        results_cache = settings.path(settings.cache_dir) or cache_root("cc") / "results"
        self.cache = Cache(results_cache, enabled=not settings.no_cache)
        self._lock = threading.RLock()
        self._degraded: dict[tuple, list] = {}
        self._thresholds: dict[str, ThresholdSet] = {}
        self._corpus: Corpus | None = None
        self._emotion: Corpus | None = None
        self._noise: AudioBank | None = None
        self._rirs: AudioBank | None = None
        self.timing = {"codec_s": 0.0, "evaluator_s": 0.0}
        self._reported = {"codec_s": 0.0, "evaluator_s": 0.0}
        self._metric_reported: dict[str, float] = {}
        self._stages_reported: tuple[dict[str, float], dict[str, int]] = ({}, {})
        self.runner = CodecRunner(settings, self.device, self.cache, self.timing, self.stages)
        self.scorer = Scorer(settings, self.device, self.cache, self.timing, self.stages)

    def use_stages(self, stages: Stages) -> None:
        """Show and time long work with ``stages`` from now on (the controller's terminal display)."""
        self.stages = self.runner.stages = self.scorer.stages = stages

    # ---------------------------------------------------------------- data
    def _folder(self, option: str) -> Path:
        where = folder_of(self.settings, option)
        if where is None:
            raise ConformanceError(f"{flag(option)} is not set")
        return where

    @property
    def corpus(self) -> Corpus:
        if self._corpus is None:
            p = self.profile
            if self.synthetic_corpus:  # --codec-corpus=synthetic: the eSpeak NG voices
                with self.stages.stage("synthesising the eSpeak NG speech corpus", "speech corpus", announce=True):
                    self._corpus = load_embedded(min(p.n_speakers, len(EMBEDDED_VOICES)), p.n_per_speaker)
            elif self.settings.corpus:
                full = load_folder(self._folder("corpus"))
                self._corpus = full.subset(None if p.whole_corpus else p.n_speakers,
                                           None if p.whole_corpus else p.n_per_speaker)
            else:  # the real LibriSpeech utterances shipped in the package
                self._corpus = load_shipped_speech(p.n_speakers, p.n_per_speaker)
        return self._corpus

    @property
    def emotion_corpus(self) -> Corpus:
        if self._emotion is None:
            if self.settings.emotion_corpus:
                full = load_ravdess(self._folder("emotion_corpus"))
                n = self.profile.emotion_items
                self._emotion = Corpus(full.name, sorted(full.items, key=lambda u: u.id)[:n] if n else full.items,
                                       full.sample_rate, False, full.description, skipped=full.skipped)
            else:
                self._emotion = self.corpus
        return self._emotion

    @property
    def noise_bank(self) -> AudioBank:
        if self._noise is None:
            if self.settings.noise_dir:
                self._noise = AudioBank.from_dir(self._folder("noise_dir"), kind="noise")
            elif not self.synthetic_corpus:  # shipped real noise and LibriSpeech babble
                self._noise = shipped_noise_bank()
            else:
                # babble of embedded voices that are not test speakers where possible
                pool = load_embedded(6, 3)
                others = [u for u in pool.items if u.speaker not in set(self.corpus.speakers)]
                src = Corpus("embedded-babble", others or pool.items, pool.sample_rate, True)
                self._noise = babble_bank(src)
        return self._noise

    @property
    def rir_bank(self) -> AudioBank | None:
        if self._rirs is None and self.settings.rir_dir:
            self._rirs = AudioBank.from_dir(self._folder("rir_dir"), kind="rir")
        elif self._rirs is None and not self.synthetic_corpus:  # shipped measured RIRs
            self._rirs = shipped_rir_bank()
        return self._rirs

    @property
    def synthetic_corpus(self) -> bool:
        """--codec-corpus=synthetic: eSpeak speech, synthetic babble and simulated RT60s, as before
        real recordings were shipped."""
        return str(self.settings.corpus or "") == SYNTHETIC

    def conditions(self, suite: str, reference: bool = True) -> list[Condition]:
        """The grid of the condition kinds that ``suite`` uses (each kind's own grid for this
        profile; without the reference kind, clean, when ``reference`` is False). Needs no
        audio loaded: collection-time safe."""
        return [c for k in condition_kinds().values() if suite in k.suites and (reference or not k.reference)
                for c in k.conditions(self.profile, self.settings)]

    def noise_conditions(self) -> list[Condition]:
        """The noise suite's grid."""
        return self.conditions("noise")

    def metric_names(self) -> list[str]:
        """--codec-metrics, else every registered metric declared ``default`` whose required
        option (``requires``: emotion_acc needs --codec-emotion-model) is set."""
        known = metrics()
        if self.settings.metrics:
            names = [m.strip() for m in str(self.settings.metrics).split(",") if m.strip()]
            bad = [m for m in names if m not in known]
            if bad:
                raise ConformanceError(f"unknown metric {', '.join(map(repr, bad))}; registered: {', '.join(known)}")
            return names
        return [n for n, i in known.items() if i.default and (i.requires is None or getattr(self.settings, i.requires, None)
                                                               or uses_paper(self.settings, n))]

    def degraded(self, cond: Condition, corpus: Corpus) -> list[np.ndarray]:
        key = (cond, corpus.name, len(corpus.items))
        with self._lock:
            if key not in self._degraded:
                needs = condition_kinds()[cond.kind].needs  # only what the kind uses is loaded
                noise = self.noise_bank if "noise_bank" in needs else None
                rirs = self.rir_bank if "rir_bank" in needs else None
                # a near-silent item has no speech level to set an SNR against: it keeps its own
                # audio as a placeholder and every metric counts it undefined (see score)
                self._degraded[key] = [
                    u.audio.copy() if u.silent is not None else
                    apply_condition(cond, u.audio, corpus.sample_rate, item_id=u.id, seed=self.settings.seed,
                                    noise_bank=noise, rir_bank=rirs) for u in corpus.items]
            return self._degraded[key]

    def telemetry(self) -> dict[str, Any]:
        """Time spent since the last call (codec / evaluator seconds) and this process' peak RSS."""
        out: dict[str, Any] = {k: self.timing[k] - self._reported[k] for k in self.timing}
        self._reported = dict(self.timing)
        out["evaluator_s_by_metric"] = {k: v - self._metric_reported.get(k, 0.0) for k, v in self.scorer.metric_s.items()
                                        if v > self._metric_reported.get(k, 0.0)}
        self._metric_reported = dict(self.scorer.metric_s)
        # the stages of long work this process timed (summed over processes by the controller)
        out["stages"] = {k: v - self._stages_reported[0].get(k, 0.0) for k, v in self.stages.totals.items()
                         if v > self._stages_reported[0].get(k, 0.0)}
        out["stage_counts"] = {k: n - self._stages_reported[1].get(k, 0) for k, n in self.stages.counts.items()
                               if n > self._stages_reported[1].get(k, 0)}
        self._stages_reported = (dict(self.stages.totals), dict(self.stages.counts))
        out["worker"] = os.environ.get("PYTEST_XDIST_WORKER", "main")
        out["threads"] = cpu_budget()
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        return out

    def corpus_for(self, metric_name: str) -> Corpus:
        info = metrics().get(metric_name)
        return self.emotion_corpus if info is not None and info.corpus == "emotion" else self.corpus

    def noise_scores(self, codec: str, bitrate: float, cond: Condition,
                     metric_name: str) -> tuple[MetricResult, MetricResult]:
        """(codec result, oracle result) of one metric under one condition."""
        corpus = self.corpus_for(metric_name)
        noisy = self.degraded(cond, corpus)
        oracle = self.scorer.score(metric_name, corpus, noisy, ("oracle", cond))
        out = self.runner.roundtrip(codec, bitrate, noisy, corpus.sample_rate, tag=(cond, corpus.name))
        value = self.scorer.score(metric_name, corpus, out, ("codec", codec, float(bitrate), cond))
        return value, oracle

    # ---------------------------------------------------------------- thresholds, infos
    def thresholds(self, codec: str) -> ThresholdSet:
        """The limits of codec ``codec`` (its --codec id), read once: see thresholds.candidates
        (the project's files, then the packaged ones; by id, then by the codec's own name)."""
        if codec not in self._thresholds:
            s = self.settings
            names = [codec, str(self.runner.codec(codec).name)]
            self._thresholds[codec] = ThresholdSet.for_codec(
                names, s.path(s.thresholds_dir), s.path(s.thresholds) if s.thresholds else None,
                metrics=gated_names())
        return self._thresholds[codec]

    def corpus_infos(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self._corpus is not None:
            out["speech"] = self._corpus.to_info()
        if self._emotion is not None and self._emotion is not self._corpus:
            out["emotion"] = self._emotion.to_info()
        if self._noise is not None:
            out["noise"] = {"name": self._noise.name, "source": self._noise.source, "files": self._noise.names(),
                            "skipped": self._noise.skipped}
        if self._rirs is not None:
            out["rir"] = {"name": self._rirs.name, "source": self._rirs.source, "files": self._rirs.names(),
                          "skipped": self._rirs.skipped}
        return out
