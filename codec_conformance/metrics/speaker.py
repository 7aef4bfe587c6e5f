"""Speaker verification EER.

Embeddings: ECAPA-TDNN through speechbrain from a local model directory (the paper's kind of
evaluator; ``--codec-speaker-model DIR``), or the offline stand-in resemblyzer (its package
ships the GE2E encoder). Protocols (``--codec-eer-protocol``):
- ``enrol-test`` (default, the paper's): trials pair each clean enrolment utterance with every
  *other* processed utterance; target when the speakers match.
- ``all-pairs``: every unordered pair of processed utterances.
Scores are cosine similarities; EER is where false-accept and false-reject rates cross
(linear interpolation between the two thresholds that bracket the crossing).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..catalogue import MetricInfo
from ..data.audio import content_hash
from ..errors import EvaluatorUnavailable
from . import paper
from .base import LazyModelMetric, MetricResult
from .trust import check_speechbrain_dir


def eer(scores: Any, labels: Any) -> float:
    """Equal error rate of ``scores`` (higher = more likely target) for boolean ``labels``."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    n_t, n_n = int(y.sum()), int((~y).sum())
    if n_t == 0 or n_n == 0:
        raise ValueError("EER needs at least one target and one non-target trial")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    # accept everything scoring >= threshold; thresholds at each distinct score
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    frr = np.r_[1.0, 1.0 - tp[last] / n_t]
    far = np.r_[0.0, fp[last] / n_n]
    d = frr - far  # decreasing from 1 to <= 0
    k = int(np.nonzero(d <= 0)[0][0])
    if d[k] == 0:
        return float(far[k])
    # interpolate between k-1 (frr > far) and k (frr < far)
    t = d[k - 1] / (d[k - 1] - d[k])
    return float(far[k - 1] + t * (far[k] - far[k - 1]))


def eer_resampler(scores: np.ndarray, speakers: list, protocol: str) -> Callable[[Any], float | None]:
    """``f(indices) -> EER | None`` over the trials among the utterances at ``indices`` (a bootstrap
    draw; repeated indices are copies of one utterance, never paired with themselves).
    ``scores[i, j]``: enrolment (or, all-pairs, test) i against test j."""
    spk = np.asarray([str(s) for s in speakers])

    def f(idx: Any) -> float | None:
        idx = np.asarray(idx)
        s = scores[np.ix_(idx, idx)]
        same = spk[idx][:, None] == spk[idx][None, :]
        keep = idx[:, None] != idx[None, :]
        if protocol != "enrol-test":
            keep &= np.triu(np.ones_like(keep), 1).astype(bool)
        lab = same[keep]
        if lab.all() or not lab.any():
            return None
        return eer(s[keep], lab)
    return f


class Embedder:
    name: str = "speaker"
    version: str = "1"
    stand_in: bool = True

    def embed(self, audio: np.ndarray, sr: int) -> np.ndarray:
        raise NotImplementedError


class ResemblyzerEmbedder(Embedder):
    name = "resemblyzer-ge2e"
    stand_in = True

    def __init__(self, device: str = "cpu") -> None:
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as exc:
            raise EvaluatorUnavailable(f"resemblyzer is not importable ({exc}); pip install resemblyzer") from None
        self.encoder = VoiceEncoder(device=device, verbose=False)

    def embed(self, audio: np.ndarray, sr: int) -> np.ndarray:
        from resemblyzer import preprocess_wav
        wav = preprocess_wav(audio.astype(np.float32), source_sr=sr)
        if len(wav) < 1600:  # VAD trimmed (nearly) everything: embed the raw signal
            wav = audio.astype(np.float32)
        return self.encoder.embed_utterance(wav)


class EcapaEmbedder(Embedder):
    stand_in = False

    def __init__(self, model_dir: str, device: str = "cpu", trusted: bool = False) -> None:
        need = ["hyperparams.yaml", "embedding_model.ckpt"]
        missing = [f for f in need if not Path(model_dir, f).is_file()]
        if missing:
            raise EvaluatorUnavailable(f"ECAPA model directory {model_dir} lacks {', '.join(missing)} "
                                       "(speechbrain spkrec-ecapa-voxceleb layout)")
        check_speechbrain_dir(model_dir, trusted)  # before speechbrain sees a file (--codec-trust-evaluators: off)
        try:
            from speechbrain.inference.speaker import EncoderClassifier
        except ImportError:
            raise EvaluatorUnavailable("speechbrain is not installed (pip install speechbrain)") from None
        self.model = EncoderClassifier.from_hparams(source=model_dir, savedir=model_dir,
                                                    run_opts={"device": device},
                                                    overrides={"pretrained_path": model_dir})
        self.name = f"ecapa-tdnn:{paper.model_label(model_dir)}"

    def embed(self, audio: np.ndarray, sr: int) -> np.ndarray:
        import torch
        with torch.no_grad():
            e = self.model.encode_batch(torch.from_numpy(audio.astype(np.float32))[None])
        return e.squeeze().cpu().numpy()


def make_embedder(spec: str | None, device: str = "cpu", trusted: bool = False) -> Embedder:
    if spec is None or spec in ("", "auto"):
        return ResemblyzerEmbedder(device)
    return EcapaEmbedder(spec, device, trusted)


class SpeakerEer(LazyModelMetric):
    info = MetricInfo("eer", "EER", "fraction", "lower", min_meaningful_difference=0.01, cost=1.0,
                      stand_in=True, min_margin=0.1, bounds=(0.0, 0.5),  # 0.5 = chance (a speaker-blind output)
                      max_margin=0.15, plot_span=0.1, in_figure=True,
                      figure_order=4)  # stand-in unless --codec-speaker-model names ECAPA

    @classmethod
    def from_settings(cls, settings: Any = None, device: str = "cpu") -> SpeakerEer:
        model = paper.model_path("eer") if paper.uses_paper(settings, "eer") else getattr(settings, "speaker_model", None)
        return cls(model=model, protocol=getattr(settings, "eer_protocol", None) or "enrol-test", device=device,
                   trusted=bool(getattr(settings, "trust_evaluators", False)))

    def __init__(self, embedder: Embedder | None = None, model: str | None = None, protocol: str = "enrol-test",
                 device: str = "cpu", trusted: bool = False) -> None:
        if protocol not in ("enrol-test", "all-pairs"):
            raise ValueError(f"unknown EER protocol {protocol!r}; use enrol-test or all-pairs")
        self._model_obj, self._model, self.protocol = embedder, model, protocol  # type: ignore[assignment]
        self.version_suffix = f"/{protocol}"
        self.device = device
        self.trusted = trusted

    def make_model(self) -> Embedder:
        return make_embedder(self._model, self.device, self.trusted)

    @property
    def embedder(self) -> Embedder:
        return self.model_obj

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"speaker-verification EER, cosine scoring, protocol {self.protocol}"

    def embed(self, audio: np.ndarray, sr: int, cache: Any = None) -> np.ndarray:
        key = content_hash("spk", self.embedder.name, self.embedder.version, audio, sr)
        hit = cache.get_array(key) if cache is not None else None
        if hit is not None:
            return hit
        e = np.asarray(self.embedder.embed(audio, sr), dtype=np.float32)
        if cache is not None:
            cache.put_array(key, e)
        return e

    def compute(self, items: Any, signals: Any, refs: Any, sr: int, cache: Any = None) -> MetricResult:
        spk = [u.speaker for u in items]
        if len(set(spk)) < 2 or len(spk) == len(set(spk)):
            return MetricResult(None, [None] * len(items), len(items),
                                {u.id: "EER needs >= 2 speakers with >= 2 utterances" for u in items})
        test = np.stack([self.embed(x, sr, cache) for x in signals])
        test /= np.linalg.norm(test, axis=1, keepdims=True) + 1e-9
        scores, labels = [], []
        if self.protocol == "enrol-test":
            enrol = np.stack([self.embed(x, sr, cache) for x in refs])
            enrol /= np.linalg.norm(enrol, axis=1, keepdims=True) + 1e-9
            for i in range(len(items)):
                for j in range(len(items)):
                    if i != j:
                        scores.append(float(enrol[i] @ test[j]))
                        labels.append(spk[i] == spk[j])
        else:
            for i in range(len(items)):
                for j in range(i + 1, len(items)):
                    scores.append(float(test[i] @ test[j]))
                    labels.append(spk[i] == spk[j])
        res = MetricResult(eer(scores, labels), [None] * 0, len(items), {},
                           {"n_trials": len(scores), "n_target": int(sum(labels)), "protocol": self.protocol})
        left = enrol if self.protocol == "enrol-test" else test
        res.resample, res.resample_by = eer_resampler(left @ test.T, spk, self.protocol), "speaker"
        return res
