"""Verdict integrity: the cache never serves a wrong value (keys carry what changes the output,
entries carry a checksum), a factory's options are never dropped, only real float output is
measured, and non-finite numbers become nulls with a reason instead of crashing the session."""
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from codec_conformance.codecs.cache import Cache
from codec_conformance.errors import CodecError

USER_CODECS = textwrap.dedent('''
    import numpy as np
    from codec_conformance.codecs.base import BaseCodec

    class CkptGain(BaseCodec):
        """A gain read from its checkpoint; its cache_identity() forgets the checkpoint."""
        name, sample_rate, bitrates_kbps = "ckgain", 16000, (8.0,)
        def __init__(self, checkpoint=None, config=None, **kw):
            from pathlib import Path
            p = Path(checkpoint)
            self.g = float((p / "gain.txt" if p.is_dir() else p).read_text())
            self.calls = 0
        def cache_identity(self):
            return ("ckgain", "1")
        def roundtrip_one(self, x, br):
            self.calls += 1
            return (self.g * x).astype(np.float32)

    def ckgain(checkpoint=None, config=None, **kw):
        return CkptGain(checkpoint, config)

    ckgain_alias = ckgain

    def only_checkpoint_param():      # the factory of the issue: no checkpoint parameter
        return CkptGain(__file__.replace(".py", "_gain.txt"))

    def make_codec(checkpoint=None):  # accepts the checkpoint, nothing else
        return CkptGain(checkpoint)

    def buggy(**kw):                  # a TypeError inside the adapter must not be retried away
        if kw:
            return 1 + "x"
        return CkptGain(__file__.replace(".py", "_gain.txt"))

    class Raw:                        # the protocol without BaseCodec
        name, sample_rate, bitrates_kbps = "raw", 16000, (8.0,)
        def __init__(self, kind):
            self.kind = kind
        def cache_identity(self):
            return ("raw", self.kind)
        def roundtrip(self, audio, br):
            x = audio.numpy() if hasattr(audio, "numpy") else np.asarray(audio)
            if self.kind == "int16":
                return (np.clip(x, -1, 1) * 32767).astype(np.int16)
            if self.kind == "complex":
                return x.astype(np.complex64)
            if self.kind == "torch_int16":
                import torch
                return torch.from_numpy((np.clip(x, -1, 1) * 32767).astype(np.int16))
            if self.kind == "float64":
                return x.astype(np.float64)
            return x

    def raw_int16(**kw): return Raw("int16")
    def raw_complex(**kw): return Raw("complex")
    def raw_torch_int16(**kw): return Raw("torch_int16")
    def raw_float64(**kw): return Raw("float64")

    class Pcm(BaseCodec):
        name, sample_rate, bitrates_kbps = "pcm16", 16000, (8.0,)
        def roundtrip_one(self, x, br):
            return (np.clip(x, -1, 1) * 32767).astype(np.int16)
    def pcm16(**kw): return Pcm()

    class Silent(BaseCodec):
        name, sample_rate, bitrates_kbps = "silent", 16000, (8.0,)
        def cache_identity(self):
            return ("silent", "1")
        def roundtrip_one(self, x, br):
            return np.zeros_like(x)
    def silent(**kw): return Silent()

    class Cached(BaseCodec):
        name, sample_rate, bitrates_kbps = "cachedgain", 16000, (8.0,)
        def cache_identity(self):
            return ("cachedgain", "1")
        def roundtrip_one(self, x, br):
            return (0.9 * x).astype(np.float32)
    def cached(**kw): return Cached()

    class Plain(BaseCodec):
        name, sample_rate, bitrates_kbps = "plain", 16000, (8.0,)
        def __init__(self):
            self.calls = 0
        def roundtrip_one(self, x, br):
            self.calls += 1
            return x
    def plain(**kw): return Plain()
''')


@pytest.fixture
def usercodecs(tmp_path, monkeypatch):
    """A user codec package in a temporary directory (importable as ``usercodecs``)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "usercodecs.py").write_text(USER_CODECS)
    (pkg / "usercodecs_gain.txt").write_text("1.0")
    monkeypatch.syspath_prepend(str(pkg))
    import os
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(pkg), os.environ.get("PYTHONPATH")])))
    import sys
    sys.modules.pop("usercodecs", None)
    yield pkg
    sys.modules.pop("usercodecs", None)


def make_session(tmp_path, codec, **values):
    from codec_conformance.engine.session import ConformanceSession
    from codec_conformance.settings import Settings
    v = {"cache_dir": str(tmp_path / "cache"), **values}  # device: auto (not an option the user set)
    return ConformanceSession(Settings(codecs=[codec], rootdir=str(tmp_path), **v))


def tone(n=1600):
    return (0.3 * np.sin(np.arange(n) * 0.05)).astype(np.float32)


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


# ------------------------------------------------------------------ 7: factory options
def test_option_the_factory_cannot_take_is_a_usage_error(tmp_path, usercodecs):
    ck = tmp_path / "w.txt"
    ck.write_text("0.5")
    s = make_session(tmp_path, "usercodecs:only_checkpoint_param", checkpoint=str(ck))
    with pytest.raises(CodecError, match=r"usercodecs:only_checkpoint_param.*takes no parameter 'checkpoint'.*"
                                         r"--codec-checkpoint"):
        s.runner.codec("usercodecs:only_checkpoint_param")
    # the factory of the issue, def make_codec(checkpoint=None): gets its checkpoint
    s = make_session(tmp_path, "usercodecs:make_codec", checkpoint=str(ck))
    assert s.runner.codec("usercodecs:make_codec").g == 0.5
    # options the user did not set are simply not passed to a factory without them
    s = make_session(tmp_path, "usercodecs:only_checkpoint_param")
    assert s.runner.codec("usercodecs:only_checkpoint_param").g == 1.0
    with pytest.raises(CodecError, match="'device'.*--codec-device"):
        make_session(tmp_path, "usercodecs:make_codec", checkpoint=str(ck), device="cpu").runner.codec("usercodecs:make_codec")


def test_reference_codec_refuses_a_checkpoint(tmp_path):
    ck = tmp_path / "w.pt"
    ck.write_bytes(b"x")
    with pytest.raises(CodecError, match="codec 'opus'.*OpusCodec takes no parameter 'checkpoint'"):
        make_session(tmp_path, "opus", checkpoint=str(ck)).runner.codec("opus")
    assert make_session(tmp_path, "opus", device="cpu").runner.codec("opus").name == "opus"


def test_type_error_inside_an_adapter_is_not_retried_away(usercodecs):
    from codec_conformance.registry import make_codec
    with pytest.raises(TypeError, match="unsupported operand"):
        make_codec("usercodecs:buggy", device="cpu")


def test_dropped_checkpoint_is_a_usage_error_in_a_run(pytester, usercodecs, tmp_path):
    pytester.makeini("[pytest]\n")
    ck = tmp_path / "w.txt"
    ck.write_text("0.5")
    r = pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider",
                                      "--codec=usercodecs:only_checkpoint_param", f"--codec-checkpoint={ck}",
                                      "--codec-no-cache", "-k", "frequency")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    out = r.stdout.str() + r.stderr.str()
    assert "takes no parameter 'checkpoint'" in out and "--codec-checkpoint" in out


# ------------------------------------------------------------------ 8: output types
@pytest.mark.parametrize("spec,what", [("usercodecs:pcm16", "int16"), ("usercodecs:raw_int16", "int16"),
                                       ("usercodecs:raw_complex", "complex64"),
                                       ("usercodecs:raw_torch_int16", "int16")])
def test_non_float_output_is_refused_naming_what_it_got(tmp_path, usercodecs, spec, what):
    """Issue: int16 PCM output scored PESQ 4.64 / SI-SDR 76 dB; complex output lost its imaginary part."""
    if "torch" in spec:
        pytest.importorskip("torch")
    s = make_session(tmp_path, spec, no_cache=True)
    with _no_warning():
        with pytest.raises(CodecError, match=rf"returned {what} samples.*real floating-point"):
            s.runner.roundtrip_one(spec, 8.0, tone(), 16000)


def test_real_float_output_of_any_precision_is_accepted(tmp_path, usercodecs):
    s = make_session(tmp_path, "usercodecs:raw_float64", no_cache=True)
    y = s.runner.roundtrip_one("usercodecs:raw_float64", 8.0, tone(), 16000)
    assert y.dtype == np.float32 and np.allclose(y, tone())


def test_check_output_refuses_wrong_types_and_shapes():
    from codec_conformance.codecs.base import check_output
    batch = np.zeros((1, 8), np.float32)
    for bad, word in ((np.zeros((1, 8), bool), "bool"), (np.zeros((1, 8), np.uint8), "uint8"),
                      (np.zeros((1, 8), object), "object"), ([[0.0] * 4, [0.0]], "not an array")):
        with pytest.raises(CodecError, match=word):
            check_output("c", batch, bad)
    with pytest.raises(CodecError, match="shape"):
        check_output("c", batch, np.zeros((1, 7), np.float32))
    assert check_output("c", batch, np.ones((1, 8), np.float16)).dtype == np.float32


class _no_warning:
    def __enter__(self):
        import warnings
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error")  # np.ComplexWarning would mean the output was cast, not refused

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


# ------------------------------------------------------------------ 9: non-finite numbers
def test_make_record_writes_non_finite_numbers_as_null_with_a_reason():
    from codec_conformance.results.contract import finite_json, make_record
    rec = make_record(codec="c", bitrate_kbps=8, suite="homogeneity", condition={}, metric="ser_db",
                      higher_is_better=True, value=float("nan"), oracle=1.0, median=np.float32("inf"),
                      examples=[{"ser_db": float("nan")}, {"ser_db": 3.0}], threshold={"limit": float("nan")})
    assert rec["value"] is None and rec["delta"] is None and rec["median"] is None
    assert rec["examples"] == [{"ser_db": None}, {"ser_db": 3.0}] and rec["threshold"]["limit"] is None
    assert rec["non_finite"] == {"value": "nan", "median": "inf", "examples[0].ser_db": "nan",
                                 "threshold.limit": "nan"}
    assert "undefined" in rec["non_finite_reason"]
    json.dumps(rec, allow_nan=False)
    clean, notes = finite_json({"y": np.array([1.0, -np.inf]), "n": np.int64(3)})
    assert clean == {"y": [1.0, None], "n": 3} and notes == {"y[1]": "-inf"}


def test_results_recorder_never_raises_on_non_finite_payload(tmp_path):
    from codec_conformance.results.run_folder import RunRecorder
    rec = RunRecorder(tmp_path / "run", {"id": "run", "errors": []})
    rec.add({"records": [], "curves": [{"kind": "k", "x": [1.0], "y": [float("nan")]}]})
    doc = json.loads((tmp_path / "run" / "results.json").read_text())
    assert doc["curves"][0]["y"] == [None]
    assert "non-finite" in doc["run"]["errors"][0]["message"]


def _strict_json(path: Path):
    def refuse(c):
        raise AssertionError(f"{path} holds {c}")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_silent_codec_session_completes_with_nulls_and_fails(pytester, usercodecs, tmp_path):
    """Issue: a codec that outputs silence crashed pytest (INTERNALERROR, exit 3) and lost records."""
    pytester.makeini("[pytest]\n")
    r = pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider",
                                      "--codec=usercodecs:silent", "--codec-cache-dir", str(tmp_path / "cache"),
                                      "-k", "additivity or homogeneity or frequency or (clean and mel)", "-q")
    assert r.ret == pytest.ExitCode.TESTS_FAILED, r.stdout.str()[-3000:]
    assert "INTERNALERROR" not in r.stdout.str() + r.stderr.str()
    # noise clean mel: defined, and over the packaged default limit (silence is not speech); the
    # others: undefined -> failed
    r.assert_outcomes(failed=7)
    doc = _strict_json(pytester.path / "reports" / "latest" / "results.json")
    assert doc["run"]["finished"] and (pytester.path / "reports" / "latest" / "index.html").is_file()
    suites = {x["suite"] for x in doc["records"]}
    assert suites == {"noise", "additivity", "homogeneity", "frequency_response"}
    failed_tests = set()
    for x in doc["records"]:
        if x["suite"] == "noise" or x["metric"] == "mel_distance":  # defined: silence vs silence, or speech
            assert x["value"] is not None
            continue
        assert x["value"] is None and x["non_finite"]["value"] in ("nan", "-inf", "inf")
        assert x["passed"] is False and "non-finite" in x["failure"] and x["non_finite_reason"]
        failed_tests.add(x["test_id"])
    assert len(failed_tests) == 6
    hom = [x for x in doc["records"] if x["suite"] == "homogeneity"][0]
    assert all(e["ser_db"] is None for e in hom["examples"])
    curves = {c["kind"]: c for c in doc["curves"]}
    assert all(v is None for v in curves["homogeneity_ser"]["y"]) and curves["homogeneity_ser"]["non_finite"]
    assert all(v is None for v in curves["frequency_response"]["y"])
    for line in (pytester.path / "reports" / "latest" / "journal.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"journal holds {c}"))


def test_corrupt_cache_entries_are_reported_in_results_and_log(pytester, usercodecs, tmp_path):
    pytester.makeini("[pytest]\n")
    args = ("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider", "--codec=usercodecs:cached",
            "--codec-cache-dir", str(tmp_path / "cache"), "-k", "frequency", "-q")
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=3)
    first = _strict_json(pytester.path / "reports" / "latest" / "results.json")
    entries = [p for p in (tmp_path / "cache").rglob("*.npy")]
    assert entries
    for p in entries:
        p.write_bytes(b"")
    r = pytester.runpytest_subprocess(*args)
    r.assert_outcomes(passed=3)
    doc = _strict_json(pytester.path / "reports" / "latest" / "results.json")
    warns = doc["run"]["cache_warnings"]
    assert len(warns) == len(entries) and all("deleted and recomputed" in w for w in warns)
    assert "codec-conformance: cache entry" in r.stdout.str()
    assert [x["value"] for x in doc["records"]] == [x["value"] for x in first["records"]]


def test_framework_identity_names_the_gpu_model(tmp_path, usercodecs, monkeypatch):
    torch = pytest.importorskip("torch")
    ck = tmp_path / "w.txt"
    ck.write_text("0.5")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: f"FakeGPU({d})")
    s = make_session(tmp_path, "usercodecs:ckgain", checkpoint=str(ck))
    cpu = s.runner.framework_identity("usercodecs:ckgain")
    s.runner.device = "cuda:1"
    assert s.runner.framework_identity("usercodecs:ckgain")["device"] == "cuda/FakeGPU(cuda:1)" != cpu["device"]
