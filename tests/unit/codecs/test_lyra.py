"""Lyra v2 (the shipped, trained TFLite models): integrity, streaming state, codes, alignment, and
quality against an independent measurement of the same models on real LibriSpeech speech."""
import hashlib
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert (TFLite runtime) not installed")

from codec_conformance.codecs.lyra import HOP, MODEL_DIR, MODEL_SHA256, QUANTIZERS_AT, LyraCodec  # noqa: E402
from codec_conformance.errors import CodecError  # noqa: E402
from tests.helpers import ROOT, SHARED  # noqa: E402

SHARED_MODELS = SHARED.parent / "models" / "lyra-v2"
# PESQ-WB mean over all 100 utterances of librispeech-test-other-10spk, measured with an independent
# driver of the same models (../shared/models/lyra-v2/README.md).
PUBLISHED_PESQ_WB = {3.2: 2.21, 6.0: 2.73, 9.2: 2.97}


@pytest.fixture(scope="module")
def lyra():
    return LyraCodec()


@pytest.fixture(scope="module")
def speech(embedded):
    """Two eSpeak utterances, whole frames long (so a concatenation keeps frame boundaries)."""
    a, b = (u.audio.astype(np.float32) for u in embedded.items[:2])
    return a[: len(a) // HOP * HOP], b[: len(b) // HOP * HOP]


def test_package_ships_the_pinned_files_and_licence():
    for fname, want in MODEL_SHA256.items():
        assert hashlib.sha256((MODEL_DIR / fname).read_bytes()).hexdigest() == want
    assert "Apache License" in (MODEL_DIR / "LICENSE").read_text()
    notice = (ROOT / "NOTICE").read_text()
    assert "47698dadf0010abff6a848e02642f55f806d4842" in notice and "Copyright Google LLC" in notice


def test_pyproject_registers_lyra_and_ships_its_files():
    import fnmatch
    import tomllib
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert proj["project"]["entry-points"]["codec_conformance.codecs"]["lyra"] == "codec_conformance.codecs.lyra:LyraCodec"
    globs = proj["tool"]["setuptools"]["package-data"]["codec_conformance"]
    pkg = ROOT / "codec_conformance"
    for f in MODEL_DIR.iterdir():
        rel = f.relative_to(pkg).as_posix()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), f"{rel} is not package data"
    limits = proj["tool"]["setuptools"]["package-data"]["codec_conformance.thresholds"]  # thresholds/, packaged
    assert (ROOT / "thresholds" / "lyra.toml").is_file() and any(fnmatch.fnmatch("lyra.toml", g) for g in limits)


@pytest.mark.skipif(not SHARED_MODELS.is_dir(), reason=f"{SHARED_MODELS} not present (shared models)")
def test_pinned_hashes_equal_the_shared_readme():
    """The pins in the adapter are the ones published beside the independent copy."""
    table = dict(re.findall(r"\| `([\w.]+)` \| [\d,]+ \| `([0-9a-f]{64})`", (SHARED_MODELS / "README.md").read_text()))
    assert {k: table[k] for k in MODEL_SHA256} == MODEL_SHA256


def test_tampered_or_missing_model_file_is_refused(tmp_path):
    good = tmp_path / "good"
    shutil.copytree(MODEL_DIR, good)
    LyraCodec(model_dir=good)  # an intact copy loads
    bad = tmp_path / "bad"
    shutil.copytree(MODEL_DIR, bad)
    data = bytearray((bad / "lyragan.tflite").read_bytes())
    data[len(data) // 2] ^= 0x01
    (bad / "lyragan.tflite").write_bytes(bytes(data))
    with pytest.raises(CodecError, match=r"lyragan\.tflite has SHA-256 [0-9a-f]{64}, expected 50e7839c"):
        LyraCodec(model_dir=bad)
    (good / "quantizer.tflite").unlink()
    with pytest.raises(CodecError, match=r"quantizer\.tflite is missing"):
        LyraCodec(model_dir=good)


def test_declared_identity_and_bad_options(lyra, speech):
    ident = lyra.cache_identity()
    assert ident[:2] == ("lyra", lyra.version) and dict(ident[2]) == MODEL_SHA256
    assert lyra.bitrates_kbps == (3.2, 6.0, 9.2) and lyra.weights == "pretrained"
    assert "Lyra v2" in lyra.description
    with pytest.raises(CodecError, match="random-init"):
        LyraCodec(weights="random-init")
    with pytest.raises(CodecError, match="codec-checkpoint"):
        LyraCodec(checkpoint="/some/model.pth")
    with pytest.raises(CodecError, match=r"no operating point at 8(\.0)? kbps"):
        lyra.encode(speech[0][None], 8.0)
    with pytest.raises(CodecError, match=r"codes \[batch, 16, frames>=1\]"):
        lyra.decode(np.zeros((1, 30, 5), np.int32), 3.2)
    with pytest.raises(CodecError, match=r"in 0\.\.15"):
        lyra.decode(np.full((1, 16, 5), 16, np.int32), 3.2)


def test_codes_shape_dtype_range_nesting_and_determinism(lyra, speech):
    x = np.stack([speech[0][:16000], speech[1][:16000]])[:, :15990]  # not a whole number of frames
    frames = -(-x.shape[1] // HOP)
    codes = {}
    for br, n_q in QUANTIZERS_AT.items():
        c = lyra.encode(x, br)
        assert c.shape == (2, n_q, frames) and np.issubdtype(c.dtype, np.integer)
        assert c.min() >= 0 and c.max() <= 15
        assert len(np.unique(c)) == 16  # all 16 entries of the 4-bit codebooks are in use
        assert np.array_equal(c, lyra.encode(x, br))
        codes[br] = c
    assert (16, 30, 46) == tuple(QUANTIZERS_AT[b] for b in (3.2, 6.0, 9.2))
    # residual VQ: the lower rates are the first quantizers of the higher one
    assert np.array_equal(codes[9.2][:, :16], codes[3.2]) and np.array_equal(codes[9.2][:, :30], codes[6.0])


def test_encode_then_decode_is_the_roundtrip(lyra, speech):
    x = np.stack([speech[0][:12345], speech[1][:12345]])
    for br in (3.2, 9.2):
        codes = lyra.encode(x, br)
        y = lyra.decode(codes, br)
        assert y.shape == (2, codes.shape[2] * HOP) and y.dtype == np.float32
        np.testing.assert_array_equal(y[:, : x.shape[1]], lyra.roundtrip(x, br))
        assert np.array_equal(np.round(y * 32768), y * 32768)  # 16-bit PCM output, as the C++ library


def test_streaming_state_is_reset_per_utterance(lyra, speech):
    a, b = speech
    # the models are stateful: a's second copy in one stream is coded differently from a alone,
    # so the checks below would catch state leaking from one utterance into the next
    alone = lyra.encode(a[None], 6.0)
    stream = lyra.encode(np.concatenate([a, a])[None], 6.0)
    assert not np.array_equal(stream[:, :, alone.shape[2]:], alone)
    # the same utterance, coded alone and after another one (separate calls and in one batch)
    y_alone = lyra.roundtrip(a[None], 6.0)
    lyra.roundtrip(b[None], 6.0)
    np.testing.assert_array_equal(lyra.roundtrip(a[None], 6.0), y_alone)
    n = min(len(a), len(b))
    np.testing.assert_array_equal(lyra.roundtrip(np.stack([b[:n], a[:n]]), 6.0)[1], lyra.roundtrip(a[None, :n], 6.0)[0])
    np.testing.assert_array_equal(lyra.encode(a[None], 6.0), alone)


def test_output_is_time_aligned(lyra, speech):
    from scipy.signal import correlate
    x = speech[0]
    for br in lyra.bitrates_kbps:
        y = lyra.roundtrip(x[None], br)[0]
        cc = correlate(y, x, mode="full", method="fft")
        assert int(np.argmax(cc)) - (len(x) - 1) == 0, br


# One utterance per speaker (the first of each, sorted): 10 of the 100.
SUBSET_TOLERANCE = 0.2   # PESQ points: ~2 standard errors of a 10-utterance mean (sd 0.32-0.39)


@pytest.fixture(scope="module")
def libri_pesq(libri, lyra):
    from codec_conformance.metrics.signal import Pesq
    first = {}
    for u in sorted(libri.items, key=lambda u: u.id):
        first.setdefault(u.id.split("-")[0], u)
    items = list(first.values())
    pesq = Pesq("wb")
    return {br: float(np.mean([pesq.item(u.audio, lyra.roundtrip(u.audio[None].astype(np.float32), br)[0],
                                         libri.sample_rate, u) for u in items])) for br in lyra.bitrates_kbps}


def test_quality_rises_with_bitrate_and_matches_independent_measurement(libri_pesq):
    assert libri_pesq[3.2] < libri_pesq[6.0] < libri_pesq[9.2]
    for br, published in PUBLISHED_PESQ_WB.items():
        assert libri_pesq[br] == pytest.approx(published, abs=SUBSET_TOLERANCE), (br, libri_pesq)
