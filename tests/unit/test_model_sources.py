"""The audit of docs/models.md as tests (issue 26, item 1): every download URL, file name, revision
and cache path this project declares (codecs' ``PRETRAINED``, metrics/paper.py) is compared with
the values in the upstream libraries' own source, as installed from requirements.lock. A library
that changes its URLs or cache layout in a new version fails here, naming the file."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest


@pytest.fixture
def caches(tmp_path, monkeypatch):
    for var in ("TORCH_HOME", "HF_HOME", "HF_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_whisper_large_v3_is_whispers_own_url_digest_and_cache(caches):
    whisper = pytest.importorskip("whisper")
    from codec_conformance.metrics import paper
    url = whisper._MODELS["large-v3"]                              # whisper/__init__.py _MODELS
    assert paper.WHISPER_LARGE_V3.url == url
    assert paper.WHISPER_LARGE_V3.sha256 == url.split("/")[-2]     # whisper._download: expected_sha256
    # whisper.load_model: download_root = $XDG_CACHE_HOME or ~/.cache, + "whisper"; file = basename(url)
    assert paper.WHISPER_LARGE_V3.path == caches / ".cache" / "whisper" / Path(url).name


def test_encodec_checkpoints_are_encodecs_own_names_under_torch_hub(caches):
    pytest.importorskip("encodec")
    import torch
    from encodec import model as upstream

    from codec_conformance.codecs import encodec
    for name, factory in (("encodec", upstream.EncodecModel.encodec_model_24khz),
                          ("encodec48", upstream.EncodecModel.encodec_model_48khz)):
        (src,) = encodec.PRETRAINED[name]
        checkpoint = re.search(r"checkpoint_name = '([^']+)'", inspect.getsource(factory)).group(1)
        assert src.url == upstream.ROOT_URL + checkpoint
        # torch.hub.load_state_dict_from_url(check_hash=True): <hub dir>/checkpoints/<name>, the
        # digest prefix from the name (torch.hub.HASH_REGEX)
        assert src.path == Path(torch.hub.get_dir()) / "checkpoints" / checkpoint
        assert src.sha256 == torch.hub.HASH_REGEX.search(checkpoint).group(1)


def test_dac_weights_are_dacs_latest_8kbps_urls_and_cache_paths(caches):
    pytest.importorskip("dac")
    import dac.utils as upstream

    from codec_conformance.codecs import dac
    tags = upstream.__MODEL_LATEST_TAGS__
    urls = upstream.__MODEL_URLS__
    for name, rate in (("dac", "44khz"), ("dac24", "24khz"), ("dac16", "16khz")):
        (src,) = dac.PRETRAINED[name]
        tag = tags[(rate, "8kbps")]
        assert src.url == urls[(rate, tag, "8kbps")]
        # dac.utils.download: Path.home() / ".cache" / "descript" / "dac" / f"weights_{type}_{bitrate}_{tag}.pth"
        assert src.path == caches / ".cache" / "descript" / "dac" / f"weights_{rate}_8kbps_{tag}.pth"


def _hub_url_and_folder(src) -> tuple[str, str, str, str]:
    m = re.fullmatch(r"https://huggingface\.co/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", src.url)
    assert m, src.url
    return m.group(1), m.group(2), m.group(3), src.cache


def test_hugging_face_files_use_huggingface_hubs_url_template_and_cache_folder(caches):
    """speechbrain (ECAPA) and funasr (emotion2vec, hub="hf") download through huggingface_hub:
    its ``resolve`` URL template and its ``models--org--name/snapshots/<revision>`` folders."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    from codec_conformance.codecs import freqcodec, hificodec, speechtokenizer
    from codec_conformance.metrics import paper
    sources = [*paper.ECAPA, *paper.EMOTION2VEC, *speechtokenizer.PRETRAINED["speechtokenizer"],
               *freqcodec.PRETRAINED["freqcodec"], hificodec.PRETRAINED["hificodec"][1]]
    for src in sources:
        repo, revision, filename, cache = _hub_url_and_folder(src)
        template = constants.HUGGINGFACE_CO_URL_TEMPLATE.replace(constants.ENDPOINT, "https://huggingface.co")
        assert src.url == template.format(repo_id=repo, revision=revision, filename=filename)
        assert cache == f"hf:{repo_folder_name(repo_id=repo, repo_type='model')}/snapshots/{revision}/{filename}"


def test_the_ecapa_and_emotion2vec_repositories_and_files_are_the_libraries_own():
    pytest.importorskip("speechbrain")
    pytest.importorskip("funasr")
    from funasr.download import download_model_from_hub as funasr_hub
    from funasr.download.name_maps_from_hub import name_maps_hf
    from speechbrain.inference.interfaces import Pretrained

    from codec_conformance.metrics import paper
    # speechbrain: from_hparams(source, hparams_file="hyperparams.yaml"); the other four files are
    # the published hyperparams.yaml's Pretrainer paths (tests/paper_models.py keeps that layout)
    assert inspect.signature(Pretrained.from_hparams).parameters["hparams_file"].default == "hyperparams.yaml"
    assert paper.ECAPA[0].url.endswith("/hyperparams.yaml")
    # funasr: the HF name of emotion2vec+ large, and the three files its hub download reads
    assert name_maps_hf["emotion2vec_plus_large"] == paper.EMOTION2VEC_REPO
    read = set(re.findall(r'os\.path\.join\(model_or_path, "([a-z_.]+)"\)', inspect.getsource(funasr_hub.download_from_hf)))
    assert {"config.yaml", "model.pt", "tokens.txt"} <= read
    assert {s.url.rsplit("/", 1)[1] for s in paper.EMOTION2VEC} == {"config.yaml", "model.pt", "tokens.txt"}


def test_speechtokenizer_and_freqcodec_files_are_their_packages_documented_names():
    pytest.importorskip("funcodec")
    import funcodec.bin.codec_inference as funcodec_inference

    from codec_conformance.codecs import freqcodec, speechtokenizer
    # funcodec's Speech2Token defaults: config.yaml and model.pth in the model folder
    params = inspect.signature(funcodec_inference.inference_modelscope).parameters
    assert (params["config_file"].default, params["model_file"].default) == ("config.yaml", "model.pth")
    assert [s.url.rsplit("/", 1)[1] for s in freqcodec.PRETRAINED["freqcodec"]] == ["config.yaml", "model.pth"]
    # speechtokenizer's README (its PyPI description): config.json + SpeechTokenizer.pt of
    # fnlp/SpeechTokenizer's speechtokenizer_hubert_avg
    assert [s.url.rsplit("/", 2)[1:] for s in speechtokenizer.PRETRAINED["speechtokenizer"]] == \
        [["speechtokenizer_hubert_avg", "config.json"], ["speechtokenizer_hubert_avg", "SpeechTokenizer.pt"]]
