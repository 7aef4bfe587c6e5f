"""A Whisper evaluator on scripted decoder outputs, for the ASR tests (tests/unit/metrics/test_asr.py,
tests/unit/engine/test_session.py)."""
from codec_conformance.metrics.asr import FasterWhisperAsr


class Seg:
    def __init__(self, text, avg_logprob=-0.3, compression_ratio=1.2, no_speech_prob=0.0):
        self.text, self.avg_logprob = text, avg_logprob
        self.compression_ratio, self.no_speech_prob = compression_ratio, no_speech_prob


class StubWhisper(FasterWhisperAsr):
    """FasterWhisperAsr's decoding logic on scripted decoder outputs (no model)."""

    def __init__(self, first_pass):
        self.name, self.stand_in = "stub-whisper", True
        self._model_kwargs = {"device": "cpu", "compute_type": "int8", "cpu_threads": 1}
        self._model_cls, self._model_dir = lambda d, **kw: ("fresh", d), "stub-dir"
        self.model, self.first_pass, self.calls = "long-lived", first_pass, []

    def _decode(self, model, audio, temperatures):
        self.calls.append((model, tuple(temperatures)))
        return self.first_pass if model == "long-lived" else [Seg("sampled")]
