"""``--codec-evaluators paper``: the paper's evaluators, obtained through their canonical sources.

- WER: Whisper large-v3 through ``openai-whisper``; the file is the one ``whisper.load_model``
  downloads (``whisper._MODELS["large-v3"]``), cached where it caches it (``~/.cache/whisper``),
  checked against the SHA-256 that is part of its URL.
- EER: ECAPA-TDNN through ``speechbrain`` (``speechbrain/spkrec-ecapa-voxceleb`` at commit
  :data:`ECAPA_REVISION`, each file pinned by SHA-256), its files in the Hugging Face cache;
  ``EncoderClassifier.from_hparams`` then loads that folder, after :mod:`.trust` has checked it.
- SER accuracy: emotion2vec through ``funasr`` (``emotion2vec/emotion2vec_plus_large``, the
  9-class classifier), on RAVDESS (``--codec-emotion-corpus ravdess``) with the label mapping
  :data:`RAVDESS_TO_EMOTION2VEC`.

``embedded`` (the default) keeps the offline stand-ins of asr.py/speaker.py/prosody.py. An explicit
``--codec-asr-model`` / ``--codec-speaker-model`` / ``--codec-emotion-model`` wins over both.
Downloads go through :mod:`codec_conformance.fetch` (mirror and offline honoured). The ECAPA files
are pinned at one commit: the ``.ckpt`` digests are their Git LFS SHA-256 (what the Hub shows),
the two text files' are their SHA-256 at that commit (not read first-hand here: they are the values
several independent public projects pin for that commit). The emotion2vec files' SHA-256 is
recorded on first download. Whatever their pins, every evaluator file passes :mod:`.trust`'s gates
(no code-running tags, remote code or non-weights pickles) unless ``--codec-trust-evaluators``.
"""
from __future__ import annotations

from pathlib import Path

from ..fetch import Source, ensure, hf_snapshot_dir, hf_source

WHISPER_LARGE_V3 = Source(
    "https://openaipublic.azureedge.net/main/whisper/models/"
    "e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb/large-v3.pt",
    "whisper:large-v3.pt", "e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb")
ECAPA_REPO = "speechbrain/spkrec-ecapa-voxceleb"
ECAPA_REVISION = "0f99f2d0ebe89ac095bcc5903c4dd8f72b367286"
ECAPA_SHA256 = {
    "hyperparams.yaml": "6f78854fa04ba59e761437b76a2575d3aba5e5016de3e9b69f0c9a5077fb1a41",
    "embedding_model.ckpt": "0575cb64845e6b9a10db9bcb74d5ac32b326b8dc90352671d345e2ee3d0126a2",
    "mean_var_norm_emb.ckpt": "cd70225b05b37be64fc5a95e24395d804231d43f74b2e1e5a513db7b69b34c33",
    "classifier.ckpt": "fd9e3634fe68bd0a427c95e354c0c677374f62b3f434e45b78599950d860d535",
    "label_encoder.txt": "e13c3a167bb4112685670ee896d20e2b565af16b3a4ceeaa8689fa4d22adb8b9",
}
ECAPA = tuple(hf_source(ECAPA_REPO, f, ECAPA_REVISION, sha) for f, sha in ECAPA_SHA256.items())
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
    if metric == "eer":
        return str(hf_snapshot_dir(ECAPA_REPO, ECAPA_REVISION))
    return str(hf_snapshot_dir(EMOTION2VEC_REPO))


def model_label(model_dir: str | Path) -> str:
    """``org/name@revision`` for a model folder of the Hugging Face cache
    (``.../models--org--name/snapshots/<revision>``, where the paper's ECAPA and emotion2vec
    files are), else the folder's own name: what a run's provenance calls the evaluator."""
    p = Path(model_dir)
    repo = p.parent.parent.name
    if p.parent.name == "snapshots" and repo.startswith("models--") and repo.count("--") >= 2:
        return f"{repo[len('models--'):].replace('--', '/', 1)}@{p.name}"
    return p.name


def uses_paper(settings, metric: str) -> bool:
    """Whether ``metric`` runs the paper's evaluator in this run (no explicit model given)."""
    if getattr(settings, "evaluators", "embedded") != "paper":
        return False
    explicit = {"wer": "asr_model", "eer": "speaker_model", "emotion_acc": "emotion_model"}.get(metric)
    value = getattr(settings, explicit, None) if explicit else None
    if metric == "emotion_acc":  # runs on an emotion corpus only (session.metric_names)
        return value in (None, "") and bool(getattr(settings, "emotion_corpus", None))
    return explicit is not None and value in (None, "", "auto")
