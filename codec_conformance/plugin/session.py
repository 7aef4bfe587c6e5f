"""Per-worker state of a conformance run: corpus, conditions, codecs, evaluators and the
memoised / content-cached computations the suites ask for. Built lazily, once per process."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ..data import conditions as C
from ..data.audio import content_hash, fit_length, resample
from ..codecs.cache import Cache
from ..codecs.base import check_output
from ..data.corpus import (EMBEDDED_VOICES, AudioBank, Corpus, babble_bank, default_cache_dir, load_embedded,
                           load_folder, load_ravdess)
from ..data.shipped import SYNTHETIC, load_shipped_speech, shipped_noise_bank, shipped_rir_bank, shipped_rir_dir
from ..errors import CodecError, ConformanceError
from ..metrics.base import MetricResult
from .settings import Settings, select_bitrates
from ..gate.thresholds import ThresholdSet


def resolve_device(spec: str, worker_index: int = 0) -> str:
    """auto | cpu | cuda | cuda:N -> the device this process uses; a CUDA device that is not
    there is an error (never silently recorded as the device)."""
    if spec == "cpu":
        return spec
    n_gpus = 0
    try:
        import torch
        if torch.cuda.is_available():
            n_gpus = torch.cuda.device_count()
    except ImportError:
        pass
    if spec == "auto":
        return f"cuda:{worker_index % n_gpus}" if n_gpus else "cpu"
    if spec == "cuda" or spec.startswith("cuda:"):
        if not n_gpus:
            raise ConformanceError(f"--codec-device {spec}: no CUDA device is available here; use cpu or auto")
        if spec == "cuda":
            return f"cuda:{worker_index % n_gpus}"
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
            if self.synthetic_corpus:  # --codec-corpus=synthetic: the eSpeak NG voices
                self._corpus = load_embedded(min(p.n_speakers, len(EMBEDDED_VOICES)), p.n_per_speaker)
            elif self.settings.corpus:
                full = load_folder(self.settings.path(self.settings.corpus))
                self._corpus = full.subset(p.n_speakers if self.settings.profile != "paper" else None,
                                           p.n_per_speaker if self.settings.profile != "paper" else None)
            else:  # the real LibriSpeech utterances shipped in the package
                self._corpus = load_shipped_speech(p.n_speakers, p.n_per_speaker)
        return self._corpus

    @property
    def emotion_corpus(self) -> Corpus:
        if self._emotion is None:
            if self.settings.emotion_corpus:
                full = load_ravdess(self.settings.path(self.settings.emotion_corpus))
                n = {"smoke": 8, "standard": 16}.get(self.settings.profile)
                self._emotion = Corpus(full.name, sorted(full.items, key=lambda u: u.id)[:n] if n else full.items,
                                       full.sample_rate, False, full.description, skipped=full.skipped)
            else:
                self._emotion = self.corpus
        return self._emotion

    @property
    def noise_bank(self) -> AudioBank:
        if self._noise is None:
            if self.settings.noise_dir:
                self._noise = AudioBank.from_dir(self.settings.path(self.settings.noise_dir), kind="noise")
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
            self._rirs = AudioBank.from_dir(self.settings.path(self.settings.rir_dir), kind="rir")
        elif self._rirs is None and not self.synthetic_corpus:  # shipped measured RIRs
            self._rirs = shipped_rir_bank()
        return self._rirs

    @property
    def synthetic_corpus(self) -> bool:
        """--codec-corpus=synthetic: eSpeak speech, synthetic babble and simulated RT60s, as before
        real recordings were shipped."""
        return str(self.settings.corpus or "") == SYNTHETIC

    def noise_conditions(self) -> list[C.Condition]:
        """The noise suite's grid (needs no audio loaded: collection-time safe)."""
        p = self.profile
        conds = [C.clean()]
        conds += [C.ambient(s) for s in p.snrs_db]
        conds += [C.white(s) for s in p.snrs_db]
        if self.settings.rir_dir or not self.synthetic_corpus:
            from ..data.corpus import AUDIO_EXT
            root = self.settings.path(self.settings.rir_dir) if self.settings.rir_dir else shipped_rir_dir()
            names = sorted(str(q.relative_to(root)) for q in root.rglob("*") if q.suffix.lower() in AUDIO_EXT)
            if not names:
                raise ConformanceError(f"--codec-rir-dir {root}: no audio files")
            conds += [C.reverb(rir=n) for n in names[: p.max_rirs]]
        else:
            conds += [C.reverb(rt60_s=r) for r in p.rt60s_s]
        return conds

    def metric_names(self) -> list[str]:
        if self.settings.metrics:
            from ..registry import metric_names
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
                # a near-silent item has no speech level to set an SNR against: it keeps its own
                # audio as a placeholder and every metric counts it undefined (see score)
                self._degraded[key] = [
                    u.audio.copy() if u.silent is not None else
                    C.apply(cond, u.audio, corpus.sample_rate, item_id=u.id, seed=self.settings.seed,
                            noise_bank=self.noise_bank if cond.kind == "ambient" else None,
                            rir_bank=self.rir_bank) for u in corpus.items]
            return self._degraded[key]

    # ---------------------------------------------------------------- codecs
    def codec(self, name: str):
        with self._lock:
            if name not in self._codecs:
                from ..registry import make_codec
                from ..metrics.threads import apply_torch_threads
                s = self.settings
                given = [k for k, v in (("checkpoint", s.checkpoint), ("config", s.config),
                                        ("weights", s.weights != "pretrained"),
                                        ("trust_checkpoint", s.trust_checkpoint),
                                        ("device", s.device != "auto")) if v]
                codec = make_codec(
                    name, given, checkpoint=str(s.path(s.checkpoint)) if s.checkpoint else None,
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
        disk for it: a factory may hold configuration the framework cannot see, and two
        configurations of one class must never share outputs). The codec's own
        ``cache_identity()`` is combined with what the framework knows changes the output:
        :meth:`framework_identity` (the cache-format version is in :class:`Cache` itself)."""
        with self._lock:
            if name not in self._identity:
                c = self.codec(name)
                ident = c.cache_identity() if hasattr(c, "cache_identity") else None
                self._identity[name] = None if ident is None else content_hash(
                    type(c).__module__, type(c).__qualname__, ident, sorted(self.framework_identity(name).items()))
            return self._identity[name]

    def framework_identity(self, name: str) -> dict:
        """What the run's settings say about a codec's output, whatever its adapter declares:
        the ``--codec`` spec, SHA-256 of the checkpoint (file, or a directory's files) and config
        file, weights kind, precision and device class (cpu, or cuda and the GPU model). These are
        the settings' values, not the adapter's attributes, which an adapter may not keep up to
        date (so a CPU-only codec such as Opus is cached apart on a GPU machine: a miss, never a
        wrong hit)."""
        s = self.settings
        dev = str(self.device).split(":")[0]
        if dev == "cuda":
            try:
                import torch
                dev = f"cuda/{torch.cuda.get_device_name(self.device)}"
            except Exception:  # noqa: BLE001  (no torch: then the codec cannot be on cuda either)
                pass
        return {"spec": name,
                "checkpoint_sha256": sha256_path(s.path(s.checkpoint)) if s.checkpoint else None,
                "config_sha256": sha256_path(s.path(s.config)) if s.config else None,
                "weights": s.weights, "precision": getattr(s, "precision", "fp32"), "device": dev}

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
        from ..metrics.threads import cpu_budget
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
            res = call_with_time_limit(lambda: codec.roundtrip(_as_tensor(batch), bitrate),  # --codec-timeout
                                       getattr(self.settings, "timeout", 600.0), str(getattr(codec, "name", name)),
                                       bitrate)
            res = check_output(name, batch, res, bitrate)  # real float of the input's shape, finite
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
                from ..metrics import build_metric
                from ..metrics.threads import apply_torch_threads
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
                self._scores[key] = score_speech_items(m, corpus, signals, self.cache)
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
    def thresholds(self, codec: str) -> ThresholdSet:
        """The limits of codec ``codec`` (its --codec id), read once: see thresholds.candidates
        (the project's files, then the packaged ones; by id, then by the codec's own name)."""
        if codec not in self._thresholds:
            from ..gate.thresholds import known_metrics
            s = self.settings
            names = [codec, str(self.codec(codec).name)]
            self._thresholds[codec] = ThresholdSet.for_codec(
                names, s.path(s.thresholds_dir), s.path(s.thresholds) if s.thresholds else None,
                metrics=known_metrics())
        return self._thresholds[codec]

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
            out["noise"] = {"name": self._noise.name, "source": self._noise.source, "files": self._noise.names(),
                            "skipped": self._noise.skipped}
        if self._rirs is not None:
            out["rir"] = {"name": self._rirs.name, "source": self._rirs.source, "files": self._rirs.names(),
                          "skipped": self._rirs.skipped}
        return out

    # ---------------------------------------------------------------- codes (token suite)
    def token_codec(self, name: str):
        """The codec if it exposes codes (``encode``/``decode``), else None."""
        c = self.codec(name)
        return c if callable(getattr(c, "encode", None)) and callable(getattr(c, "decode", None)) else None

    def codes(self, name: str, bitrate: float, x: np.ndarray, sr: int, memo: bool = True) -> np.ndarray:
        """Codes [n_q, frames] of one signal at ``sr`` (resampled to the codec's rate, encoded
        alone: batching must not change them), memoised by content unless ``memo`` is False."""
        codec = self.codec(name)
        key = content_hash("codes", self.codec_identity(name) or ("run", name, id(codec)), float(bitrate), x, sr)
        if memo and key in self._memo:
            return self._memo[key]
        import time
        t0 = time.perf_counter()
        codes = np.asarray(codec.encode(resample(np.asarray(x, np.float32), sr, codec.sample_rate)[None], bitrate))
        self.timing["codec_s"] += time.perf_counter() - t0
        if codes.ndim != 3 or codes.shape[0] != 1 or not np.issubdtype(codes.dtype, np.integer):
            raise CodecError(f"codec {name!r}: encode must return integer codes [batch, n_q, frames], "
                             f"got {codes.dtype} {codes.shape}")
        if memo and len(self._memo) < 4096:
            self._memo[key] = codes[0]
        return codes[0]


_SHA_MEMO: dict[tuple, str] = {}


def sha256_path(path) -> str:
    """SHA-256 of a file, or of a directory's files (relative paths and contents, sorted);
    memoised per process by path, size and modification time."""
    import hashlib

    from ..codecs.checkpoint import sha256_file
    p = Path(path)
    if not p.exists():
        raise ConformanceError(f"{p}: not found (checkpoint/config files are hashed for the cache key)")
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    stamp = (str(p.resolve()), tuple((str(q), q.stat().st_size, q.stat().st_mtime_ns) for q in files))
    if stamp not in _SHA_MEMO:
        if p.is_dir():
            h = hashlib.sha256()
            for q in files:
                h.update(str(q.relative_to(p)).encode() + b"\0" + sha256_file(q).encode() + b"\0")
            _SHA_MEMO[stamp] = h.hexdigest()
        else:
            _SHA_MEMO[stamp] = sha256_file(p)
    return _SHA_MEMO[stamp]


def score_speech_items(metric, corpus: Corpus, signals: list[np.ndarray], cache=None) -> MetricResult:
    """``metric.compute`` over the items that hold speech; near-silent items are undefined, with
    their reason, and keep their place in ``per_item`` (never dropped, never given a number)."""
    keep = [k for k, u in enumerate(corpus.items) if u.silent is None]
    silent = {u.id: f"no speech in the clean item: {u.silent}" for u in corpus.items if u.silent is not None}
    if len(keep) == len(corpus.items):
        return metric.compute(corpus.items, signals, [u.audio for u in corpus.items], corpus.sample_rate,
                              cache=cache)
    n = len(corpus.items)
    if not keep:
        return MetricResult(None, [None] * n, n, silent)
    items = [corpus.items[k] for k in keep]
    res = metric.compute(items, [signals[k] for k in keep], [u.audio for u in items], corpus.sample_rate,
                         cache=cache)
    per = res.per_item
    if len(per) == len(keep):  # per-item values back at their places; set metrics (EER) have none
        per = [None] * n
        for k, v in zip(keep, res.per_item):
            per[k] = v
    weights = None
    if res.weights is not None and len(res.weights) == len(keep):
        weights = [None] * n
        for k, w in zip(keep, res.weights):
            weights[k] = w
    # a set metric's resampler indexes the kept items only: no interval then (rare)
    return MetricResult(res.value, per, n, {**silent, **res.undefined}, res.details, weights=weights)


def call_with_time_limit(fn, limit_s, codec_name: str, bitrate: float):
    """``fn()`` (one codec round trip), or a CodecError naming the codec when it has not returned
    after ``limit_s`` seconds (--codec-timeout; 0 or None: no limit). The call runs in a daemon
    thread; a call past its limit is abandoned there (Python cannot stop it) and the test errors."""
    if not limit_s:
        return fn()
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller, KeyboardInterrupt included
            box["error"] = exc

    t = threading.Thread(target=target, name=f"codec-{codec_name}-roundtrip", daemon=True)
    t.start()
    t.join(float(limit_s))
    if t.is_alive():
        raise CodecError(f"codec {codec_name!r} at {float(bitrate):g} kbps did not return within {float(limit_s):g} s "
                         "(--codec-timeout); the call was abandoned and this test errors. Raise --codec-timeout "
                         "for a slow codec, or fix the hang")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _as_tensor(a: np.ndarray):
    try:
        import torch
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    except ImportError:
        return a
