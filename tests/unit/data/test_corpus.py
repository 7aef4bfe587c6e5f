from pathlib import Path

import numpy as np
import pytest

from codec_conformance.data.corpus import load_embedded, load_folder, load_ravdess
from codec_conformance.errors import ConformanceError
from tests.helpers import speechlike


def test_embedded_corpus_is_deterministic_and_cached(tmp_path):
    a = load_embedded(3, 2, cache_dir=tmp_path / "a")
    b = load_embedded(3, 2, cache_dir=tmp_path / "b")  # built afresh elsewhere: bit-identical
    assert [u.id for u in a.items] == [u.id for u in b.items]
    assert all(np.array_equal(x.audio, y.audio) for x, y in zip(a.items, b.items))
    assert a.synthetic and "SYNTHETIC" in a.description
    assert len(a.speakers) == 3 and a.has_transcripts and a.sample_rate == 16000
    c = load_embedded(3, 2, cache_dir=tmp_path / "a")  # from the cache
    assert np.array_equal(c.items[0].audio, a.items[0].audio)


def test_librispeech_layout(libri):
    assert len(libri.items) == 100 and len(libri.speakers) == 10
    assert libri.has_transcripts and not libri.synthetic
    sub = libri.subset(3, 2)
    assert len(sub.items) == 6 and len(sub.speakers) == 3


def test_flat_folder_without_all_transcripts(shared_data):
    c = load_folder(shared_data / "speech" / "timit-style-2spk")
    assert c.speakers == ["spk1", "spk2"]
    assert sum(u.transcript is not None for u in c.items) == 10
    assert any("no transcript" in n for n in c.notes)


def test_ravdess_labels(shared_data):
    c = load_ravdess(shared_data / "emotion" / "ravdess")
    assert len(c.items) == 64 and len({u.speaker for u in c.items}) == 8
    assert {u.emotion for u in c.items} == {"neutral", "calm", "happy", "sad", "angry", "fearful",
                                            "disgust", "surprised"}


def test_stereo_44k_file_is_resampled_and_mixed_down(shared_data):
    from codec_conformance.data.audio import load_audio
    notes = []
    x, sr = load_audio(shared_data / "speech" / "jfk" / "jfk.flac", 16000, notes=notes)
    assert sr == 16000 and x.ndim == 1 and abs(len(x) / 16000 - 11.0) < 0.1
    assert any("resampled" in n for n in notes)


def test_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(ConformanceError, match="corpus directory not found"):
        load_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConformanceError, match="no audio files"):
        load_folder(tmp_path / "empty")


def test_bad_audio_messages(tmp_path):
    from codec_conformance.data.audio import to_mono_float
    from codec_conformance.errors import BadAudioError
    with pytest.raises(BadAudioError, match="clip.wav: 1 NaN/Inf"):
        to_mono_float(np.array([0.0, np.nan, 0.1]), "clip.wav")
    with pytest.raises(BadAudioError, match="empty"):
        to_mono_float(np.zeros(0), "x")
    notes = []
    y = to_mono_float(np.array([16384, -16384], np.int16), "pcm", notes)
    assert np.allclose(y, [0.5, -0.5]) and "integer PCM" in notes[0]


# ----------------------------------------------------------------------
# Bad configuration and bad input: one clear usage error up front (exit 4) naming the option or
# file; unreadable corpus files skipped, counted and named; near-silent items undefined, with a
# reason, instead of skewing a curve or erroring every noisy-condition test.

SR = 16000


def test_unreadable_noise_and_emotion_files_are_skipped_and_named(tmp_path):
    import soundfile as sf

    from codec_conformance.data.corpus import AudioBank, load_ravdess
    (tmp_path / "noise").mkdir()
    sf.write(str(tmp_path / "noise" / "good.wav"), speechlike(90.0), SR)
    (tmp_path / "noise" / "bad.flac").write_bytes(b"fLaC" + bytes(20))
    bank = AudioBank.from_dir(tmp_path / "noise")
    assert bank.names() == ["good.wav"] and "cannot read audio file" in bank.skipped["bad.flac"]
    (tmp_path / "rav").mkdir()
    sf.write(str(tmp_path / "rav" / "03-01-05-01-01-01-01.wav"), speechlike(150.0), SR)
    (tmp_path / "rav" / "03-01-03-01-01-01-02.wav").write_text("truncated")
    c = load_ravdess(tmp_path / "rav")
    assert [u.emotion for u in c.items] == ["angry"] and list(map(lambda k: Path(k).name, c.skipped)) == [
        "03-01-03-01-01-01-02.wav"]


# --------------------------------------------------------------------------- 3. near-silent items
def test_silence_is_detected_and_speech_is_not(embedded):
    from codec_conformance.data.corpus import silence_reason
    assert "digital silence" in silence_reason(np.zeros(SR, np.float32), SR)[1]
    hum = (1e-4 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)  # -80 dBFS
    assert "active level -80" in silence_reason(hum, SR)[1]
    click = np.zeros(SR, np.float32)
    click[100:140] = 0.5
    assert "only 20 ms" in silence_reason(click, SR)[1]
    assert silence_reason(speechlike(150.0), SR)[1] is None
    assert all(u.silent is None for u in embedded.items)


def test_a_fifo_in_a_corpus_is_refused_before_reading(tmp_path):
    """Issue 29 item 6: a FIFO among a corpus folder's audio files is skipped and named as a FIFO
    (the old code called it 'audio file not found'); a FIFO as a transcripts file (a
    *.trans.txt in the folder, or --codec-transcripts) is one ConformanceError naming it, where
    the old code blocked forever reading it."""
    import os

    import soundfile as sf

    from tests.helpers import within
    root = tmp_path / "corpus"
    (root / "spk").mkdir(parents=True)
    sf.write(root / "spk" / "spk-1.wav", 0.3 * np.sin(np.arange(16000) * 0.05), 16000)
    os.mkfifo(root / "spk" / "spk-2.wav")
    with within(10):
        c = load_folder(root)
    assert [u.id for u in c.items] == ["spk-1"]
    assert "is a FIFO (named pipe), not a regular file" in c.skipped[str(root / "spk" / "spk-2.wav")]
    tsv = tmp_path / "transcripts.tsv"
    os.mkfifo(tsv)
    with within(10):
        with pytest.raises(ConformanceError, match=rf"{tsv}: is a FIFO.*give a transcripts TSV file"):
            load_folder(root, transcripts=tsv)
        os.mkfifo(root / "spk" / "spk.trans.txt")
        with pytest.raises(ConformanceError, match=r"spk\.trans\.txt: is a FIFO"):
            load_folder(root)
