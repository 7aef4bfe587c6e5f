"""Prosody preservation: a named proxy for emotion preservation, never "emotion accuracy".

No offline emotion model ships in a registry package, so by default the suite measures how well
the processed signal keeps the clean signal's prosody: the mean of (a) the Pearson correlation
of log-F0 contours (YIN, 60-400 Hz, 10 ms hop) over frames voiced in both and (b) the Pearson
correlation of frame log-energy contours. 1 = prosody intact. The real metric (emotion2vec
accuracy through funasr) runs when ``--codec-emotion-model DIR`` is given.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..catalogue import MetricInfo
from ..errors import EvaluatorUnavailable
from . import paper
from .base import Metric, MetricResult, Undefined
from .paper import RAVDESS_TO_EMOTION2VEC
from .threads import cpu_budget
from .trust import check_funasr_dir

HOP_S = 0.010
WIN = 1024


def f0_contour(x: np.ndarray, sr: int, fmin: float = 60.0, fmax: float = 400.0,
               threshold: float = 0.15) -> np.ndarray:
    """YIN F0 (de Cheveigne & Kawahara 2002) per 10 ms hop, NaN where unvoiced.

    40 ms frames; cumulative-mean-normalised difference via FFT autocorrelation; the first dip
    below ``threshold`` (else the global minimum if it is below 0.35) gives the period, refined
    by parabolic interpolation; frames 50 dB below the loudest are unvoiced."""
    hop, win = int(HOP_S * sr), int(0.040 * sr)
    tau_min, tau_max = int(sr / fmax), int(sr / fmin)
    xp = np.pad(np.asarray(x, np.float64), (win // 2, win // 2))
    n = 1 + (len(xp) - win) // hop
    frames = xp[np.arange(win)[None, :] + hop * np.arange(n)[:, None]]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = np.sum(frames**2, axis=1)
    m = 2 * win
    spec = np.fft.rfft(frames, m, axis=1)
    acf = np.fft.irfft(np.abs(spec) ** 2, m, axis=1)[:, : tau_max + 2]
    cs = np.concatenate([np.zeros((n, 1)), np.cumsum(frames**2, axis=1)], axis=1)
    taus = np.arange(tau_max + 2)
    # d(tau) = sum_{j<W-tau} x_j^2 + x_{j+tau}^2 - 2 r(tau)
    e_head = cs[:, win - taus]
    e_tail = cs[:, win:win + 1] - cs[:, taus]
    d = e_head + e_tail - 2 * acf
    d[:, 0] = 0
    cmnd = np.ones_like(d)
    csum = np.cumsum(d[:, 1:], axis=1)
    cmnd[:, 1:] = d[:, 1:] * np.arange(1, d.shape[1])[None, :] / np.maximum(csum, 1e-12)
    f0 = np.full(n, np.nan)
    loud = energy > energy.max() * 1e-5
    for i in np.nonzero(loud)[0]:
        c = cmnd[i, tau_min : tau_max + 1]
        below = np.nonzero(c < threshold)[0]
        if len(below):
            k = below[0]
            while k + 1 < len(c) and c[k + 1] < c[k]:
                k += 1
        else:
            k = int(np.argmin(c))
            if c[k] >= 0.35:
                continue
        t = k + tau_min
        if 1 <= t < cmnd.shape[1] - 1:
            a, b, g = cmnd[i, t - 1], cmnd[i, t], cmnd[i, t + 1]
            den = a - 2 * b + g
            t = t + (0.5 * (a - g) / den if den > 0 else 0.0)
        f0[i] = sr / t
    return f0


def energy_contour(x: np.ndarray, sr: int) -> np.ndarray:
    hop = int(HOP_S * sr)
    xp = np.pad(x.astype(np.float64), (WIN // 2, WIN // 2))
    n = 1 + (len(xp) - WIN) // hop
    idx = np.arange(WIN)[None, :] + hop * np.arange(n)[:, None]
    return 10 * np.log10(np.mean(xp[idx] ** 2, axis=1) + 1e-10)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    d = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / d) if d > 0 else 0.0


class ProsodyCorrelation(Metric):
    info = MetricInfo("prosody_corr", "Prosody corr. (emotion PROXY)", "correlation", "higher",
                      min_meaningful_difference=0.02, cost=0.2, corpus="emotion", stand_in=True,
                      bounds=(-1.0, 1.0), max_margin=0.2, plot_span=0.1, in_figure=True, figure_order=5,
                      note="proxy for emotion preservation (no offline emotion model); not emotion accuracy")
    evaluator = "YIN F0 + frame energy"
    description = ("PROXY for emotion preservation: mean of log-F0 and log-energy contour "
                   "correlations between clean and processed speech (not emotion accuracy)")

    def item(self, ref: np.ndarray, deg: np.ndarray, sr: int, utt: Any) -> float:
        n = min(len(ref), len(deg))
        fr, fd = f0_contour(ref[:n], sr), f0_contour(deg[:n], sr)
        both = ~np.isnan(fr) & ~np.isnan(fd)
        if both.sum() < 10:
            raise Undefined(f"fewer than 10 frames voiced in both signals ({int(both.sum())})")
        c_f0 = _corr(np.log(fr[both]), np.log(fd[both]))
        er, ed = energy_contour(ref[:n], sr), energy_contour(deg[:n], sr)
        active = er > er.max() - 50
        c_e = _corr(er[active], ed[active])
        return 0.5 * (c_f0 + c_e)


class EmotionAccuracy(Metric):
    """emotion2vec (funasr) accuracy on an emotion corpus, from a local model directory. RAVDESS
    labels are compared through :data:`codec_conformance.metrics.paper.RAVDESS_TO_EMOTION2VEC`
    (calm counts as neutral; emotion2vec's own labels read ``<Chinese>/<english>``)."""
    info = MetricInfo("emotion_acc", "Emotion acc.", "fraction", "higher", min_meaningful_difference=0.02,
                      cost=10.0, corpus="emotion", requires="emotion_model", min_margin=0.1,
                      bounds=(0.0, 1.0), max_margin=0.2, plot_span=0.1, in_figure=True, figure_order=5)

    @classmethod
    def from_settings(cls, settings: Any = None, device: str = "cpu") -> EmotionAccuracy:
        trusted = bool(getattr(settings, "trust_evaluators", False))
        if paper.uses_paper(settings, "emotion_acc"):
            return cls(paper.model_path("emotion_acc"), trusted, device)
        if settings is None or not getattr(settings, "emotion_model", None):
            raise EvaluatorUnavailable("emotion_acc needs --codec-emotion-model DIR (emotion2vec via funasr) "
                                       "or --codec-evaluators paper")
        return cls(str(settings.path(settings.emotion_model)), trusted, device)

    description = ("emotion2vec (funasr) utterance-level emotion accuracy against the corpus labels "
                   "(RAVDESS: calm counts as neutral)")

    def __init__(self, model_dir: str, trusted: bool = False, device: str = "cpu") -> None:
        from pathlib import Path
        missing = [f for f in ("config.yaml", "model.pt") if not Path(model_dir, f).is_file()]
        if missing:
            raise EvaluatorUnavailable(f"emotion2vec directory {model_dir} lacks {', '.join(missing)}")
        check_funasr_dir(model_dir, trusted)  # before funasr sees a file (--codec-trust-evaluators: off)
        try:
            from funasr import AutoModel
        except ImportError:
            raise EvaluatorUnavailable("funasr is not installed (pip install funasr)") from None
        # these win over the config's values: no remote code, no sub-model fetched from a hub,
        # the folder's own weights
        pinned: dict[str, Any] = {} if trusted else {
            "trust_remote_code": False, "vad_model": None, "punc_model": None, "spk_model": None,
            "init_param": str(Path(model_dir, "model.pt"))}
        # on the run's device (funasr's default is cuda:0, whatever the worker's GPU) with the
        # run's CPU thread budget (funasr's default sets torch to 4 threads for the whole process)
        self.device = device
        self.model = AutoModel(model=model_dir, disable_update=True, disable_pbar=True, device=device, ncpu=cpu_budget(),
                               **pinned)
        self.evaluator = f"emotion2vec:{paper.model_label(model_dir)}"

    def compute(self, items: Any, signals: Any, refs: Any, sr: int, cache: Any = None) -> MetricResult:
        per: list[float | None] = []
        undef: dict[str, str] = {}
        for u, x in zip(items, signals):
            if not u.emotion:
                per.append(None)
                undef[u.id] = "no emotion label"
                continue
            res = self.model.generate(x.astype(np.float32), granularity="utterance", extract_embedding=False)
            labels, scores = res[0]["labels"], res[0]["scores"]
            pred = labels[int(np.argmax(scores))].split("/")[-1].strip().lower()
            per.append(float(pred == RAVDESS_TO_EMOTION2VEC.get(u.emotion, u.emotion)))
        vals = [v for v in per if v is not None]
        return MetricResult(float(np.mean(vals)) if vals else None, per, len(items), undef)
