"""Downloads of published weights, evaluator models and corpora (codec_conformance.fetch), against
a server started here on 127.0.0.1 that serves small generated files in each source's layout.
Nothing else is contacted: every URL goes through the mirror setting to that server."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from codec_conformance import fetch
from codec_conformance.fetch import FetchError, Source
from tests.helpers import ROOT


class FileServer:
    """Serves ``files`` (URL path -> bytes) with HTTP Range; ``drop_once[path] = n`` sends only
    the first n bytes of the next full response to that path and closes the connection."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop_once: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                if len(server.requests) > 200:  # bounded: a retry loop would stop here
                    self.send_error(429)
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                if start >= len(body) and start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                part = body[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                cut = server.drop_once.pop(self.path, None)
                if cut is not None:
                    self.wfile.write(part[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, canonical_url: str, body: bytes) -> str:
        """Serve ``body`` where the mirror maps ``canonical_url``; returns that path."""
        path = fetch.rewrite(canonical_url, "http://mirror").split("http://mirror", 1)[1]
        self.files[path] = body
        return path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.close()


@pytest.fixture
def caches(tmp_path, monkeypatch, server):
    """Empty standard caches under tmp_path; downloads go to the local server through the mirror."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for k in ("TORCH_HOME", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_ENDPOINT", "CODEC_CONFORMANCE_CACHE",
              "CODEC_CONFORMANCE_OFFLINE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("CODEC_CONFORMANCE_MIRROR", server.url)
    monkeypatch.setenv("CODEC_CONFORMANCE_NO_PROGRESS", "1")
    fetch.configure()
    yield home / ".cache"
    fetch.configure()


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


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
def test_paper_speaker_evaluator_is_speechbrain_ecapa_from_the_hf_cache(caches, server):
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
    for src in paper.ECAPA:
        server.serve(src.url, files[src.url.rsplit("/", 1)[1]])
    settings = type("S", (), {"evaluators": "paper", "speaker_model": "auto"})()
    assert paper.uses_paper(settings, "eer")
    model_dir = paper.model_path("eer")
    assert Path(model_dir) == caches / "huggingface" / "hub" / "models--speechbrain--spkrec-ecapa-voxceleb" / \
        "snapshots" / "main"
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
    assert s.path(s.corpus) == sources.folder("librispeech:test-clean")
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
