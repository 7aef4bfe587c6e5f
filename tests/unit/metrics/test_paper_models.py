"""The tiny paper-mode models (tests/paper_models.py) are what the upstream libraries load: an
openai-whisper checkpoint, speechbrain's ECAPA folder, funasr's emotion2vec folder, each through
this project's evaluator classes with the hostile-file gates on. Random weights: what they output
is checked for shape and determinism only (pipeline checks, not measurements)."""
from __future__ import annotations

import numpy as np
import pytest

from tests import paper_models


@pytest.fixture(scope="module")
def speech():
    from codec_conformance.data.shipped import load_shipped_speech
    return load_shipped_speech(2, 1).items


def test_the_whisper_checkpoint_is_openai_whispers_layout_and_transcribes(tmp_path, speech):
    pytest.importorskip("whisper")
    import torch
    import whisper

    from codec_conformance.metrics.asr import OpenAiWhisperAsr
    pt = tmp_path / "large-v3.pt"
    pt.write_bytes(paper_models.whisper_checkpoint())
    ck = torch.load(pt, weights_only=True)
    assert set(ck) == {"dims", "model_state_dict"} and ck["dims"] == paper_models.WHISPER_DIMS
    assert whisper.load_model(str(pt), device="cpu").dims.n_vocab == 51866   # upstream's own loader reads it
    asr = OpenAiWhisperAsr(str(pt))
    texts = [asr.transcribe(u.audio, 16000) for u in speech]
    assert all(isinstance(t, str) and len(t.split()) <= paper_models.WHISPER_EOT_AFTER for t in texts)
    assert texts == [asr.transcribe(u.audio, 16000) for u in speech]   # deterministic (greedy, t = 0)


def test_the_ecapa_files_load_in_speechbrain_with_every_published_loadable(tmp_path, speech):
    pytest.importorskip("speechbrain")
    from codec_conformance.metrics import paper
    from codec_conformance.metrics.speaker import EcapaEmbedder
    files = paper_models.ecapa_files()
    assert set(files) == set(paper.ECAPA_SHA256)   # the published repo's five files, no more
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
    emb = EcapaEmbedder(str(tmp_path))
    mods = emb.model.mods
    assert set(mods) >= {"embedding_model", "mean_var_norm_emb", "classifier"}
    assert emb.model.hparams.label_encoder.lab2ind == {s: i for i, s in enumerate(paper_models.ECAPA_SPEAKERS)}
    e = emb.embed(speech[0].audio, 16000)
    assert e.shape == (12,) and np.isfinite(e).all()


def test_the_emotion2vec_files_load_in_funasr_with_their_weights(tmp_path, speech):
    pytest.importorskip("funasr")
    import torch

    from codec_conformance.metrics.prosody import EmotionAccuracy
    files = paper_models.emotion2vec_files()
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
    m = EmotionAccuracy(str(tmp_path))
    saved = torch.load(tmp_path / "model.pt", weights_only=True)["model"]
    loaded = m.model.model.state_dict()
    assert set(saved) == set(loaded) and all(torch.equal(saved[k], loaded[k].cpu()) for k in saved)
    res = m.model.generate(speech[0].audio.astype(np.float32), granularity="utterance", extract_embedding=False)
    assert res[0]["labels"] == list(paper_models.EMOTION2VEC_TOKENS)
    assert sum(res[0]["scores"]) == pytest.approx(1.0, abs=1e-5)


def test_model_labels_name_the_hub_repository_and_revision(tmp_path):
    """The evaluator of a paper-mode run was recorded as ``emotion2vec:main`` (the snapshot
    folder's name: the revision, not the model) and ``ecapa-tdnn:0f99f2d0...``."""
    from codec_conformance.metrics import paper
    snap = tmp_path / "hub" / "models--emotion2vec--emotion2vec_plus_large" / "snapshots" / "main"
    assert paper.model_label(snap) == "emotion2vec/emotion2vec_plus_large@main"
    assert paper.model_label(tmp_path / "my-ecapa") == "my-ecapa"


def test_emotion2vec_runs_on_the_runs_device_with_its_thread_budget(tmp_path, monkeypatch):
    """funasr's AutoModel defaults to cuda (cuda:0 for every xdist worker) and sets torch to 4
    threads for the whole process; the old code passed neither device nor threads."""
    pytest.importorskip("funasr")
    import funasr

    from codec_conformance.metrics import threads
    from codec_conformance.metrics.prosody import EmotionAccuracy
    for name, body in paper_models.emotion2vec_files().items():
        (tmp_path / name).write_bytes(body)
    called = []
    monkeypatch.setattr(funasr, "AutoModel", lambda **kw: called.append(kw))
    monkeypatch.setenv("CODEC_CONFORMANCE_THREADS", "3")
    settings = type("S", (), {"evaluators": "embedded", "emotion_model": str(tmp_path), "trust_evaluators": False,
                              "path": lambda self, v: v})()
    m = EmotionAccuracy.from_settings(settings, device="cuda:1")
    assert called[0]["device"] == "cuda:1" and m.device == "cuda:1"
    assert called[0]["ncpu"] == threads.cpu_budget() == 3
