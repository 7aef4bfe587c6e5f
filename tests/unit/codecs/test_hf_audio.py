"""The transformers audio codecs (codecs/hf_audio.py): the default configs' facts against the
published numbers, round trips and codes of reduced random-init models, and the weights path: a
``save_pretrained`` checkpoint served from 127.0.0.1, loaded through the download path, then again
offline with no server."""
import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from codec_conformance import fetch  # noqa: E402
from codec_conformance.codecs import hf_audio, snac  # noqa: E402
from codec_conformance.codecs.hf_audio import SPECS, HfAudioCodec  # noqa: E402
from codec_conformance.errors import CheckpointError, CodecError  # noqa: E402

# Published operating points (model cards / papers), in kbps, and frame rates in Hz: the ground
# truth the config-derived accounting must reproduce.
PUBLISHED = {
    "hf-encodec": (24000, 75.0, (1.5, 3.0, 6.0, 12.0, 24.0)),
    "hf-dac": (16000, 50.0, tuple(0.5 * k for k in range(1, 13))),          # 12 codebooks of 1024 at 50 Hz
    "mimi": (24000, 12.5, tuple(12.5 * 11 * k / 1000 for k in range(1, 33))),  # 2048 codes: 11 bits
    "xcodec": (16000, 50.0, (0.5, 1.0, 1.5, 2.0, 4.0)),
    "xcodec2": (16000, 50.0, (0.8,)),                                        # one FSQ code of 4^8 at 50 Hz
    "neucodec": (16000, 50.0, (0.8,)),
    "higgs-audio-v2": (24000, 25.0, (0.5, 1.0, 1.5, 2.0)),
}

_SMALL_SEMANTIC = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
_SMALL_HUBERT = {**_SMALL_SEMANTIC, "conv_dim": [16] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2}
_SMALL_FSQ = {"semantic_model_config": {**_SMALL_SEMANTIC, "output_hidden_size": 32}, "hidden_size": 64,
              "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
              "head_dim": 32, "encoder_hidden_size": 8, "quantization_dim": 96,
              "initializer_range": 0.5}  # at this width the default 0.02 leaves FSQ inputs at 0: one code
# the real classes at reduced widths (the full models take seconds to minutes per build here)
REDUCED = {
    "hf-encodec": {"num_filters": 4, "hidden_size": 16, "codebook_dim": 16, "num_lstm_layers": 1},
    "hf-dac": {"encoder_hidden_size": 4, "decoder_hidden_size": 16},
    "mimi": {"num_filters": 4, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
             "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 32, "codebook_dim": 16,
             "vector_quantization_hidden_dimension": 16, "upsample_groups": 32},
    "xcodec": {"semantic_model_config": _SMALL_HUBERT, "codebook_dim": 96,
               "acoustic_model_config": {"encoder_hidden_size": 4, "decoder_hidden_size": 16, "hidden_size": 64}},
    "higgs-audio-v2": {"semantic_model_config": _SMALL_HUBERT, "codebook_dim": 16,
                       "acoustic_model_config": {"encoder_hidden_size": 4, "decoder_hidden_size": 64, "hidden_size": 128}},
    "xcodec2": _SMALL_FSQ,
    "neucodec": _SMALL_FSQ,
}
ZERO_INIT_CODEBOOKS = {"hf-encodec", "mimi", "xcodec", "higgs-audio-v2"}  # transformers leaves them at 0


def _small(name, **kw):
    torch.set_num_threads(1)
    return HfAudioCodec(SPECS[name], weights="random-init", model_config=REDUCED[name], **kw)


def _signal(n, batch=2, seed=5):
    return (0.1 * np.random.default_rng(seed).standard_normal((batch, n))).astype(np.float32)


def test_every_registered_name_has_a_factory_and_a_spec():
    assert set(PUBLISHED) == set(SPECS) == set(REDUCED)
    for name in SPECS:
        make = getattr(hf_audio, name.replace("-", "_"))
        assert make.licence == SPECS[name].licence
        assert make(weights="random-init").name == name  # built lazily: no model yet


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_default_config_facts_match_the_published_numbers(name):
    """Sample rate, frame rate and R = f_N * k * log2(C) from the default config (plus the
    documented overrides) against the published operating points."""
    c = HfAudioCodec(SPECS[name], weights="random-init")
    sr, frame_rate, rates = PUBLISHED[name]
    assert c.sample_rate == sr and c.frame_rate == pytest.approx(frame_rate)
    assert c.bitrates_kbps == pytest.approx(rates)
    assert c.token_hop * c.frame_rate == pytest.approx(sr)
    assert c._model is None  # the facts come from the config alone
    assert c.info()["licence"] == SPECS[name].licence and c.weights == "random-init"


def test_xcodec2_weights_are_labelled_non_commercial():
    assert "CC-BY-NC" in HfAudioCodec(SPECS["xcodec2"], weights="random-init").licence


@pytest.fixture(scope="module", params=sorted(REDUCED))
def small(request):
    return _small(request.param)


def test_round_trip_is_input_length_float32(small):
    x = _signal(3001)
    for br in (min(small.bitrates_kbps), max(small.bitrates_kbps)):
        y = small.roundtrip(x, br)
        assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
    one = small.roundtrip(x[0], max(small.bitrates_kbps))  # 1-D in, 1-D out
    assert one.shape == (3001,)


def test_codes_shape_count_and_range(small):
    n = 4 * small.token_hop + 17
    x = _signal(n)
    for br in small.bitrates_kbps[:2] + small.bitrates_kbps[-1:]:
        codes = small.encode(x, br)
        k = small._ks[br][0]
        frames = int(np.ceil(n / small.token_hop))
        assert codes.dtype == np.int64 and codes.shape[:2] == (2, k)
        # X-Codec 2's feature extractor adds one sample before padding to whole frames: one more frame
        assert codes.shape[2] in ((frames, frames + 1) if small.spec.features else (frames,))
        assert codes.min() >= 0 and codes.max() < small.codebook_size
        # R = f_N * k * log2(C), with k the codebooks the model actually returned
        assert br == pytest.approx(small.frame_rate * codes.shape[1] * np.log2(small.codebook_size) / 1000)
        audio = small.decode(codes)
        assert audio.shape == (2, codes.shape[2] * small.token_hop) and audio.dtype == np.float32


def test_codes_depend_on_the_input(small):
    """Random-init codebooks are not degenerate: every level uses more than one code, and two
    different inputs get different codes."""
    x = _signal(8 * small.token_hop)
    codes = small.encode(x, max(small.bitrates_kbps))
    assert all(len(np.unique(level)) > 1 for level in codes[0])
    assert not np.array_equal(codes[0], codes[1])


@pytest.mark.parametrize("name", sorted(ZERO_INIT_CODEBOOKS))
def test_zero_initialised_codebooks_are_seeded(name):
    """transformers builds these codebooks at zero (filled by k-means in training): without
    seeding every input maps to code 0."""
    c = _small(name)
    cls = hf_audio._transformers(SPECS[name].model)
    torch.manual_seed(0)
    raw = cls(c.cfg).eval()
    books = [m for m in raw.modules() if type(m).__name__.endswith("EuclideanCodebook")]
    assert books and all(not torch.any(b.embed != 0) for b in books)
    with pytest.raises(CodecError, match=f"{len(books)} of {len(books)} zero codebooks were not reached"):
        hf_audio.seed_codebooks(raw, lambda: None, 0)  # an encoder run that quantises nothing
    m = c.model
    assert all(torch.any(b.embed != 0) for b in m.modules() if type(b).__name__.endswith("EuclideanCodebook"))


def test_random_init_is_deterministic():
    a, b = _small("hf-encodec"), _small("hf-encodec")
    x = _signal(2000)
    assert np.array_equal(a.encode(x, 24.0), b.encode(x, 24.0))
    assert np.array_equal(a.roundtrip(x, 24.0), b.roundtrip(x, 24.0))
    assert a.cache_identity() == b.cache_identity()
    assert a.cache_identity() != _small("hf-dac").cache_identity()


def test_neucodec_output_is_resampled_to_the_input_rate():
    c = _small("neucodec")
    assert c.sample_rate == 16000 and int(c.cfg.output_sampling_rate) == 24000
    x = _signal(4 * c.token_hop)
    codes = c.encode(x, 0.8)
    raw = c.model.decode(audio_codes=torch.from_numpy(codes)).audio_values
    assert raw.shape[-1] == codes.shape[-1] * c.token_hop * 3 // 2  # the decoder's 24 kHz
    assert c.decode(codes).shape == (2, codes.shape[-1] * c.token_hop)


def test_precision_bf16_runs():
    c = _small("hf-dac")
    c.set_precision("bf16")
    y = c.roundtrip(_signal(2000), max(c.bitrates_kbps))
    assert y.dtype == np.float32 and np.all(np.isfinite(y))


# ---- weights: checkpoint folders, download, offline -------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A transformers-format checkpoint (save_pretrained) of a reduced random-init DAC, and that
    model's output on a fixed input."""
    c = _small("hf-dac")
    folder = tmp_path_factory.mktemp("hf-dac")
    c.model.save_pretrained(folder)
    x = _signal(2000)
    return folder, x, c.roundtrip(x, max(c.bitrates_kbps))


def test_save_pretrained_folder_loads_as_checkpoint(saved):
    folder, x, y = saved
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    for path in (folder, folder / "model.safetensors"):
        c = hf_audio.hf_dac(checkpoint=str(path))
        assert c.weights == "checkpoint" and np.array_equal(c.roundtrip(x, max(c.bitrates_kbps)), y)
        assert c.checkpoint_sha256 == fetch._digests(folder / "model.safetensors")[0]


def test_a_checkpoint_of_another_shape_is_refused_naming_keys(saved, tmp_path):
    folder = saved[0]
    cfg = json.loads((folder / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "n_codebooks": cfg["n_codebooks"] + 1}))
    (tmp_path / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    c = hf_audio.hf_dac(checkpoint=str(tmp_path))
    with pytest.raises(CheckpointError, match="does not fit the hf-dac architecture: .*missing keys"):
        _ = c.model


def test_a_folder_without_safetensors_is_one_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(CheckpointError, match=r"no model.safetensors in .*save_pretrained folder"):
        hf_audio.hf_dac(checkpoint=str(tmp_path))


def test_pretrained_comes_through_the_download_path_then_offline(saved, caches, server):
    """The published files are served from 127.0.0.1 at their canonical resolve URLs (through the
    mirror), land in the Hugging Face cache's layout, load; then, offline and with the server
    emptied, the same model loads from the cache alone."""
    folder, x, y = saved
    spec = SPECS["hf-dac"]
    sources = HfAudioCodec(spec, weights="random-init").sources()
    assert [s.url for s in sources] == [f"https://huggingface.co/{spec.repo}/resolve/{spec.revision}/{f}"
                                        for f in hf_audio.WEIGHTS_FILES]
    for src, f in zip(sources, hf_audio.WEIGHTS_FILES):
        server.serve(src.url, (folder / f).read_bytes())
    c = hf_audio.hf_dac()
    assert c.weights == "pretrained" and len(server.requests) == 2
    assert c.checkpoint == str(fetch.hf_snapshot_dir(spec.repo, spec.revision) / "model.safetensors")
    assert np.array_equal(c.roundtrip(x, max(c.bitrates_kbps)), y)
    assert c.checkpoint_sha256 == fetch._digests(folder / "model.safetensors")[0]

    server.files.clear()
    fetch.configure(offline=True)
    again = hf_audio.hf_dac()
    assert np.array_equal(again.roundtrip(x, max(again.bitrates_kbps)), y)
    assert len(server.requests) == 2  # nothing asked of the server


def test_offline_with_an_empty_cache_is_one_clear_error(caches, server):
    fetch.configure(offline=True)
    with pytest.raises(fetch.FetchError) as err:
        hf_audio.xcodec2()
    msg = str(err.value)
    assert "--codec-offline" in msg and "2 files" in msg
    rev = SPECS["xcodec2"].revision
    for f in hf_audio.WEIGHTS_FILES:  # every missing file named, with the URL to fetch it from
        assert f"HKUSTAudio/xcodec2-hf/resolve/{rev}/{f}" in msg
        assert str(fetch.hf_snapshot_dir("HKUSTAudio/xcodec2-hf", rev) / f) in msg
    assert server.requests == []


def test_preflight_names_every_published_file(caches):
    """The session's preflight fetches each codec's declared files before any test runs."""
    from codec_conformance.engine.preflight import needed_files
    from codec_conformance.settings import Settings
    files = needed_files(Settings(codecs=["xcodec2", "snac"]))
    urls = [src.url for _, src in files]
    assert urls == [f"https://huggingface.co/HKUSTAudio/xcodec2-hf/resolve/{SPECS['xcodec2'].revision}/{f}"
                    for f in hf_audio.WEIGHTS_FILES] + [
        f"https://huggingface.co/hubertsiuzdak/snac_24khz/resolve/{snac.REVISION}/{f}"
        for f in ("config.json", "pytorch_model.bin")]


def test_pins_are_commits_and_digests_of_declared_files():
    """A pinned revision is a full commit hash (a branch name moves: only X-Codec's is unpinned, see
    docs/codecs-2025.md), a pinned digest a SHA-256 of one of the files fetched; the sources carry them."""
    for name, spec in SPECS.items():
        assert spec.revision == "main" if name == "xcodec" else re.fullmatch(r"[0-9a-f]{40}", spec.revision), name
        assert set(spec.sha256) <= set(hf_audio.WEIGHTS_FILES), name
        assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in spec.sha256.values()), name
        for src in hf_audio.PRETRAINED[name]:
            f = src.url.rsplit("/", 1)[1]
            assert f"/resolve/{spec.revision}/" in src.url and src.sha256 == spec.sha256.get(f)
    assert set(SPECS["mimi"].sha256) == set(SPECS["higgs-audio-v2"].sha256) == set(hf_audio.WEIGHTS_FILES)
