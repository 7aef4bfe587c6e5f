"""Per-worker state of a conformance run: corpus, conditions, codecs, evaluators and the
memoised / content-cached computations the suites ask for. Built lazily, once per process."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from . import conditions as C
from .audio import content_hash, fit_length, resample
from .cache import Cache
from .corpus import AudioBank, Corpus, babble_bank, default_cache_dir, load_embedded, load_folder, load_ravdess
from .errors import CodecError, ConformanceError
from .metrics.base import MetricResult
from .settings import Settings, select_bitrates
from .thresholds import ThresholdSet


def resolve_device(spec: str, worker_index: int = 0) -> str:
    if spec not in ("auto", "cuda"):
        return spec
    try:
        import torch
        if torch.cuda.is_available():
            return f"cuda:{worker_index % torch.cuda.device_count()}"
    except ImportError:
        pass
    if spec == "cuda":
        raise ConformanceError("--codec-device cuda: no CUDA device is available here")
    return "cpu"


def worker_index() -> int:
    wid = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    try:
        return int(wid.lstrip("gw"))
    except ValueError:
        return 0


class ConformanceSession:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.profile = settings.profile_spec
        self.device = resolve_device(settings.device, worker_index())
        cache_root = settings.path(settings.cache_dir) or default_cache_dir() / "results"
        self.cache = Cache(cache_root, enabled=not settings.no_cache)
        self._lock = threading.RLock()
        self._codecs: dict[str, object] = {}
        self._metrics: dict[str, object] = {}
        self._degraded: dict[tuple, list] = {}
        self._coded: dict[tuple, list] = {}
        self._identity: dict[str, str | None] = {}
        self._thresholds: dict[str, ThresholdSet] = {}
        self._memo: dict[str, np.ndarray] = {}
        self._scores: dict[tuple, MetricResult] = {}
        self._corpus = self._emotion = self._noise = self._rirs = None
        self.timing = {"codec_s": 0.0, "evaluator_s": 0.0}
        self._reported = {"codec_s": 0.0, "evaluator_s": 0.0}
        self.metric_s: dict[str, float] = {}      # evaluator seconds per metric
        self._metric_reported: dict[str, float] = {}

    # ---------------------------------------------------------------- data
    @property
    def corpus(self) -> Corpus:
        if self._corpus is None:
            p = self.profile
            if self.settings.corpus:
                full = load_folder(self.settings.path(self.settings.corpus))
                self._corpus = full.subset(p.n_speakers if self.settings.profile != "paper" else None,
                                           p.n_per_speaker if self.settings.profile != "paper" else None)
            else:
                self._corpus = load_embedded(p.n_speakers, p.n_per_speaker)
        return self._corpus

    @property
    def emotion_corpus(self) -> Corpus:
        if self._emotion is None:
            if self.settings.emotion_corpus:
                full = load_ravdess(self.settings.path(self.settings.emotion_corpus))
                n = {"smoke": 8, "standard": 16}.get(self.settings.profile)
                self._emotion = Corpus(full.name, sorted(full.items, key=lambda u: u.id)[:n] if n else full.items,
                                       full.sample_rate, False, full.description)
            else:
                self._emotion = self.corpus
        return self._emotion

    @property
    def noise_bank(self) -> AudioBank:
        if self._noise is None:
            if self.settings.noise_dir:
                self._noise = AudioBank.from_dir(self.settings.path(self.settings.noise_dir), kind="noise")
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
            self._rirs = AudioBank.from_dir(self.settings.path(self.settings.rir_dir), kind="rir")
        return self._rirs

    def noise_conditions(self) -> list[C.Condition]:
        """The noise suite's grid (needs no audio loaded: collection-time safe)."""
        p = self.profile
        conds = [C.clean()]
        conds += [C.ambient(s) for s in p.snrs_db]
        conds += [C.white(s) for s in p.snrs_db]
        if self.settings.rir_dir:
            from .corpus import AUDIO_EXT
            root = self.settings.path(self.settings.rir_dir)
            names = sorted(str(q.relative_to(root)) for q in root.rglob("*") if q.suffix.lower() in AUDIO_EXT)
            if not names:
                raise ConformanceError(f"--codec-rir-dir {root}: no audio files")
            conds += [C.reverb(rir=n) for n in names[: p.max_rirs]]
        else:
            conds += [C.reverb(rt60_s=r) for r in p.rt60s_s]
        return conds

    def metric_names(self) -> list[str]:
        if self.settings.metrics:
            from .registry import metric_names
            names = [m.strip() for m in str(self.settings.metrics).split(",") if m.strip()]
            known = metric_names()
            bad = [m for m in names if m not in known]
            if bad:
                raise ConformanceError(f"unknown metric {', '.join(map(repr, bad))}; registered: {', '.join(known)}")
            return names
        names = list(self.profile.metrics)
        if self.settings.emotion_model:
            names.append("emotion_acc")
        return names

    def degraded(self, cond: C.Condition, corpus: Corpus) -> list[np.ndarray]:
        key = (cond, corpus.name, len(corpus.items))
        with self._lock:
            if key not in self._degraded:
                self._degraded[key] = [
                    C.apply(cond, u.audio, corpus.sample_rate, item_id=u.id, seed=self.settings.seed,
                            noise_bank=self.noise_bank if cond.kind == "ambient" else None,
                            rir_bank=self.rir_bank) for u in corpus.items]
            return self._degraded[key]

    # ---------------------------------------------------------------- codecs
    def codec(self, name: str):
        with self._lock:
            if name not in self._codecs:
                from .registry import make_codec
                from .threads import apply_torch_threads
                s = self.settings
                codec = make_codec(
                    name, checkpoint=str(s.path(s.checkpoint)) if s.checkpoint else None,
                    config=str(s.path(s.config)) if s.config else None, weights=s.weights,
                    trust_checkpoint=bool(s.trust_checkpoint), device=self.device)
                apply_torch_threads()
                precision = getattr(s, "precision", "fp32")
                if precision != "fp32":
                    if not hasattr(codec, "set_precision"):
                        raise ConformanceError(f"--codec-precision {precision}: codec {name!r} runs in its own "
                                               "precision only (neural codecs support fp16/bf16); drop the option")
                    codec.set_precision(precision)
                self._codecs[name] = codec
            return self._codecs[name]

    def bitrates(self, name: str) -> list[float]:
        return select_bitrates(self.codec(name).bitrates_kbps, self.settings.bitrate)

    def codec_identity(self, name: str) -> str | None:
        """Cache identity of a codec, or None when it declares none (then nothing is cached on
        disk for it: two configurations of one class must never share outputs)."""
        with self._lock:
            if name not in self._identity:
                c = self.codec(name)
                ident = c.cache_identity() if hasattr(c, "cache_identity") else None
                self._identity[name] = None if ident is None else content_hash(
                    type(c).__module__, type(c).__qualname__, ident)
            return self._identity[name]

    def roundtrip(self, name: str, bitrate: float, x: np.ndarray, sr: int) -> np.ndarray:
        """One signal at ``sr`` through the codec (resampled to and from its rate), cached by content."""
        return self.roundtrip_many(name, bitrate, [x], sr)[0]

    def telemetry(self) -> dict:
        """Time spent since the last call (codec / evaluator seconds) and this process' peak RSS."""
        import resource
        out = {k: self.timing[k] - self._reported[k] for k in self.timing}
        self._reported = dict(self.timing)
        out["evaluator_s_by_metric"] = {k: v - self._metric_reported.get(k, 0.0) for k, v in self.metric_s.items()
                                        if v > self._metric_reported.get(k, 0.0)}
        self._metric_reported = dict(self.metric_s)
        out["worker"] = os.environ.get("PYTEST_XDIST_WORKER", "main")
        from .threads import cpu_budget
        out["threads"] = cpu_budget()
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        return out

    def coded(self, name: str, bitrate: float, signals: list[np.ndarray], sr: int, tag) -> list[np.ndarray]:
        key = (name, float(bitrate), tag)
        with self._lock:
            if key not in self._coded:  # one condition's corpus: padded, length-sorted batches
                self._coded[key] = self.roundtrip_many(name, bitrate, signals, sr)
            return self._coded[key]

    def roundtrip_many(self, name: str, bitrate: float, signals: list[np.ndarray], sr: int) -> list[np.ndarray]:
        """Signals at ``sr`` through the codec (resampled to and from its rate), cached by content:
        padded, length-sorted batches for codecs that declare ``supports_batch``, one by one
        otherwise. Outputs of the wrong shape or with NaN/Inf are refused, naming the codec."""
        import time

        codec = self.codec(name)
        ident = self.codec_identity(name)
        bs = max(1, int(getattr(codec, "max_batch", 8))) if getattr(codec, "supports_batch", False) else 1
        out: list = [None] * len(signals)
        todo = []
        for i, x in enumerate(signals):
            key = content_hash("rt", ident or ("run", name, id(codec)), float(bitrate), x, sr)
            hit = self._memo.get(key)
            if hit is None and ident is not None:
                hit = self.cache.get_array(key)
            if hit is not None:
                out[i] = hit
            else:
                todo.append((len(x), i, key))
        todo.sort()
        for b in range(0, len(todo), bs):
            chunk = todo[b : b + bs]
            t0 = time.perf_counter()
            ys = [resample(signals[i], sr, codec.sample_rate) for _, i, _ in chunk]
            n = max(len(y) for y in ys)
            batch = np.stack([fit_length(y, n) for y in ys]).astype(np.float32)
            res = codec.roundtrip(_as_tensor(batch), bitrate)
            res = np.asarray(res.detach().cpu().numpy() if hasattr(res, "detach") else res, dtype=np.float32)
            if res.shape != batch.shape:
                raise CodecError(f"codec {name!r} returned shape {res.shape} for input {batch.shape}; "
                                 "an adapter must trim/pad to the input length")
            if not np.all(np.isfinite(res)):
                raise CodecError(f"codec {name!r} at {bitrate:g} kbps returned NaN/Inf samples")
            for (_, i, key), y, row in zip(chunk, ys, res):
                z = fit_length(resample(row[: len(y)], codec.sample_rate, sr), len(signals[i])).astype(np.float32)
                out[i] = z
                if ident is not None:
                    self.cache.put_array(key, z)
                if len(self._memo) < 4096:
                    self._memo[key] = z
            self.timing["codec_s"] += time.perf_counter() - t0
        return out

    def system(self, name: str, bitrate: float, sr: int):
        """The codec at one bitrate as a function of a 1-D signal at ``sr``."""
        return lambda x: self.roundtrip(name, bitrate, np.asarray(x, np.float32), sr)

    # ---------------------------------------------------------------- metrics
    def metric(self, name: str):
        with self._lock:
            if name not in self._metrics:
                from .metrics import build_metric
                from .threads import apply_torch_threads
                self._metrics[name] = build_metric(name, self.settings, device=self.device)
                apply_torch_threads()
            return self._metrics[name]

    def score(self, metric_name: str, corpus: Corpus, signals: list[np.ndarray], tag) -> MetricResult:
        import time

        key = (metric_name, corpus.name, tag)
        with self._lock:
            if key not in self._scores:
                m = self.metric(metric_name)
                t0 = time.perf_counter()
                refs = [u.audio for u in corpus.items]
                self._scores[key] = m.compute(corpus.items, signals, refs, corpus.sample_rate, cache=self.cache)
                dt = time.perf_counter() - t0
                self.timing["evaluator_s"] += dt
                self.metric_s[metric_name] = self.metric_s.get(metric_name, 0.0) + dt
            return self._scores[key]

    def corpus_for(self, metric_name: str) -> Corpus:
        return self.emotion_corpus if metric_name in ("prosody_corr", "emotion_acc") else self.corpus

    def noise_scores(self, codec: str, bitrate: float, cond: C.Condition, metric_name: str):
        """(codec result, oracle result) of one metric under one condition."""
        corpus = self.corpus_for(metric_name)
        noisy = self.degraded(cond, corpus)
        oracle = self.score(metric_name, corpus, noisy, ("oracle", cond))
        coded = self.coded(codec, bitrate, noisy, corpus.sample_rate, (cond, corpus.name))
        value = self.score(metric_name, corpus, coded, ("codec", codec, float(bitrate), cond))
        return value, oracle

    # ---------------------------------------------------------------- thresholds, infos
    def codec_name(self, spec: str) -> str:
        """The codec's own name (``--codec`` may be a module:factory spec)."""
        return str(self.codec(spec).name)

    def thresholds(self, codec: str) -> ThresholdSet:
        """thresholds/<codec name>.toml, else default.toml (or --codec-thresholds); read once."""
        codec = self.codec_name(codec)
        if codec not in self._thresholds:
            self._thresholds[codec] = self._load_thresholds(codec)
        return self._thresholds[codec]

    def _load_thresholds(self, codec: str) -> ThresholdSet:
        from .registry import metric_names
        s = self.settings
        known = set(metric_names()) | {"ser_db", "mel_distance", "low_band_boost_db", "mid_band_ripple_db",
                                       "high_band_rolloff_db", "pesq_nb", "estoi", "emotion_acc"}
        return ThresholdSet.for_codec(codec, s.path(s.thresholds_dir), s.path(s.thresholds) if s.thresholds else None,
                                      metrics=known)

    def evaluator_infos(self) -> dict:
        out = {}
        for name, m in self._metrics.items():
            out[name] = {"name": m.evaluator or m.name, "stand_in": bool(m.stand_in),
                         "version": str(m.version), "description": m.description,
                         "higher_is_better": m.higher_is_better}
            if m.evaluator_settings:
                out[name]["settings"] = m.evaluator_settings
        if "prosody_corr" in out:
            out["prosody_corr"]["note"] = ("proxy for emotion preservation (no offline emotion model); "
                                           "not emotion accuracy")
        return out

    def corpus_infos(self) -> dict:
        out = {}
        if self._corpus is not None:
            out["speech"] = self._corpus.to_info()
        if self._emotion is not None and self._emotion is not self._corpus:
            out["emotion"] = self._emotion.to_info()
        if self._noise is not None:
            out["noise"] = {"name": self._noise.name, "source": self._noise.source, "files": self._noise.names()}
        if self._rirs is not None:
            out["rir"] = {"name": self._rirs.name, "source": self._rirs.source, "files": self._rirs.names()}
        return out


def _as_tensor(a: np.ndarray):
    try:
        import torch
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    except ImportError:
        return a
