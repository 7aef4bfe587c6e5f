"""``--codec-evaluators paper``: the paper's evaluators, obtained through their canonical sources.

- WER: Whisper large-v3 through ``openai-whisper``; the file is the one ``whisper.load_model``
  downloads (``whisper._MODELS["large-v3"]``), cached where it caches it (``~/.cache/whisper``),
  checked against the SHA-256 that is part of its URL.
- EER: ECAPA-TDNN through ``speechbrain`` (``speechbrain/spkrec-ecapa-voxceleb``), its files in
  the Hugging Face cache; ``EncoderClassifier.from_hparams`` then loads that folder.
- SER accuracy: emotion2vec through ``funasr`` (``emotion2vec/emotion2vec_plus_large``, the
  9-class classifier), on RAVDESS (``--codec-emotion-corpus ravdess``) with the label mapping
  :data:`RAVDESS_TO_EMOTION2VEC`.

``embedded`` (the default) keeps the offline stand-ins of asr.py/speaker.py/prosody.py. An explicit
``--codec-asr-model`` / ``--codec-speaker-model`` / ``--codec-emotion-model`` wins over both.
Downloads go through :mod:`codec_conformance.fetch` (mirror and offline honoured); the SHA-256 of
the speechbrain and emotion2vec files is recorded on first download (Hugging Face shows the LFS
digests on the web, but they cannot be read from here to pin them).
"""
from __future__ import annotations

from ..fetch import Source, ensure, hf_snapshot_dir, hf_source

WHISPER_LARGE_V3 = Source(
    "https://openaipublic.azureedge.net/main/whisper/models/"
    "e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb/large-v3.pt",
    "whisper:large-v3.pt", "e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb")
ECAPA_REPO = "speechbrain/spkrec-ecapa-voxceleb"
ECAPA = tuple(hf_source(ECAPA_REPO, f) for f in ("hyperparams.yaml", "embedding_model.ckpt",
                                                  "mean_var_norm_emb.ckpt", "classifier.ckpt", "label_encoder.txt"))
EMOTION2VEC_REPO = "emotion2vec/emotion2vec_plus_large"
EMOTION2VEC = tuple(hf_source(EMOTION2VEC_REPO, f) for f in ("config.yaml", "model.pt", "tokens.txt"))

# RAVDESS emotion (file-name field 3) -> emotion2vec class. emotion2vec has no "calm": calm speech
# counts as neutral (the usual merge for 8-class RAVDESS vs. 7-class recognisers). Its "other" and
# "unknown" classes match no RAVDESS label, so predicting them is an error.
RAVDESS_TO_EMOTION2VEC = {"neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad",
                          "angry": "angry", "fearful": "fearful", "disgust": "disgusted", "surprised": "surprised"}

EVALUATORS = ("embedded", "paper")


def sources(metric: str) -> tuple[tuple[str, Source], ...]:
    """(label, file) pairs the paper's evaluator of ``metric`` needs."""
    if metric == "wer":
        return (("Whisper large-v3 (openai-whisper)", WHISPER_LARGE_V3),)
    if metric == "eer":
        return tuple((f"ECAPA-TDNN ({ECAPA_REPO})", s) for s in ECAPA)
    if metric == "emotion_acc":
        return tuple((f"emotion2vec ({EMOTION2VEC_REPO})", s) for s in EMOTION2VEC)
    return ()


def model_path(metric: str) -> str:
    """The local model the metric's backend loads (files obtained first when missing)."""
    for label, src in sources(metric):
        ensure(src, label)
    if metric == "wer":
        return str(WHISPER_LARGE_V3.path)
    repo = ECAPA_REPO if metric == "eer" else EMOTION2VEC_REPO
    return str(hf_snapshot_dir(repo))


def uses_paper(settings, metric: str) -> bool:
    """Whether ``metric`` runs the paper's evaluator in this run (no explicit model given)."""
    if getattr(settings, "evaluators", "embedded") != "paper":
        return False
    explicit = {"wer": "asr_model", "eer": "speaker_model", "emotion_acc": "emotion_model"}.get(metric)
    value = getattr(settings, explicit, None) if explicit else None
    if metric == "emotion_acc":  # runs on an emotion corpus only (session.metric_names)
        return value in (None, "") and bool(getattr(settings, "emotion_corpus", None))
    return explicit is not None and value in (None, "", "auto")
