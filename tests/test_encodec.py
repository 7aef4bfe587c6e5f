"""EnCodec adapter on CPU with untrained weights (no pretrained weights can be had here)."""
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("encodec")

from codec_conformance.codecs.encodec import EncodecCodec  # noqa: E402
from codec_conformance.errors import CheckpointError  # noqa: E402


@pytest.fixture(scope="module")
def codec():
    torch.set_num_threads(1)
    return EncodecCodec(weights="random-init")


def test_bitrates_from_the_paper_formula(codec):
    # R = f_N * k * log2(C): 75 Hz * k * 10 bit
    assert codec.frame_rate == 75.0 and codec.codebook_size == 1024
    assert codec.bitrates_kbps == (1.5, 3.0, 6.0, 12.0, 24.0)
    assert codec.bitrate_for(32) == 24.0 and codec.codebooks_for(1.5) == 2


@pytest.mark.parametrize("shape", [(1, 2400), (2, 7001), (3, 24000)])
def test_roundtrip_shapes_and_bitrates(codec, shape):
    x = (0.1 * np.random.default_rng(0).standard_normal(shape)).astype(np.float32)
    outs = [codec.roundtrip(x, br) for br in codec.bitrates_kbps]
    assert all(o.shape == x.shape and np.all(np.isfinite(o)) for o in outs)
    assert not np.array_equal(outs[0], outs[-1])  # bitrate selects a different number of codebooks


def test_random_init_codes_depend_on_input(codec):
    m = codec.model
    x1 = torch.randn(1, 1, 24000, generator=torch.Generator().manual_seed(1)) * 0.1
    x2 = torch.randn(1, 1, 24000, generator=torch.Generator().manual_seed(2)) * 0.1
    with torch.no_grad():
        c1, c2 = m.encode(x1)[0][0], m.encode(x2)[0][0]
    assert c1.unique().numel() > 10 and not torch.equal(c1, c2)
    assert codec.info()["weights"] == "random-init"


def test_checkpoint_roundtrip_bit_identical(codec, tmp_path):
    x = (0.1 * np.random.default_rng(3).standard_normal((1, 12000))).astype(np.float32)
    ref = codec.roundtrip(x, 6.0)
    p = tmp_path / "model.th"  # the library's native format: a state dict saved with torch.save
    torch.save(codec.state_dict(), p)
    loaded = EncodecCodec(checkpoint=str(p))
    assert np.array_equal(loaded.roundtrip(x, 6.0), ref)
    assert loaded.weights == "checkpoint" and len(loaded.checkpoint_sha256) == 64
    from safetensors.torch import save_file
    q = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in codec.state_dict().items()}, str(q))
    assert np.array_equal(EncodecCodec(checkpoint=str(q)).roundtrip(x, 6.0), ref)


def test_tampered_truncated_and_mismatched_checkpoints(codec, tmp_path):
    x = np.zeros((1, 2400), np.float32)
    sd = codec.state_dict()
    p = tmp_path / "good.th"
    torch.save(sd, p)
    data = p.read_bytes()
    (tmp_path / "trunc.th").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="trunc.th.*corrupted or truncated"):
        EncodecCodec(checkpoint=str(tmp_path / "trunc.th")).roundtrip(x, 1.5)
    bad = dict(sd)
    bad.pop(next(iter(bad)))
    bad["extra.weight"] = torch.zeros(1)
    torch.save(bad, tmp_path / "mismatch.th")
    with pytest.raises(CheckpointError, match="does not fit the encodec architecture.*missing keys.*unexpected"):
        EncodecCodec(checkpoint=str(tmp_path / "mismatch.th")).roundtrip(x, 1.5)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        EncodecCodec(checkpoint=str(tmp_path / "nope.th")).roundtrip(x, 1.5)


def test_missing_pretrained_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(CheckpointError, match=r"encodec_24khz-d7cc33bc\.th.*nothing can be downloaded"):
        EncodecCodec().roundtrip(np.zeros((1, 2400), np.float32), 24.0)


class _Boom:
    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/codec_conformance_pwned",))


def test_malicious_pickle_is_refused_without_executing(tmp_path):
    import os
    marker = "/tmp/codec_conformance_pwned"
    if os.path.exists(marker):
        os.unlink(marker)
    p = tmp_path / "evil.th"
    with open(p, "wb") as f:
        pickle.dump({"state": _Boom()}, f)
    with pytest.raises(CheckpointError, match="arbitrary unpickling.*--codec-trust-checkpoint"):
        EncodecCodec(checkpoint=str(p)).roundtrip(np.zeros((1, 2400), np.float32), 1.5)
    assert not os.path.exists(marker)
