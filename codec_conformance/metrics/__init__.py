"""Metrics. Each is one module and one entry point in ``codec_conformance.metrics``."""
from __future__ import annotations

from .base import Metric, MetricResult, Undefined  # noqa: F401


def build_metric(name: str, settings=None, device: str = "cpu"):
    """Instantiate a registered metric with the run's evaluator options, on ``device``."""
    from ..registry import load_metric_class

    from . import paper

    opt = (lambda k, d=None: getattr(settings, k, d)) if settings is not None else (lambda k, d=None: d)
    if name == "wer":
        from .asr import WordErrorRate
        model = paper.model_path("wer") if paper.uses_paper(settings, "wer") else opt("asr_model")
        return WordErrorRate(model=model, device=device)
    if name == "eer":
        from .speaker import SpeakerEer
        model = paper.model_path("eer") if paper.uses_paper(settings, "eer") else opt("speaker_model")
        return SpeakerEer(model=model, protocol=opt("eer_protocol", "enrol-test"), device=device)
    if name == "emotion_acc":
        from .prosody import EmotionAccuracy
        if paper.uses_paper(settings, "emotion_acc"):
            return EmotionAccuracy(paper.model_path("emotion_acc"))
        return EmotionAccuracy(str(settings.path(settings.emotion_model)))
    if name == "dnsmos":
        from .dnsmos import Dnsmos
        return Dnsmos(device=device)
    if name == "pesq_nb":
        from .signal import Pesq
        return Pesq("nb")
    if name == "estoi":
        from .signal import Stoi
        return Stoi(extended=True)
    return load_metric_class(name)()
