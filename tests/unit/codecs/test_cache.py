"""Verdict integrity: the cache never serves a wrong value (keys carry what changes the output,
entries carry a checksum), a factory's options are never dropped, only real float output is
measured, and non-finite numbers become nulls with a reason instead of crashing the session."""
from pathlib import Path

import numpy as np

from codec_conformance.codecs.cache import Cache
from tests.helpers import make_session, tone


# ------------------------------------------------------------------ 5: cache keys carry the weights
def test_disk_cache_key_carries_the_checkpoint_sha256(tmp_path, usercodecs):
    """Issue: 8-bit and 4-bit checkpoints got the same score from the disk cache, because the
    codec's cache_identity() did not mention its checkpoint."""
    a, b = tmp_path / "w8.txt", tmp_path / "w4.txt"
    a.write_text("0.5")
    b.write_text("0.25")
    x = tone()
    y8 = make_session(tmp_path, "usercodecs:ckgain", checkpoint=str(a)).runner.roundtrip_one("usercodecs:ckgain", 8.0, x, 16000)
    assert np.allclose(y8, 0.5 * x)
    s4 = make_session(tmp_path, "usercodecs:ckgain", checkpoint=str(b))  # same cache directory
    y4 = s4.runner.roundtrip_one("usercodecs:ckgain", 8.0, x, 16000)
    assert np.allclose(y4, 0.25 * x), "the 4-bit run was served the 8-bit run's cached output"
    assert s4.runner.codec("usercodecs:ckgain").calls == 1
    # the same checkpoint again is a cache hit (the key is stable across runs)
    s8 = make_session(tmp_path, "usercodecs:ckgain", checkpoint=str(a))
    assert np.allclose(s8.runner.roundtrip_one("usercodecs:ckgain", 8.0, x, 16000), 0.5 * x)
    assert s8.runner.codec("usercodecs:ckgain").calls == 0


def test_codec_cache_identity_covers_framework_known_settings(tmp_path, usercodecs):
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "gain.txt").write_text("0.5")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("a: 1\n")
    spec = "usercodecs:ckgain"

    def ident(**kw):
        kw.setdefault("checkpoint", str(ck))
        return make_session(tmp_path, spec, **kw).runner.codec_identity(spec)

    base = ident(config=str(cfg))
    assert base == ident(config=str(cfg))                      # stable
    assert base != ident()                                     # config given or not
    cfg.write_text("a: 2\n")
    assert base != ident(config=str(cfg))                      # config content
    cfg.write_text("a: 1\n")
    (ck / "gain.txt").write_text("0.50")                       # a directory checkpoint's files
    assert base != ident(config=str(cfg))
    (ck / "gain.txt").write_text("0.5")
    assert base == ident(config=str(cfg))
    assert base != ident(config=str(cfg), weights="random-init")
    other = make_session(tmp_path, "usercodecs:ckgain_alias", checkpoint=str(ck), config=str(cfg))
    assert other.runner.codec_identity("usercodecs:ckgain_alias") != base  # another factory (spec)
    fw = make_session(tmp_path, spec, checkpoint=str(ck)).runner.framework_identity(spec)
    assert fw["device"] == "cpu" and fw["precision"] == "fp32" and fw["spec"] == spec


def test_codec_without_cache_identity_is_not_cached_across_runs(tmp_path, usercodecs):
    """Decision: the framework-known identity is added to a codec's own, never used instead of
    it: a factory may hold configuration the framework cannot see."""
    x = tone()
    for _ in range(2):
        s = make_session(tmp_path, "usercodecs:plain")
        assert s.runner.codec_identity("usercodecs:plain") is None
        s.runner.roundtrip_one("usercodecs:plain", 8.0, x, 16000)
        assert s.runner.codec("usercodecs:plain").calls == 1
    assert not list((tmp_path / "cache").rglob("*.npy"))


def test_every_cache_entry_lives_under_the_format_version(tmp_path):
    from codec_conformance.codecs.cache import CACHE_FORMAT
    c = Cache(tmp_path)
    c.put_json("ab" * 32, {"v": 1.0})
    (entry,) = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert entry.relative_to(tmp_path).parts[0] == f"v{CACHE_FORMAT}"


# ------------------------------------------------------------------ 6: checksummed entries
def only_entry(root: Path) -> Path:
    (p,) = [q for q in Path(root).rglob("*") if q.is_file() and not q.name.startswith(".tmp-")]
    return p


def test_flipped_digit_in_cached_metric_json_is_recomputed(tmp_path):
    """Issue: one flipped digit in a cached metric JSON changed a Mel distance 1.1952 -> 1.2636."""
    from codec_conformance.data.corpus import load_embedded
    from codec_conformance.metrics.signal import MelDistance
    corpus = load_embedded(1, 1)
    ref = corpus.items[0].audio
    deg = (0.7 * ref + 0.01 * np.random.default_rng(0).standard_normal(len(ref))).astype(np.float32)
    cache = Cache(tmp_path / "c")
    fresh = MelDistance().compute(corpus.items, [deg], [ref], corpus.sample_rate, cache=cache).value
    p = only_entry(tmp_path / "c")
    data = p.read_bytes()
    digits = repr(fresh)[:6].encode()
    assert digits in data
    flipped = digits[:-1] + (b"1" if digits[-1:] != b"1" else b"2")
    p.write_bytes(data.replace(digits, flipped))
    cache2 = Cache(tmp_path / "c")
    again = MelDistance().compute(corpus.items, [deg], [ref], corpus.sample_rate, cache=cache2).value
    assert again == fresh
    assert len(cache2.problems) == 1 and "checksum mismatch" in cache2.problems[0]
    assert cache2.new_problems() == cache2.problems and cache2.new_problems() == []
    # rewritten: the next read is a clean hit
    cache3 = Cache(tmp_path / "c")
    assert MelDistance().compute(corpus.items, [deg], [ref], corpus.sample_rate, cache=cache3).value == fresh
    assert cache3.hits == 1 and cache3.problems == []


def test_sign_flip_in_cached_codec_output_is_recomputed(tmp_path):
    c = Cache(tmp_path)
    key = "cd" * 32
    arr = np.linspace(0.1, 0.5, 64).astype(np.float32)
    c.put_array(key, arr)
    p = only_entry(tmp_path)
    data = bytearray(p.read_bytes())
    data[-1] ^= 0x80  # the sign bit of the last float32 sample
    p.write_bytes(bytes(data))
    c2 = Cache(tmp_path)
    assert c2.get_array(key) is None  # a miss: the caller recomputes
    assert "checksum mismatch" in c2.problems[0] and not p.exists()


def test_empty_cache_entry_is_a_miss_not_an_eoferror(tmp_path):
    """Issue: a 0-byte entry raised EOFError in every test on every rerun."""
    c = Cache(tmp_path)
    c.put_array("ef" * 32, np.zeros(8, np.float32))
    c.put_json("01" * 32, {"v": 2.0})
    for p in [q for q in tmp_path.rglob("*") if q.is_file()]:
        p.write_bytes(b"")
    c2 = Cache(tmp_path)
    assert c2.get_array("ef" * 32) is None and c2.get_json("01" * 32) is None
    assert len(c2.problems) == 2 and all("no checksum header (0 bytes)" in m for m in c2.problems)
    c2.put_array("ef" * 32, np.ones(8, np.float32))
    assert np.array_equal(Cache(tmp_path).get_array("ef" * 32), np.ones(8, np.float32))
