"""SNAC (codecs/snac.py): the published 24 kHz config's facts, the code layout, round trips of a
reduced random-init model, and its weights served from 127.0.0.1 then loaded offline."""
import json
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("snac")

from codec_conformance import fetch  # noqa: E402
from codec_conformance.codecs import snac  # noqa: E402
from codec_conformance.codecs.snac import FILES, HF_REPO, NOISE_SEED, REVISION, SHA256, SnacCodec  # noqa: E402
from codec_conformance.errors import CheckpointError, CodecError  # noqa: E402

SMALL = {"encoder_dim": 8, "encoder_rates": [2, 4], "decoder_dim": 32, "decoder_rates": [4, 2],
         "codebook_size": 64, "codebook_dim": 4}


def _small(**kw):
    torch.set_num_threads(1)
    return SnacCodec(weights="random-init", model_config=SMALL, **kw)


def _signal(n, batch=2, seed=3):
    return (0.1 * np.random.default_rng(seed).standard_normal((batch, n))).astype(np.float32)


def test_published_24khz_facts():
    """hubertsiuzdak/snac_24khz: 0.98 kbps, 12 Hz coarsest level (model card), from the config."""
    c = SnacCodec(weights="random-init")
    assert c.sample_rate == 24000 and c.frame_rate == 46.875  # 24000 / (2*4*8*8)
    # levels at 46.875/4, /2, /1 Hz of 12-bit codes
    assert c.bitrates_kbps == pytest.approx((46.875 * (1 / 4 + 1 / 2 + 1) * 12 / 1000,))
    assert round(c.bitrates_kbps[0], 2) == 0.98
    assert c.rows == 7 and c.token_hop == 2048 and c.licence == "MIT"
    assert c._model is None and c.info()["licence"] == "MIT"


def test_round_trip_is_input_length_float32():
    c = _small()
    x = _signal(3001)
    y = c.roundtrip(x, c.bitrates_kbps[0])
    assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))


def test_codes_are_a_lossless_layout_of_the_levels():
    c = _small()
    x = _signal(3 * c.token_hop + 5)
    codes = c.encode(x, c.bitrates_kbps[0])
    assert codes.shape == (2, 7, 4) and codes.dtype == np.int64 and codes.max() < 64
    levels = c.model.encode(torch.from_numpy(c.pad_to_hop(x, c.token_hop))[:, None])
    assert [lv.shape[-1] for lv in levels] == [4, 8, 16]
    assert np.array_equal(codes[:, 0], levels[0].numpy())
    assert np.array_equal(codes[:, 1:3].transpose(0, 2, 1).reshape(2, -1), levels[1].numpy())
    assert np.array_equal(codes[:, 3:7].transpose(0, 2, 1).reshape(2, -1), levels[2].numpy())
    y = c.decode(codes)
    assert y.shape == (2, 4 * c.token_hop)
    for i in range(2):
        torch.manual_seed(NOISE_SEED)  # the decoder adds noise: the adapter's fixed draw, per item
        direct = c.model.decode([lv[i:i + 1] for lv in levels])[0, 0, :].detach().numpy()
        assert np.allclose(y[i], direct[:y.shape[1]], atol=1e-6)
    assert len(np.unique(codes[0])) > 1 and not np.array_equal(codes[0], codes[1])


def test_decoding_is_reproducible_and_leaves_the_global_rng_alone():
    """SNAC's decoder draws noise from torch's RNG: upstream, two decodes of one code differ."""
    c = _small()
    codes = c.encode(_signal(2 * c.token_hop), c.bitrates_kbps[0])
    levels = [torch.from_numpy(codes[:, 0]), torch.from_numpy(codes[:, 1:3].transpose(0, 2, 1).reshape(2, -1)),
              torch.from_numpy(codes[:, 3:7].transpose(0, 2, 1).reshape(2, -1))]
    with torch.no_grad():
        assert not torch.equal(c.model.decode(levels), c.model.decode(levels))  # the upstream behaviour
    torch.manual_seed(7)
    state = torch.get_rng_state()
    assert np.array_equal(c.decode(codes), c.decode(codes))
    assert torch.equal(torch.get_rng_state(), state)


def test_an_items_output_does_not_depend_on_its_batch():
    """Each NoiseBlock draws [batch, 1, T] from one stream: with one seed per call, every item of a
    batch after the first stage got other noise than alone (implementation suite: 0 dB batch vs
    one at random-init, where the noise dominates). The noise is now drawn per item."""
    c = _small()
    x = _signal(2 * c.token_hop, batch=3)
    together = c.roundtrip(x, c.bitrates_kbps[0])
    for i in range(3):
        alone = c.roundtrip(x[i:i + 1], c.bitrates_kbps[0])
        assert np.allclose(together[i], alone[0], atol=1e-6), i


def test_wrong_code_rows_are_refused():
    c = _small()
    with pytest.raises(CodecError, match=r"7 code rows \(levels at strides 4, 2, 1\), got 6"):
        c.decode(np.zeros((1, 6, 2), dtype=np.int64))


@pytest.fixture
def published(tmp_path):
    """The two files SNAC.from_pretrained reads, written from a reduced random-init model."""
    c = _small()
    (tmp_path / "config.json").write_text(json.dumps(c.cfg))
    torch.save(c.model.state_dict(), tmp_path / "pytorch_model.bin")
    x = _signal(2500)
    return tmp_path, x, c.roundtrip(x, c.bitrates_kbps[0])


def test_checkpoint_folder_loads_weights_only(published):
    folder, x, y = published
    c = SnacCodec(checkpoint=str(folder))
    assert np.array_equal(c.roundtrip(x, c.bitrates_kbps[0]), y)
    assert c.checkpoint_sha256 == fetch._digests(folder / "pytorch_model.bin")[0]


def test_a_pickled_object_is_refused(published):
    folder = published[0]

    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"x": Payload()}))
    c = SnacCodec(checkpoint=str(folder))
    with pytest.raises(CheckpointError, match="needs arbitrary unpickling"):
        _ = c.model


def test_pretrained_through_the_download_path_then_offline(published, caches, server, monkeypatch):
    """The files come from the pinned commit's resolve URLs; the digests pinned for them are swapped
    for those of the served random-init files (the published ones' bytes are not here)."""
    folder, x, y = published
    pins = {f: fetch._digests(folder / f)[0] for f in FILES}
    monkeypatch.setitem(snac.PRETRAINED, "snac", tuple(fetch.hf_source(HF_REPO, f, REVISION, pins[f]) for f in FILES))
    for f in FILES:
        server.serve(f"https://huggingface.co/{HF_REPO}/resolve/{REVISION}/{f}", (folder / f).read_bytes())
    c = SnacCodec()
    assert c.checkpoint == str(fetch.hf_snapshot_dir(HF_REPO, REVISION) / "pytorch_model.bin")
    assert np.array_equal(c.roundtrip(x, c.bitrates_kbps[0]), y)
    n = len(server.requests)
    server.files.clear()
    fetch.configure(offline=True)
    again = SnacCodec()
    assert np.array_equal(again.roundtrip(x, again.bitrates_kbps[0]), y) and len(server.requests) == n


def test_offline_with_an_empty_cache_is_one_clear_error(caches):
    fetch.configure(offline=True)
    with pytest.raises(fetch.FetchError, match=r"snac pretrained model .*config.json is not in the cache.*--codec-offline"):
        SnacCodec()


def test_the_published_pins_refuse_other_bytes(published, caches, server):
    """Served at the pinned commit's URLs, files that are not the published ones are refused by the
    pinned SHA-256 (and deleted), before anything is loaded."""
    folder = published[0]
    assert len(REVISION) == 40 and all(len(SHA256[f]) == 64 for f in FILES)
    for src in snac.PRETRAINED["snac"]:
        server.serve(src.url, (folder / src.url.rsplit("/", 1)[1]).read_bytes())
    with pytest.raises(fetch.FetchError, match=r"refused: SHA-256 [0-9a-f]{64}, expected SHA-256 e119b936.*deleted"):
        SnacCodec()
    assert not (fetch.hf_snapshot_dir(HF_REPO, REVISION) / "config.json").exists()
