import pytest

from codec_conformance.errors import ConformanceError
from codec_conformance.metrics.asr import WordErrorRate
from tests.helpers import ROOT as REPO
from tests.asr_helpers import StubWhisper as _StubWhisper

# ----------------------------------------------------------------------
# Bad configuration and bad input: one clear usage error up front (exit 4) naming the option or
# file; unreadable corpus files skipped, counted and named; near-silent items undefined, with a
# reason, instead of skewing a curve or erroring every noisy-condition test.


def test_cuda_index_without_cuda_is_an_error(monkeypatch):
    torch = pytest.importorskip("torch")
    from codec_conformance.engine.session import resolve_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConformanceError, match="--codec-device cuda:0: no CUDA device"):
        resolve_device("cuda:0")
    with pytest.raises(ConformanceError, match="--codec-device cuda: no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == "cuda:1" and resolve_device("auto", 3) == "cuda:1"
    with pytest.raises(ConformanceError, match="cuda:0 to cuda:1"):
        resolve_device("cuda:2")


# ----------------------------------------------------------------------


def test_precision_option_is_validated_and_refused_for_codecs_without_it():
    from codec_conformance.engine.session import ConformanceSession
    from codec_conformance.errors import ConformanceError
    from codec_conformance.settings import OPTIONS, Settings, build_settings

    sess = ConformanceSession(Settings(codecs=["opus"], rootdir=".", precision="bf16", device="cpu", no_cache=True))
    with pytest.raises(ConformanceError, match="codec 'opus' runs in its own precision only"):
        sess.runner.codec("opus")
    opts = {f"codec_{k}": None for k in OPTIONS} | {"codec_precision": "fp8", "codec": ["opus"]}
    with pytest.raises(ConformanceError, match="--codec-precision 'fp8'"):
        build_settings(lambda k: opts.get(k), ".")


# ----------------------------------------------------------------------
# Reproducibility of the evaluators: the same signal scores the same in any fresh process,
# whatever the thread count and whatever was evaluated before (cache hits, shards and xdist layouts
# change both). See docs/reproducibility.md for the measurements behind the fixes.

ROOT = str(REPO)  # the repository, for PYTHONPATH and cwd


def test_evaluator_settings_reach_run_provenance():
    from codec_conformance.engine.session import ConformanceSession
    from codec_conformance.metrics.dnsmos import Dnsmos
    from codec_conformance.settings import Settings

    sess = ConformanceSession(Settings(codecs=["opus"], rootdir=ROOT, no_cache=True, device="cpu"))
    sess.scorer._metrics = {"wer": WordErrorRate(backend=_StubWhisper([])), "dnsmos": Dnsmos()}
    infos = sess.scorer.evaluator_infos()
    assert infos["wer"]["settings"]["beam_size"] == 1
    assert "fresh decoder" in infos["wer"]["settings"]["fallback"]
    assert infos["dnsmos"]["settings"]["onnxruntime_intra_op_threads"] == 1


# ----------------------------------------------------------------------
# Issue 14: the shipped real corpus, profile sizes for statistical power, bootstrap intervals on
# every record, the paired baseline test with per-metric minimal meaningful differences, and
# calibration margins at least the calibration run's 95 % half-width.


def test_default_corpus_is_real_shipped_librispeech_with_transcripts():
    """Bug: the embedded default was six eSpeak sentences (synthetic voices, synthetic babble)."""
    from codec_conformance.engine.session import ConformanceSession
    from codec_conformance.settings import Settings
    s = Settings()
    sess = ConformanceSession(s)
    c = sess.corpus
    assert not c.synthetic and c.has_transcripts and "LibriSpeech" in c.description
    assert len(c.speakers) >= 4 and len(c.items) >= 16
    assert "babble" not in sess.noise_bank.source.split(":")[0] and "Speech Commands" in sess.noise_bank.source
    assert sess.rir_bank is not None and sess.noise_conditions()[-1].get("source") == "clap_seminar_room.flac"


def test_synthetic_corpus_stays_available_and_labelled():
    from codec_conformance.engine.session import ConformanceSession
    from codec_conformance.settings import Settings
    s = Settings(corpus="synthetic")
    sess = ConformanceSession(s)
    assert sess.synthetic_corpus and sess.rir_bank is None
    assert sess.noise_conditions()[-1].get("rt60_s") == 0.6  # simulated reverb, as before
