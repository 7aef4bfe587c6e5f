"""Downloads of published weights, evaluator models and corpora (codec_conformance.fetch), against
a server started here on 127.0.0.1 that serves small generated files in each source's layout.
Nothing else is contacted: every URL goes through the mirror setting to that server."""
from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from codec_conformance import fetch
from codec_conformance.fetch import FetchError, Source
from tests.helpers import ROOT
from tests.fetch_helpers import sha


# ------------------------------------------------------------------------------ the mechanism
def test_mirror_replaces_scheme_and_host_and_keeps_the_path():
    url = "https://huggingface.co/fnlp/SpeechTokenizer/resolve/main/a/b.pt"
    assert fetch.rewrite(url, "http://proxy.example:8080/mirror/") == \
        "http://proxy.example:8080/mirror/fnlp/SpeechTokenizer/resolve/main/a/b.pt"
    assert fetch.rewrite(url, "") == url


def test_download_verifies_pin_and_then_hits_the_cache_without_network(caches, server):
    body = os.urandom(300_000)
    src = Source("https://files.example/pkg/w.bin", "cc:models/w.bin", sha(body))
    served = server.serve(src.url, body)
    p = fetch.ensure(src, "test weights")
    assert p == caches / "codec-conformance" / "models" / "w.bin" and p.read_bytes() == body
    assert server.requests == [(served, None)]  # canonical path, through the mirror
    assert not p.with_name("w.bin.part").exists()
    server.close()  # no network from here on, and offline too
    fetch.configure(offline=True)
    assert fetch.ensure(src, "test weights") == p


def test_corrupted_cache_file_is_refused_and_fetched_again(caches, server):
    body = os.urandom(50_000)
    src = Source("https://files.example/w2.bin", "torch:checkpoints/w2-" + sha(body)[:8] + ".th", sha(body)[:8])
    server.serve(src.url, body)
    p = fetch.ensure(src)
    p.write_bytes(b"x" * len(body))  # corrupted in place
    assert fetch.ensure(src) == p and p.read_bytes() == body
    assert len(server.requests) == 2
    p.write_bytes(b"truncated")
    fetch.configure(offline=True)
    with pytest.raises(FetchError, match="fails its check"):
        fetch.ensure(src)


def test_download_with_wrong_digest_is_refused_and_removed(caches, server):
    body = os.urandom(10_000)
    src = Source("https://files.example/w3.bin", "cc:models/w3.bin", sha(b"something else"))
    server.serve(src.url, body)
    with pytest.raises(FetchError, match="refused: SHA-256 " + sha(body)):
        fetch.ensure(src)
    assert not src.path.exists() and not src.path.with_name("w3.bin.part").exists()


def test_interrupted_transfer_resumes_with_http_range(caches, server):
    body = os.urandom(2_000_000)
    src = Source("https://files.example/big.bin", "cc:models/big.bin", sha(body))
    path = server.serve(src.url, body)
    server.drop_once[path] = 700_000
    p = fetch.ensure(src)
    assert p.read_bytes() == body
    assert server.requests[0] == (path, None)
    assert server.requests[1] == (path, "bytes=700000-")  # continued, not restarted


def test_unpinned_file_records_its_digest_on_first_download(caches, server):
    body = os.urandom(20_000)
    src = Source("https://files.example/nopin.pth", "descript:dac/nopin.pth")
    server.serve(src.url, body)
    p = fetch.ensure(src)
    os.utime(p, ns=(1, 1))  # a changed file (size/mtime) is hashed again ...
    assert fetch.ensure(src) == p
    p.write_bytes(os.urandom(20_000))  # ... and other bytes are caught against the record
    assert fetch.check_file(p, src).startswith("SHA-256")
    assert "recorded on first download" in src.pin_text()


@pytest.mark.parametrize("how", ["option", "HF_HUB_OFFLINE"])
def test_offline_error_names_url_and_cache_path(caches, server, monkeypatch, how):
    src = Source("https://files.example/w4.bin", "hf:models--org--m/snapshots/main/w4.bin", "ab" * 32)
    if how == "option":
        fetch.configure(offline=True)
    else:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FetchError) as e:
        fetch.ensure(src, "some model")
    msg = str(e.value)
    assert src.url in msg and str(src.path) in msg and ("--codec-offline" if how == "option" else "HF_HUB_OFFLINE=1") in msg
    assert server.requests == []


def test_unreachable_server_error_names_url_and_path(caches, monkeypatch):
    monkeypatch.setenv("CODEC_CONFORMANCE_MIRROR", "http://127.0.0.1:9")  # nothing listens on port 9
    src = Source("https://files.example/w5.bin", "cc:models/w5.bin")
    with pytest.raises(FetchError) as e:
        fetch.ensure(src, "w5")
    assert src.url in str(e.value) and str(src.path) in str(e.value)


# ------------------------------------------------------------------------------ the adapters
def test_encodec_pretrained_state_dict_downloads_into_torch_hub_and_loads(caches, server, monkeypatch):
    import torch

    from codec_conformance.codecs import encodec
    sd = encodec.EncodecCodec(weights="random-init").build_architecture().state_dict()
    buf = io.BytesIO()
    torch.save(sd, buf)
    body = buf.getvalue()
    name = f"encodec_24khz-{sha(body)[:8]}.th"  # torch hub names carry the digest's first 8 hex digits
    src = Source(encodec.ROOT_URL + name, f"torch:checkpoints/{name}", sha(body)[:8])
    monkeypatch.setitem(encodec.PRETRAINED, "encodec", (src,))
    server.serve(src.url, body)
    codec = encodec.EncodecCodec()  # weights="pretrained"
    x = np.random.default_rng(0).standard_normal((1, 4800)).astype(np.float32) * 0.1
    assert codec.roundtrip(x, 6.0).shape == (1, 4800)
    assert codec.checkpoint_sha256 == sha(body)
    assert Path(codec.checkpoint) == caches / "torch" / "hub" / "checkpoints" / name


def test_dac_pth_downloads_into_descript_cache_and_its_kwargs_build_the_model(caches, server):
    import torch
    from dac.model.dac import DAC

    from codec_conformance.codecs import dac
    kw = dict(encoder_dim=4, encoder_rates=[2, 4], latent_dim=8, decoder_dim=8, decoder_rates=[4, 2],
              n_codebooks=3, codebook_size=16, codebook_dim=4, sample_rate=16000)
    buf = io.BytesIO()
    torch.save({"metadata": {"kwargs": kw}, "state_dict": DAC(**kw).state_dict()}, buf)
    src = dac.PRETRAINED["dac16"][0]
    server.serve(src.url, buf.getvalue())
    codec = dac.dac16()
    assert Path(codec.checkpoint) == caches.parent / ".cache" / "descript" / "dac" / "weights_16khz_8kbps_0.0.5.pth"
    assert codec.kwargs["n_codebooks"] == 3 and len(codec.bitrates_kbps) == 3
    y = codec.roundtrip(np.zeros((1, 1600), np.float32) + 0.01, codec.bitrates_kbps[-1])
    assert y.shape == (1, 1600) and np.isfinite(y).all()


def test_speechtokenizer_hf_repo_with_config_json(caches, server):
    pytest.importorskip("speechtokenizer")
    import torch
    from speechtokenizer import SpeechTokenizer

    from codec_conformance.codecs import speechtokenizer as st
    cfg = dict(st.BASE_CONFIG, n_filters=4, dimension=32, semantic_dimension=16, lstm_layers=1, n_q=2,
               codebook_size=16)
    buf = io.BytesIO()
    torch.save(SpeechTokenizer(cfg).state_dict(), buf)
    conf_src, ckpt_src = st.PRETRAINED["speechtokenizer"]
    assert conf_src.url == "https://huggingface.co/fnlp/SpeechTokenizer/resolve/main/speechtokenizer_hubert_avg/config.json"
    server.serve(conf_src.url, json.dumps(cfg).encode())
    server.serve(ckpt_src.url, buf.getvalue())
    codec = st.SpeechTokenizerCodec()
    assert Path(codec.checkpoint) == (caches / "huggingface" / "hub" / "models--fnlp--SpeechTokenizer" / "snapshots"
                                      / "main" / "speechtokenizer_hubert_avg" / "SpeechTokenizer.pt")
    assert len(codec.bitrates_kbps) == 2
    assert codec.roundtrip(np.zeros((1, 3200), np.float32), codec.bitrates_kbps[0]).shape == (1, 3200)


def test_hificodec_pretrained_is_academicodec_24k_320_hop_and_its_checkpoint_loads(caches, server, monkeypatch):
    pytest.importorskip("espnet2")
    import torch
    from espnet2.gan_codec.hificodec.module import Encoder, Generator

    from codec_conformance.codecs import hificodec as hc
    conf_src, ckpt_src = hc.PRETRAINED["hificodec"]
    assert ckpt_src.url == "https://huggingface.co/Dongchao/AcademiCodec/resolve/main/HiFi-Codec-24k-320d"
    # AcademiCodec's layout: {"generator", "encoder", "quantizer"} state dicts + a JSON config; a
    # narrow decoder and small codebooks keep the file small (the encoder's widths are fixed)
    cfg = {"resblock": "1", "upsample_rates": [8, 5, 4, 2], "upsample_kernel_sizes": [16, 11, 8, 4],
           "upsample_initial_channel": 32, "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3, 5]],
           "sampling_rate": 24000, "n_code_groups": 2, "n_codes": 16, "segment_size": 72000}
    blocks = dict(resblock_num="1", resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3, 5]])
    enc = Encoder(upsample_rates=cfg["upsample_rates"], upsample_kernel_sizes=cfg["upsample_kernel_sizes"], **blocks)
    gen = Generator(upsample_rates=cfg["upsample_rates"], upsample_kernel_sizes=cfg["upsample_kernel_sizes"],
                    upsample_initial_channel=32, out_dim=512, **blocks)
    q = {f"quantizer_modules{s}.{g}.embedding.weight": torch.randn(16, 256) for s in ("", "2") for g in (0, 1)}
    buf = io.BytesIO()
    torch.save({"generator": gen.state_dict(), "encoder": enc.state_dict(), "quantizer": q, "steps": 1}, buf)
    server.serve(conf_src.url, json.dumps(cfg).encode())
    server.serve(ckpt_src.url, buf.getvalue())
    codec = hc.HiFiCodecCodec()  # weights="pretrained"
    assert codec.format == "academicodec" and codec.sample_rate == 24000 and codec.token_hop == 320
    assert codec.bitrates_kbps == (75 * 4 * 4 / 1000,)  # 75 Hz x 4 codebooks x log2(16)
    x = np.random.default_rng(1).standard_normal((1, 4800)).astype(np.float32) * 0.1
    codes = codec.encode(x, codec.bitrates_kbps[0])
    assert codes.shape == (1, 4, 15) and codes.max() < 16
    assert codec.roundtrip(x, codec.bitrates_kbps[0]).shape == (1, 4800)
    # codes are the nearest codes of each group, level 2 coding level 1's residual
    with torch.no_grad():
        z = codec.model.encoder(torch.from_numpy(x)[:, None, :]).transpose(1, 2)[0]
    first = q["quantizer_modules.0.embedding.weight"]
    assert np.array_equal(codes[0, 0], torch.cdist(z[:, :256], first).argmin(-1).numpy())
    # the same file given by hand loads the same way (it was refused before)
    local = hc.HiFiCodecCodec(checkpoint=codec.checkpoint, config=codec.config_path)
    assert local.format == "academicodec" and np.array_equal(local.encode(x, local.bitrates_kbps[0]), codes)


# ------------------------------------------------------------------------------ evaluators and data
def test_paper_speaker_evaluator_is_speechbrain_ecapa_from_the_hf_cache(caches, server, monkeypatch):
    pytest.importorskip("speechbrain", reason="speechbrain is not installed (requirements.lock; setup.sh)")
    import torch
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
    from speechbrain.processing.features import InputNormalization

    from codec_conformance.metrics import paper
    from codec_conformance.metrics.speaker import EcapaEmbedder
    hyper = """\
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: 80
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: 80
    channels: [16, 16, 16, 16, 48]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 8
    lin_neurons: 12
mean_var_norm_emb: !new:speechbrain.processing.features.InputNormalization
    norm_type: global
    std_norm: False
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    mean_var_norm_emb: !ref <mean_var_norm_emb>
pretrained_path: speechbrain/spkrec-ecapa-voxceleb
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        mean_var_norm_emb: !ref <mean_var_norm_emb>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        mean_var_norm_emb: !ref <pretrained_path>/mean_var_norm_emb.ckpt
"""
    model = ECAPA_TDNN(80, channels=[16, 16, 16, 16, 48], attention_channels=8, lin_neurons=12)
    files = {"hyperparams.yaml": hyper.encode(), "label_encoder.txt": b"'id10001' => 0\n"}
    for name, obj in (("embedding_model.ckpt", model.state_dict()), ("classifier.ckpt", {})):
        buf = io.BytesIO()
        torch.save(obj, buf)
        files[name] = buf.getvalue()
    norm = InputNormalization(norm_type="global")
    norm(torch.randn(2, 5, 12), torch.ones(2))
    tmp = caches / "mvn.ckpt"
    caches.mkdir(parents=True, exist_ok=True)
    norm._save(tmp)
    files["mean_var_norm_emb.ckpt"] = tmp.read_bytes()
    # the real files are pinned (paper.ECAPA_SHA256); these small stand-ins are served unpinned
    import dataclasses
    monkeypatch.setattr(paper, "ECAPA", tuple(dataclasses.replace(s, sha256=None) for s in paper.ECAPA))
    for src in paper.ECAPA:
        server.serve(src.url, files[src.url.rsplit("/", 1)[1]])
    settings = type("S", (), {"evaluators": "paper", "speaker_model": "auto"})()
    assert paper.uses_paper(settings, "eer")
    model_dir = paper.model_path("eer")
    assert Path(model_dir) == caches / "huggingface" / "hub" / "models--speechbrain--spkrec-ecapa-voxceleb" / \
        "snapshots" / paper.ECAPA_REVISION
    emb = EcapaEmbedder(model_dir).embed(np.random.default_rng(0).standard_normal(16000).astype(np.float32), 16000)
    assert emb.shape == (12,) and np.isfinite(emb).all()


def test_paper_evaluator_sources_are_the_libraries_canonical_ones():
    import whisper

    from codec_conformance.metrics import paper
    assert paper.WHISPER_LARGE_V3.url == whisper._MODELS["large-v3"]
    assert paper.WHISPER_LARGE_V3.sha256 == whisper._MODELS["large-v3"].split("/")[-2]
    assert {s.url.rsplit("/", 1)[1] for s in paper.EMOTION2VEC} >= {"config.yaml", "model.pt"}
    assert paper.RAVDESS_TO_EMOTION2VEC["calm"] == "neutral"
    assert set(paper.RAVDESS_TO_EMOTION2VEC) == {"neutral", "calm", "happy", "sad", "angry", "fearful", "disgust",
                                                  "surprised"}


def test_speechbrain_and_funasr_import():
    """The paper's speaker and emotion evaluators' packages (requirements.lock; funasr --no-deps)."""
    pytest.importorskip("speechbrain", reason="speechbrain not installed here (setup.sh installs it)")
    pytest.importorskip("funasr", reason="funasr not installed here (setup.sh installs it --no-deps)")
    from funasr import AutoModel
    from speechbrain.inference.speaker import EncoderClassifier
    assert callable(EncoderClassifier.from_hparams) and callable(AutoModel)


def _librispeech_tar() -> bytes:
    import soundfile as sf
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for spk in ("1089", "121"):
            d = f"LibriSpeech/test-clean/{spk}/1000"
            lines = []
            for k in range(2):
                wav = io.BytesIO()
                x = 0.1 * np.sin(2 * np.pi * (200 + 50 * k) * np.arange(16000) / 16000)
                sf.write(wav, x.astype(np.float32), 16000, format="FLAC")
                info = tarfile.TarInfo(f"{d}/{spk}-1000-000{k}.flac")
                info.size = len(wav.getvalue())
                t.addfile(info, io.BytesIO(wav.getvalue()))
                lines.append(f"{spk}-1000-000{k} HELLO WORLD {k}")
            text = ("\n".join(lines) + "\n").encode()
            info = tarfile.TarInfo(f"{d}/{spk}-1000.trans.txt")
            info.size = len(text)
            t.addfile(info, io.BytesIO(text))
    return buf.getvalue()


def test_corpus_by_name_downloads_the_archive_once_and_extracts_it(caches, server, monkeypatch):
    from codec_conformance.data import sources
    from codec_conformance.data.corpus import load_folder
    body = _librispeech_tar()
    entry = sources.NAMED["librispeech:test-clean"]
    assert entry.source.url == "https://www.openslr.org/resources/12/test-clean.tar.gz"
    monkeypatch.setitem(sources.NAMED, "librispeech:test-clean",
                        sources.NamedData(Source(entry.source.url, entry.source.cache, sha(body)), entry.subdir,
                                          entry.what))
    server.serve(entry.source.url, body)
    d = sources.obtain("librispeech:test-clean")
    assert d == sources.folder("librispeech:test-clean") and d.is_dir()
    corpus = load_folder(d)
    assert len(corpus.items) == 4 and corpus.items[0].transcript.startswith("HELLO WORLD")
    assert sources.obtain("librispeech:test-clean") == d and len(server.requests) == 1


def test_librispeech_pins_are_torchaudios():
    from torchaudio.datasets import librispeech

    from codec_conformance.data import sources
    for name in ("test-clean", "dev-clean"):
        pinned = sources.NAMED[f"librispeech:{name}"].source.sha256
        assert librispeech._CHECKSUMS[f"http://www.openslr.org/resources/12/{name}.tar.gz"] == pinned


def test_preflight_downloads_through_the_mirror_before_any_test(caches, server, monkeypatch):
    import torch
    from dac.model.dac import DAC

    from codec_conformance.codecs import dac
    from codec_conformance.engine.preflight import check_models
    from codec_conformance.settings import build_settings
    kw = dict(encoder_dim=4, encoder_rates=[2, 4], latent_dim=8, decoder_dim=8, decoder_rates=[4, 2],
              n_codebooks=2, codebook_size=16, codebook_dim=4, sample_rate=24000)
    buf = io.BytesIO()
    torch.save({"metadata": {"kwargs": kw}, "state_dict": DAC(**kw).state_dict()}, buf)
    served = server.serve(dac.PRETRAINED["dac24"][0].url, buf.getvalue())
    opts = {"codec": ["dac24"], "codec_model_mirror": server.url}
    s = build_settings(lambda k: opts.get(k), ROOT)
    check_models(s)
    assert server.requests == [(served, None)] and dac.PRETRAINED["dac24"][0].path.is_file()


def test_corpus_names_stay_names_and_are_checked_at_session_start(caches):
    from codec_conformance.data import sources
    from codec_conformance.engine.preflight import check_inputs
    from codec_conformance.errors import ConformanceError
    from codec_conformance.settings import build_settings
    opts = {"codec": ["opus"], "codec_corpus": "librispeech:test-clean", "codec_noise_dir": "ravdess",
            "codec_offline": True, "codec_report_dir": str(caches / "r")}
    s = build_settings(lambda k: opts.get(k), ROOT)
    assert s.corpus == "librispeech:test-clean"  # not made a path of the invocation folder
    assert sources.folder_of(s, "corpus") == sources.folder("librispeech:test-clean")
    fetch.configure_from(s)
    with pytest.raises(ConformanceError) as e:
        check_inputs(s)
    msg = str(e.value)
    assert "--codec-corpus librispeech:test-clean" in msg and "https://www.openslr.org/resources/12/test-clean.tar.gz" in msg
    assert "--codec-noise-dir ravdess: that corpus is for --codec-emotion-corpus" in msg
    assert "no such directory" not in msg  # one message per problem


def test_emotion_accuracy_maps_ravdess_labels_to_emotion2vec_classes():
    """Was: prefix matching, so RAVDESS 'calm' never matched anything emotion2vec predicts."""
    from types import SimpleNamespace

    from codec_conformance.metrics.prosody import EmotionAccuracy
    labels = ["生气/angry", "厌恶/disgusted", "恐惧/fearful", "开心/happy", "中立/neutral", "其他/other", "难过/sad",
              "吃惊/surprised", "<unk>"]

    class Fake:
        def __init__(self, order):
            self.order = iter(order)

        def generate(self, x, **kw):
            k = labels.index(next(self.order))
            return [{"labels": labels, "scores": [float(i == k) for i in range(len(labels))]}]

    m = EmotionAccuracy.__new__(EmotionAccuracy)
    m.model = Fake(["中立/neutral", "厌恶/disgusted", "其他/other", "开心/happy"])
    items = [SimpleNamespace(id=str(i), emotion=e) for i, e in enumerate(["calm", "disgust", "sad", "sad"])]
    res = m.compute(items, [np.zeros(160, np.float32)] * 4, None, 16000)
    assert res.per_item == [1.0, 1.0, 0.0, 0.0] and res.value == 0.5


def test_paper_wer_is_whisper_large_v3_from_the_whisper_cache(caches, server, monkeypatch):
    from codec_conformance.metrics import build_metric, paper
    body = os.urandom(4096)  # stands for large-v3.pt (its real digest is pinned; this one for the test)
    src = Source(paper.WHISPER_LARGE_V3.url, paper.WHISPER_LARGE_V3.cache, sha(body))
    monkeypatch.setattr(paper, "WHISPER_LARGE_V3", src)
    server.serve(src.url, body)
    s = type("S", (), {"evaluators": "paper", "asr_model": "auto", "path": lambda self, v: v})()
    m = build_metric("wer", s)
    assert m._model == str(caches / "whisper" / "large-v3.pt") and Path(m._model).read_bytes() == body
    s.asr_model = "/models/mine.pt"  # an explicit model wins
    assert build_metric("wer", s)._model == "/models/mine.pt"
    s.evaluators, s.asr_model = "embedded", "auto"
    assert build_metric("wer", s)._model == "auto"


def test_paper_mode_preflight_lists_every_paper_evaluator_file():
    """`--codec-evaluators paper` crashed before any work: the preflight read a Profile field that
    no longer exists (AttributeError). It lists Whisper large-v3 and the ECAPA files (emotion2vec
    only with an emotion corpus), and honours --codec-metrics."""
    from codec_conformance.engine.preflight import needed_files
    from codec_conformance.metrics import paper
    from codec_conformance.settings import Settings
    s = Settings(codecs=["opus"], evaluators="paper")
    got = [src for _, src in needed_files(s)]
    assert sorted(got, key=str) == sorted([paper.WHISPER_LARGE_V3, *paper.ECAPA], key=str)
    s = Settings(codecs=["opus"], evaluators="paper", metrics="wer,pesq")
    assert [src for _, src in needed_files(s)] == [paper.WHISPER_LARGE_V3]


def test_paper_mode_preflight_lists_each_emotion2vec_file_once():
    """With an emotion corpus, emotion2vec's files were listed (and, offline, reported) twice:
    emotion_acc was appended to the registered metrics, which already hold it."""
    from codec_conformance.engine.preflight import needed_files
    from codec_conformance.metrics import paper
    from codec_conformance.settings import Settings
    s = Settings(codecs=["opus"], evaluators="paper", emotion_corpus="/data/ravdess")
    got = [src for _, src in needed_files(s)]
    assert sorted(got, key=str) == sorted([paper.WHISPER_LARGE_V3, *paper.ECAPA, *paper.EMOTION2VEC], key=str)


def test_list_codecs_only_looks_it_downloads_nothing(caches, server, monkeypatch, capsys):
    """`codec-conformance list-codecs` tried to download every pretrained codec's weights; with an
    empty cache it now requests nothing and says the weights are not here, naming the file."""
    import codec_conformance.registry as reg
    from codec_conformance.cli import main
    monkeypatch.setattr(reg, "codec_names", lambda: ["speechtokenizer", "mulaw"])
    assert main(["list-codecs"]) == 0
    out = capsys.readouterr().out
    assert server.requests == []
    assert "list-codecs only looks" in out and "SpeechTokenizer" in out and "no weights needed" in out
    assert not fetch.is_offline()  # the run's policy is as it was


def test_a_failed_download_names_a_part_file_only_when_one_was_kept(caches, server):
    """A download that got no byte (the server unreachable) said "partial data is kept in X.part"
    of a file that did not exist (issue 26, item 8)."""
    src = Source("https://files.example/pkg/gone.bin", "cc:models/gone.bin", sha(b"x"))
    server.close()
    with pytest.raises(fetch.FetchError) as e:
        fetch.ensure(src, "test weights")
    part = src.path.with_name("gone.bin.part")
    assert "cannot download" in str(e.value) and ".part" not in str(e.value) and not part.exists()


# ------------------------------------------------------------------------------ bounds (issue 29, item 3)
def _no_part_left(src: Source) -> bool:
    return not src.path.exists() and not src.path.with_name(src.path.name + ".part").exists()


def test_an_endless_body_stops_at_the_cap_and_nothing_is_kept(caches, server, monkeypatch):
    """The old code wrote an endless body (no Content-Length) until the disk was full and kept
    the .part "to continue" (here the server stops after 12 MB, which the old code stored and
    recorded as verified). Now the body is cut at MAX_DOWNLOAD_BYTES and deleted."""
    monkeypatch.setattr(fetch, "MAX_DOWNLOAD_BYTES", 2 << 20)
    sent = []

    def endless(h):
        h.send_response(200)
        h.end_headers()
        for _ in range(12):  # bounded, so that the old code ends too
            h.wfile.write(b"\0" * (1 << 20))
            sent.append(1)
    src = Source("https://files.example/endless.bin", "cc:models/endless.bin")
    server.handlers[server.serve(src.url, b"")] = endless
    with pytest.raises(FetchError) as e:
        fetch.ensure(src, "endless")
    msg = str(e.value)
    assert "refused" in msg and "longer than the cap for files of undeclared size" in msg and "MAX_DOWNLOAD_BYTES" in msg
    assert "Nothing was kept" in msg and _no_part_left(src)
    assert len(server.requests) == 1  # a refused body is not fetched again


def test_a_body_larger_than_the_declared_size_is_refused_before_it_is_read(caches, server):
    """Source.size was declared but never checked: a 5 MB answer for a 1 MB file was stored."""
    body = os.urandom(5 << 20)
    src = Source("https://files.example/declared.bin", "cc:models/declared.bin", size=1 << 20)
    server.serve(src.url, body)
    with pytest.raises(FetchError, match=r"announces 5242880 bytes .* more than its declared size, 1048576 bytes"):
        fetch.ensure(src)
    assert _no_part_left(src)


def test_a_smaller_file_than_declared_is_refused(caches, server):
    """The old code accepted a file of any size for a Source with a declared size."""
    src = Source("https://files.example/short.bin", "cc:models/short.bin", size=2000)
    server.serve(src.url, os.urandom(1000))
    with pytest.raises(FetchError, match="1000 bytes, but its declared size is 2000 bytes"):
        fetch.ensure(src)
    assert _no_part_left(src)


def test_a_body_longer_than_its_content_length_is_refused(caches, server):
    """A server announcing 1000 bytes and sending 50000: the old code stored the first 1000
    (http.client stops there) and recorded them as the verified file; now it is refused."""
    def liar(h):
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(os.urandom(50_000))
    src = Source("https://files.example/liar.bin", "cc:models/liar.bin")
    server.handlers[server.serve(src.url, b"")] = liar
    with pytest.raises(FetchError, match=r"longer than its Content-Length \(1000 bytes\)"):
        fetch.ensure(src)
    assert _no_part_left(src) and fetch._read_record(src.path) is None


def test_a_trickling_server_ends_at_the_deadline_with_a_clear_error(caches, server, monkeypatch):
    """A byte every 0.5 s: the old code had no overall deadline and waited for all 40 (20 s);
    with CODEC_CONFORMANCE_DOWNLOAD_DEADLINE_S=1.5 it stops after ~1.5 s, naming the setting."""
    import time
    monkeypatch.setenv("CODEC_CONFORMANCE_DOWNLOAD_DEADLINE_S", "1.5")

    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Length", "40")
        h.end_headers()
        for _ in range(40):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.5)
    src = Source("https://files.example/slow.bin", "cc:models/slow.bin")
    server.handlers[server.serve(src.url, b"")] = trickle
    t0 = time.monotonic()
    with pytest.raises(FetchError) as e:
        fetch.ensure(src, "slow")
    assert time.monotonic() - t0 < 6
    msg = str(e.value)
    assert "did not finish within its deadline of 1.5 s" in msg and "CODEC_CONFORMANCE_DOWNLOAD_DEADLINE_S" in msg
    assert not src.path.exists()


def test_a_bad_deadline_setting_is_named(caches, monkeypatch):
    monkeypatch.setenv("CODEC_CONFORMANCE_DOWNLOAD_DEADLINE_S", "soon")
    with pytest.raises(FetchError, match="CODEC_CONFORMANCE_DOWNLOAD_DEADLINE_S='soon': use a number of seconds"):
        fetch.ensure(Source("https://files.example/x.bin", "cc:models/x.bin"))


def _zip_bomb(n_bytes: int) -> bytes:
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("zeros.bin", "w", force_zip64=True) as f:
            block = b"\0" * (1 << 20)
            for _ in range(n_bytes >> 20):
                f.write(block)
    return buf.getvalue()


def _tar_bomb(n_bytes: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=9) as t:
        info = tarfile.TarInfo("zeros.bin")
        info.size = n_bytes
        t.addfile(info, io.BytesIO(b"\0" * n_bytes))
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_an_archive_bomb_is_refused_before_anything_is_written(caches, server, kind):
    """A small archive of 64 MB of zeros (the battery's was 258 KB and filled the disk): the old
    code extracted it whole; now the sum of its members is checked against 20x the archive's
    size (at least 16 MiB) before extracting, and the archive is deleted."""
    body = _zip_bomb(64 << 20) if kind == "zip" else _tar_bomb(64 << 20)
    assert len(body) < 200_000
    src = Source(f"https://files.example/bomb.{kind}", f"cc:data/bomb/bomb.{kind}", sha(body))
    server.serve(src.url, body)
    with pytest.raises(FetchError) as e:
        fetch.ensure_extracted(src, "bomb")
    assert "refused: its members add up to more than" in str(e.value) and "archive bomb" in str(e.value)
    dest = fetch.extracted_dir(src)
    assert not src.path.exists() and not dest.exists()
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(dest.name)]  # no temporary folder left


def test_zip_extraction_counts_the_bytes_it_writes(caches, monkeypatch, tmp_path):
    """Headers can lie; the zip extraction counts what it writes and stops at the bound."""
    body = _zip_bomb(3 << 20)
    archive = tmp_path / "a.zip"
    archive.write_bytes(body)
    (tmp_path / "out").mkdir()
    with pytest.raises(fetch._Refused, match="wrote more than"):
        fetch._extract_zip(archive, tmp_path / "out", 1 << 20, "test")


# ------------------------------------------------------------------------------ the cache (issue 29, item 5)
def _tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_non_archive_from_an_unpinned_source_is_not_recorded_and_a_good_one_follows(caches, server, kind):
    """An HTML page served for an unpinned archive: the old code recorded its SHA-256 as verified
    and every later run crashed in zipfile/tarfile (an internal error), even from another mirror.
    Now it is refused at download (deleted, no record) and the next run gets the real archive."""
    src = Source(f"https://files.example/pkg/data.{kind}", f"cc:data/pkg/data.{kind}")
    path = server.serve(src.url, b"<html>502 Bad Gateway</html>")
    with pytest.raises(FetchError) as e:
        fetch.ensure_extracted(src, "data")
    assert f"is not a {kind.split('.')[0]} archive" in str(e.value) or "is not a readable" in str(e.value)
    assert "nothing was recorded" in str(e.value)
    assert not src.path.exists() and fetch._read_record(src.path) is None
    server.files[path] = (_zip if kind == "zip" else _tar_gz)({"a/hello.txt": b"hello"})
    d = fetch.ensure_extracted(src, "data")
    assert (d / "a" / "hello.txt").read_bytes() == b"hello"


def test_an_archive_recorded_before_that_is_unreadable_is_deleted_with_its_record(caches, server):
    """A cache poisoned by the old code (a non-zip recorded as verified): the extraction now
    refuses it with a FetchError naming it and deletes it and its record, so the next run
    downloads it again (the old code raised zipfile.BadZipFile on every run)."""
    src = Source("https://files.example/pkg/old.zip", "cc:data/pkg/old.zip")
    src.path.parent.mkdir(parents=True, exist_ok=True)
    src.path.write_bytes(b"not a zip")
    assert fetch.check_file(src.path, src) is None  # recorded, as the old code did
    with pytest.raises(FetchError, match=r"old.zip .*refused: old.zip is not a zip archive. The archive was deleted"):
        fetch.ensure_extracted(src, "old")
    assert not src.path.exists() and fetch._read_record(src.path) is None


def test_archives_differing_only_in_version_extract_to_different_folders(caches, server):
    """``data.v1.tar.gz`` and ``data.v2.tar.gz`` both extracted to ``data.d`` (the name up to its
    first dot): the second returned the first's files. The folder is now the whole name less its
    archive suffix."""
    v1 = Source("https://files.example/pkg/data.v1.tar.gz", "cc:data/pkg/data.v1.tar.gz")
    v2 = Source("https://files.example/pkg/data.v2.tar.gz", "cc:data/pkg/data.v2.tar.gz")
    server.serve(v1.url, _tar_gz({"version.txt": b"1"}))
    server.serve(v2.url, _tar_gz({"version.txt": b"2"}))
    d1, d2 = fetch.ensure_extracted(v1), fetch.ensure_extracted(v2)
    assert d1 != d2 and d1.name == "data.v1.d" and d2.name == "data.v2.d"
    assert (d1 / "version.txt").read_bytes() == b"1" and (d2 / "version.txt").read_bytes() == b"2"
    from codec_conformance.data import sources  # the shipped corpora keep their folders
    assert fetch.extracted_dir(sources.NAMED["librispeech:test-clean"].source).name == "test-clean.d"


def test_the_complete_marker_is_compared_with_the_url_inside_the_lock(caches, server, monkeypatch):
    """Another process finishes an extraction of *another* archive into the folder while this one
    waits for the lock: the old code saw a `.complete` inside the lock and returned that folder
    without comparing its URL; now it extracts its own archive."""
    src = Source("https://files.example/pkg/mine.tar.gz", "cc:data/pkg/mine.tar.gz")
    server.serve(src.url, _tar_gz({"mine.txt": b"mine"}))
    fetch.ensure(src)
    dest = fetch.extracted_dir(src)
    real_lock = fetch._lock

    class Racing(real_lock):
        def __enter__(self):
            if self.file == real_lock(dest).file and not (dest / ".complete").exists():
                dest.mkdir(parents=True)
                (dest / "theirs.txt").write_text("theirs")
                (dest / ".complete").write_text("https://files.example/pkg/other.tar.gz")
            return super().__enter__()
    monkeypatch.setattr(fetch, "_lock", Racing)
    d = fetch.ensure_extracted(src)
    assert (d / "mine.txt").read_bytes() == b"mine" and not (d / "theirs.txt").exists()
    assert (d / ".complete").read_text() == src.url


@pytest.mark.parametrize("answer", ["206 from byte 0", "200"])
def test_a_resumed_download_answered_from_byte_0_restarts_the_file(caches, server, answer):
    """A transfer cut at 1 MB is continued with ``Range: bytes=1000000-``; a server answering
    206 with the whole file (Content-Range from 0) had it appended: 3 MB stored as 4 MB and, for
    an unpinned file, recorded as verified. Now the .part restarts at byte 0. (A 200 answer
    already restarted it in the old code; kept here as the companion case.)"""
    body = os.urandom(3_000_000)
    src = Source("https://files.example/resume.bin", "cc:models/resume.bin")  # unpinned: nothing else catches it
    path = server.serve(src.url, body)
    if answer == "206 from byte 0":
        server.drop_once[path] = 1_000_000
        server.range_from_zero.add(path)
    else:
        calls = []

        def cut_then_200(h):  # ignores Range: always 200 with the whole file (the first one cut)
            calls.append(1)
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body if len(calls) > 1 else body[:1_000_000])
            h.wfile.flush()
            h.close_connection = True
        server.handlers[path] = cut_then_200
    p = fetch.ensure(src)
    assert p.read_bytes() == body
    assert server.requests[1] == (path, "bytes=1000000-")


# ------------------------------------------------------------------------------ mirrors (issue 29, item 6)
def test_a_mirror_with_credentials_never_shows_its_password(caches, server, monkeypatch, capsys):
    """``--codec-model-mirror http://user:secret@host/``: the old code put the URL, password and
    all, in its error ("cannot download ... (from http://user:secret@...)") and could not even
    connect (urllib took ``user:secret@127.0.0.1`` for a host name). Now the credentials go in a
    Basic Authorization header (never on to another host) and every message shows ``user:***@``;
    results.json's settings too."""
    import base64
    mirror = server.url.replace("http://", "http://user:s3cr%40t@")
    monkeypatch.setenv("CODEC_CONFORMANCE_MIRROR", mirror)
    body = os.urandom(5000)
    ok = Source("https://files.example/auth/ok.bin", "cc:models/ok.bin", sha(body))
    server.serve(ok.url, body)
    assert fetch.ensure(ok).read_bytes() == body
    assert server.authorization[-1] == "Basic " + base64.b64encode(b"user:s3cr@t").decode()
    gone = Source("https://files.example/auth/gone.bin", "cc:models/gone.bin")
    with pytest.raises(FetchError) as e:
        fetch.ensure(gone, "gone")
    msg = str(e.value) + capsys.readouterr().err
    assert "s3cr" not in msg and "user:***@127.0.0.1" in msg and "Not Found" in msg
    from codec_conformance.plugin.roles import recorded_settings
    from codec_conformance.settings import Settings
    recorded = json.dumps(recorded_settings(Settings(codecs=["opus"], model_mirror=mirror)))
    assert "s3cr" not in recorded and "user:***@" in recorded
    assert fetch.redact("https://a:b@h/x") == "https://a:***@h/x" and fetch.redact("https://h/x") == "https://h/x"


def _redirect_to(target: str):
    def handler(h):
        h.send_response(302)
        h.send_header("Location", target)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return handler


def test_a_redirect_to_another_host_is_refused_unless_the_file_is_pinned(caches, server):
    """The mirror answers 302 to another host (here ``localhost`` instead of ``127.0.0.1``):
    the old code followed it silently and recorded whatever came back as the verified file. Now
    an unpinned file is refused, the error naming both hosts and the rule; a pinned file is
    followed (its bytes are checked against the pin); a redirect within the host always is."""
    body = os.urandom(4000)
    port = server.httpd.server_address[1]
    server.files["/elsewhere/w.bin"] = body
    unpinned = Source("https://files.example/r/w.bin", "cc:models/w-unpinned.bin")
    server.handlers[server.serve(unpinned.url, b"")] = _redirect_to(f"http://localhost:{port}/elsewhere/w.bin")
    with pytest.raises(FetchError) as e:
        fetch.ensure(unpinned, "w")
    msg = str(e.value)
    assert "redirects to another host, localhost" in msg and "pinned checksum (this one has none" in msg
    assert not unpinned.path.exists() and ("/elsewhere/w.bin", None) not in server.requests
    pinned = Source("https://files.example/r/w.bin", "cc:models/w-pinned.bin", sha(body))
    assert fetch.ensure(pinned).read_bytes() == body
    same_host = Source("https://files.example/r/same.bin", "cc:models/same.bin")
    server.handlers[server.serve(same_host.url, b"")] = _redirect_to("/elsewhere/w.bin")
    assert fetch.ensure(same_host).read_bytes() == body


def test_the_canonical_hosts_cdns_are_followed_for_unpinned_files():
    """Hugging Face serves LFS files from its CDN, GitHub release assets from
    githubusercontent.com: those redirects of unpinned files are followed; any other host not."""
    assert fetch._host_allowed("huggingface.co", "cdn-lfs.huggingface.co")
    assert fetch._host_allowed("huggingface.co", "cas-bridge.xethub.hf.co")
    assert fetch._host_allowed("github.com", "release-assets.githubusercontent.com")
    assert not fetch._host_allowed("huggingface.co", "evil.example")
    assert not fetch._host_allowed("huggingface.co", "huggingface.co.evil.example")


def test_a_gated_hugging_face_repository_gets_hf_token_and_only_its_endpoint_does(caches, server, monkeypatch):
    """neuphonic/neucodec is gated: without a token the Hub answers 403. HF_TOKEN goes as a Bearer
    header to the Hugging Face endpoint (here HF_ENDPOINT, the local server), and a 403 says what
    to do; a generic mirror (CODEC_CONFORMANCE_MIRROR) is never given the token."""
    body = os.urandom(3000)
    src = fetch.hf_source("org/gated", "model.safetensors", "a" * 40, sha(body))
    path = server.serve(src.url, body)

    def gate(h):
        if h.headers.get("Authorization") != "Bearer hf_s3cret":
            h.send_error(403)
            return
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    server.handlers[path] = gate
    monkeypatch.delenv("CODEC_CONFORMANCE_MIRROR")
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    with pytest.raises(FetchError, match=r"Forbidden \(a gated or private repository: accept its terms .* set HF_TOKEN\)"):
        fetch.ensure(src)
    monkeypatch.setenv("HF_TOKEN", "hf_s3cret")
    assert fetch.ensure(src).read_bytes() == body and server.authorization[-1] == "Bearer hf_s3cret"
    # a generic mirror is not the Hub's endpoint: no token for it
    src.path.unlink()
    monkeypatch.delenv("HF_ENDPOINT")
    monkeypatch.setenv("CODEC_CONFORMANCE_MIRROR", server.url)
    with pytest.raises(FetchError, match="set HF_TOKEN\\)"):
        fetch.ensure(src)
    assert server.authorization[-1] is None
