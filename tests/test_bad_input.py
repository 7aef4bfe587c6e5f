"""Bad configuration and bad input: one clear usage error up front (exit 4) naming the option or
file; unreadable corpus files skipped, counted and named; near-silent items undefined, with a
reason, instead of skewing a curve or erroring every noisy-condition test."""
import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from codec_conformance.errors import ConformanceError, ThresholdError

SR = 16000

CODEC = textwrap.dedent('''
    import numpy as np
    from codec_conformance.codecs.base import BaseCodec

    class Gain(BaseCodec):
        name, sample_rate, bitrates_kbps = "gain", 16000, (8.0,)
        def roundtrip_one(self, x, br):
            return (0.9 * x).astype(np.float32)

    def gain(**kw): return Gain()
''')


def speechlike(f0: float, seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """Harmonics of ``f0`` under a 4-Hz syllable envelope, -6 dBFS peak: enough 'speech' for
    levels, SNRs, Mel distance and a linear codec."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    x = x * env + 1e-3 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def make_corpus(root: Path, silent: str | None = None) -> Path:
    """3 speaker folders x 2 files; ``silent`` names an item written as all zeros."""
    import soundfile as sf
    for s, (spk, f0) in enumerate((("spkA", 110.0), ("spkB", 180.0), ("spkC", 240.0))):
        (root / spk).mkdir(parents=True, exist_ok=True)
        for k in range(2):
            uid = f"{spk[-1].lower()}{k}"
            x = np.zeros(int(1.5 * SR), np.float32) if uid == silent else speechlike(f0 * (1 + 0.05 * k), seed=s * 2 + k)
            sf.write(str(root / spk / f"{uid}.wav"), x, SR)
    return root


@pytest.fixture
def run(pytester, tmp_path):
    pytester.makepyfile(tinycodec=CODEC)
    pytester.makeini("[pytest]\n")
    corpus = make_corpus(tmp_path / "corpus")

    def _run(*args, corpus_dir=corpus, codec="tinycodec:gain"):
        return pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider",
                                             f"--codec={codec}", "--codec-cache-dir", str(tmp_path / "cache"),
                                             "--codec-corpus", str(corpus_dir), *args)
    return _run


def results(pytester) -> dict:
    return json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())


# --------------------------------------------------------------------------- 1. up-front usage errors
def _no_cuda() -> bool:
    try:
        import torch
        return not torch.cuda.is_available()
    except ImportError:
        return True


def _setup_case(case: str, p: Path) -> tuple[list[str], str]:
    """(arguments, text the error must contain) for one bad input."""
    if case == "empty-corpus":
        (p / "empty").mkdir()
        return ["--codec-corpus", str(p / "empty")], "--codec-corpus"
    if case == "corpus-not-audio":
        (p / "junk" / "spk").mkdir(parents=True)
        for k in range(3):
            (p / "junk" / "spk" / f"u{k}.wav").write_text("this is not audio")
        return ["--codec-corpus", str(p / "junk")], "none of its 3 audio files can be read"
    if case == "thresholds-syntax":
        (p / "t.toml").write_text("[default.noise.clean\n")
        return ["--codec-thresholds", "t.toml"], "not valid TOML"
    if case == "thresholds-unknown-key":
        (p / "t.toml").write_text("[default.noise.clean]\npesq = { max_dleta = -1 }\n")
        return ["--codec-thresholds", "t.toml"], "default.noise.clean.pesq"
    if case == "thresholds-wrong-type":
        (p / "t.toml").write_text('[default.noise.clean]\npesq = { max_delta = "-1" }\n')
        return ["--codec-thresholds", "t.toml"], "limit must be a number"
    if case == "thresholds-wrong-structure":
        (p / "t.toml").write_text("[default]\nnoise = 3\n")
        return ["--codec-thresholds", "t.toml"], "key 'default.noise': must be a table of conditions"
    if case == "thresholds-is-a-directory":
        (p / "tdir").mkdir()
        return ["--codec-thresholds", "tdir"], "is a directory"
    if case == "thresholds-dir-default-broken":  # found in the thresholds dir for the codec named
        (p / "thresholds").mkdir()
        (p / "thresholds" / "default.toml").write_text("[default.noise.clean]\npesq = { max_delta = nan }\n")
        return [], "--codec-thresholds-dir"
    if case == "baseline-missing":
        return ["--codec-baseline", "nope.json"], "--codec-baseline"
    if case == "baseline-malformed":
        (p / "base.json").write_text('{"schema": "codec-conformance/results/1", "records": 3}')
        return ["--codec-baseline", "base.json"], "--codec-baseline"
    if case == "seed-not-integer":
        return ["--codec-seed=abc"], "--codec-seed: 'abc': expected an integer"
    if case == "resume-missing":
        return ["--codec-resume", "20260101-nosuchrun"], "--codec-resume 20260101-nosuchrun"
    if case == "cuda-index-without-cuda":
        return ["--codec-device", "cuda:0"], "--codec-device cuda:0: no CUDA device"
    if case == "report-dir-unwritable":  # root may write anywhere: a path under a file cannot be made
        (p / "afile").write_text("x")
        return ["--codec-report-dir", "afile/reports"], "--codec-report-dir"
    raise AssertionError(case)


CASES = ["empty-corpus", "corpus-not-audio", "thresholds-syntax", "thresholds-unknown-key", "thresholds-wrong-type",
         "thresholds-wrong-structure", "thresholds-is-a-directory", "thresholds-dir-default-broken",
         "baseline-missing", "baseline-malformed", "seed-not-integer", "resume-missing",
         pytest.param("cuda-index-without-cuda", marks=pytest.mark.skipif(not _no_cuda(), reason="CUDA is present")),
         "report-dir-unwritable"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_usage_error_before_any_work(run, pytester, case):
    args, says = _setup_case(case, pytester.path)
    r = run(*args, "-k", "clean and mel_distance", "-q")
    out = r.stdout.str() + r.stderr.str()
    assert r.ret == pytest.ExitCode.USAGE_ERROR, out[-3000:]
    assert says in out, out[-3000:]
    assert "Traceback" not in out and "INTERNALERROR" not in out
    assert out.count("ERROR:") == 1  # reported once
    assert not (pytester.path / "reports").exists()  # nothing ran, nothing was written


def test_several_bad_inputs_are_reported_together(run, pytester):
    (pytester.path / "empty").mkdir()
    r = run("--codec-corpus", str(pytester.path / "empty"), "--codec-baseline", "nope.json", "-q")
    err = r.stderr.str()
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "--codec-corpus" in err and "--codec-baseline" in err and err.count("ERROR:") == 1


def test_option_values_are_typed_at_parse_time():
    from codec_conformance.settings import OPTIONS, build_settings

    def opts(**kw):
        o = {f"codec_{k}": None for k in OPTIONS} | {"codec": ["opus"]} | {f"codec_{k}": v for k, v in kw.items()}
        return lambda k: o.get(k)

    for kw, says in [({"seed": "abc"}, "--codec-seed 'abc': expected an integer"),
                     ({"num_shards": "two"}, "--codec-num-shards 'two': expected an integer"),
                     ({"threshold_margin": "5%"}, "--codec-threshold-margin '5%': expected a number"),
                     ({"threshold_margin": "nan"}, "--codec-threshold-margin nan: expected a finite number >= 0"),
                     ({"device": "gpu"}, "--codec-device 'gpu': use auto, cpu, cuda or cuda:N")]:
        with pytest.raises(ConformanceError) as e:
            build_settings(opts(**kw), ".")
        assert says in str(e.value)


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


def test_report_dir_without_write_permission(tmp_path, monkeypatch):
    """Permissions cannot be taken from root: os.access is made to say no instead."""
    from codec_conformance.engine.preflight import check_report_dir
    from codec_conformance.settings import Settings
    s = Settings(rootdir=str(tmp_path), report_dir="ro/reports")
    (tmp_path / "ro").mkdir()
    check_report_dir(s)  # writable: fine, and nothing created
    assert not (tmp_path / "ro" / "reports").exists()
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != tmp_path / "ro")
    with pytest.raises(ConformanceError, match="--codec-report-dir .*ro/reports: cannot be created, .*ro is not writable"):
        check_report_dir(s)


@pytest.mark.parametrize("text,key,says", [
    ("[default]\nnoise = 3\n", "default.noise", "must be a table of conditions"),
    ("[default.noise]\nclean = 3\n", "default.noise.clean", "must be a table of metrics"),
    ("[default.noise.clean]\npesq = { max_delta = nan }\n", "default.noise.clean.pesq", "finite"),
    ("[default.noise.clean]\npesq = { max_delta = inf }\n", "default.noise.clean.pesq", "finite"),
    ('[bitrate."nan".noise.clean]\npesq = { max_delta = -1 }\n', "bitrate.nan", "numbers in kbps"),
    ("bitrate = 3\n", "bitrate", "must be a table keyed by kbps"),
])
def test_thresholds_of_the_wrong_structure_name_file_and_key(tmp_path, text, key, says):
    from codec_conformance.gate.thresholds import ThresholdSet
    p = tmp_path / "t.toml"
    p.write_text(text)
    with pytest.raises(ThresholdError) as e:
        ThresholdSet.load(p, {"pesq"})
    assert str(p) in str(e.value) and repr(key) in str(e.value) and says in str(e.value)


def test_thresholds_path_that_is_a_directory(tmp_path):
    from codec_conformance.gate.thresholds import ThresholdSet
    with pytest.raises(ThresholdError, match="is a directory; give a .toml file"):
        ThresholdSet.load(tmp_path)


# --------------------------------------------------------------------------- 2. unreadable corpus files
def test_unreadable_corpus_files_are_skipped_counted_and_named(tmp_path, monkeypatch):
    from codec_conformance.data.corpus import load_folder
    root = make_corpus(tmp_path / "c")
    (root / "spkA" / "notaudio.wav").write_text("hello")
    good = (root / "spkB" / "b0.wav").read_bytes()
    (root / "spkB" / "truncated.wav").write_bytes(good[:30])  # cut inside the header
    (root / "spkB" / "empty.wav").write_bytes(b"")
    locked = root / "spkD"
    locked.mkdir()
    (locked / "d0.wav").write_bytes(good)
    if os.geteuid() == 0:  # root reads through chmod 000: make listing that folder fail instead
        real = os.scandir

        def scandir(path="."):
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)
        monkeypatch.setattr(os, "scandir", scandir)
    else:
        locked.chmod(0)
    try:
        c = load_folder(root)
    finally:
        locked.chmod(0o755)
    assert sorted(u.id for u in c.items) == ["a0", "a1", "b0", "b1", "c0", "c1"]
    skipped = {Path(k).name: v for k, v in c.skipped.items()}
    assert set(skipped) == {"notaudio.wav", "truncated.wav", "empty.wav", "spkD"}
    assert "Permission denied" in skipped["spkD"] and "cannot read audio file" in skipped["notaudio.wav"]
    info = c.subset(2, 1).to_info()  # the count survives subsetting and reaches results.json
    assert info["n_skipped"] == 4 and set(map(lambda k: Path(k).name, info["skipped"])) == set(skipped)


def test_unreadable_noise_and_emotion_files_are_skipped_and_named(tmp_path):
    import soundfile as sf
    from codec_conformance.data.corpus import AudioBank, load_ravdess
    (tmp_path / "noise").mkdir()
    sf.write(str(tmp_path / "noise" / "good.wav"), speechlike(90.0), SR)
    (tmp_path / "noise" / "bad.flac").write_bytes(b"fLaC" + bytes(20))
    bank = AudioBank.from_dir(tmp_path / "noise")
    assert bank.names() == ["good.wav"] and "cannot read audio file" in bank.skipped["bad.flac"]
    (tmp_path / "rav").mkdir()
    sf.write(str(tmp_path / "rav" / "03-01-05-01-01-01-01.wav"), speechlike(150.0), SR)
    (tmp_path / "rav" / "03-01-03-01-01-01-02.wav").write_text("truncated")
    c = load_ravdess(tmp_path / "rav")
    assert [u.emotion for u in c.items] == ["angry"] and list(map(lambda k: Path(k).name, c.skipped)) == [
        "03-01-03-01-01-01-02.wav"]


def test_unreadable_corpus_file_is_named_in_results_and_report(run, pytester, tmp_path):
    root = make_corpus(tmp_path / "bad")
    (root / "spkC" / "c9.wav").write_text("not audio")
    r = run("-k", "clean and mel_distance", "-q", corpus_dir=root)
    r.assert_outcomes(passed=1)
    sp = results(pytester)["run"]["corpora"]["speech"]
    assert sp["n_skipped"] == 1 and "c9.wav" in next(iter(sp["skipped"]))
    html = (pytester.path / "reports" / "latest" / "index.html").read_text()
    assert "1 speech file(s) could not be read" in html and "c9.wav" in html


# --------------------------------------------------------------------------- 3. near-silent items
def test_silence_is_detected_and_speech_is_not(embedded):
    from codec_conformance.data.corpus import silence_reason
    assert "digital silence" in silence_reason(np.zeros(SR, np.float32), SR)[1]
    hum = (1e-4 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)  # -80 dBFS
    assert "active level -80" in silence_reason(hum, SR)[1]
    click = np.zeros(SR, np.float32)
    click[100:140] = 0.5
    assert "only 20 ms" in silence_reason(click, SR)[1]
    assert silence_reason(speechlike(150.0), SR)[1] is None
    assert all(u.silent is None for u in embedded.items)


def test_near_silent_item_is_undefined_not_a_skewed_curve_or_errors(run, pytester, tmp_path):
    root = make_corpus(tmp_path / "quiet", silent="a0")  # a0 is the first item: in the gain curve
    (tmp_path / "no-limits.toml").write_text("")  # measured only: the packaged limits are for real speech
    r = run("-k", "homogeneity or white and mel_distance or speech_speech", "-q", "--codec-measure-only",
            "--codec-thresholds", str(tmp_path / "no-limits.toml"), corpus_dir=root, codec="opus")
    r.assert_outcomes(passed=4)  # homogeneity, additivity, white noise at 0 and 10 dB: no errors
    doc = results(pytester)
    assert doc["run"]["corpora"]["speech"]["n_silent"] == 1
    curve = next(c for c in doc["curves"] if c["kind"] == "homogeneity_gain")
    # Opus at 64 kbps follows the input gain within 0.3 dB here; with the silent item in the
    # curve's average the output at -40 dB input read -26.8 dB (one item stuck at 0 dB)
    assert max(abs(x - y) for x, y in zip(curve["x"], curve["y"])) < 1.0, curve
    hom = next(x for x in doc["records"] if x["suite"] == "homogeneity")
    assert hom["n_undefined"] == 1 and "digital silence" in hom["undefined_reasons"]["a0"]
    assert all(e["x"] != "a0" for e in hom["examples"])
    add = next(x for x in doc["records"] if x["suite"] == "additivity" and x["metric"] == "ser_db")
    assert add["n_undefined"] == 1 and all("a0" not in (e["x"], e["y"]) for e in add["examples"])
    white = [x for x in doc["records"] if x["suite"] == "noise"]
    assert len(white) == 2
    for rec in white:
        assert rec["value"] is not None and rec["n_items"] == 6
        assert rec["n_undefined"] == 2  # the silent item, for the codec and for the oracle
        assert "no speech in the clean item" in rec["undefined_reasons"]["codec:a0"]
    assert "1 speech item(s) hold no measurable speech" in (pytester.path / "reports" / "latest" / "index.html").read_text()


def test_silent_items_keep_their_place_in_per_item_values():
    from codec_conformance.data.corpus import Corpus, Utterance
    from codec_conformance.metrics.signal import MelDistance
    from codec_conformance.engine.scorer import score_speech_items
    items = [Utterance("s0", "a", speechlike(120.0)), Utterance("z", "a", np.zeros(SR, np.float32)),
             Utterance("s1", "b", speechlike(200.0))]
    c = Corpus("t", items)
    res = score_speech_items(MelDistance(), c, [u.audio for u in items])
    assert res.n_items == 3 and res.per_item[1] is None and res.per_item[0] == pytest.approx(0.0, abs=1e-6)
    assert res.n_undefined == 1 and "digital silence" in res.undefined["z"]


@pytest.mark.parametrize("option", ["report_dir", "thresholds_dir"])
def test_an_empty_folder_option_in_pyproject_is_checked_not_a_crash(tmp_path, option):
    """``report_dir = ""`` (or ``thresholds_dir = ""``) under [tool.codec_conformance] is no path
    (Settings.path gives None): the report folder is then one usage error naming the option, and
    an empty thresholds folder means the packaged thresholds alone, as in the session. Preflight
    used to call .exists() on None (AttributeError, a traceback instead of a usage error)."""
    from codec_conformance.engine.preflight import check_inputs
    from codec_conformance.gate.calibration import write_thresholds
    from codec_conformance.settings import build_settings
    (tmp_path / "pyproject.toml").write_text(f'[tool.codec_conformance]\n{option} = ""\n'
                                             + ('' if option == "report_dir" else 'report_dir = "r"\n'))
    s = build_settings(lambda k: None, tmp_path)
    assert getattr(s, option) == "" and s.path(getattr(s, option)) is None
    if option == "report_dir":
        with pytest.raises(ConformanceError, match="--codec-report-dir is empty; give a path"):
            check_inputs(s)
    else:
        check_inputs(s)  # the packaged thresholds validate
        with pytest.raises(ConformanceError, match="--codec-thresholds-dir is empty; give the folder"):
            write_thresholds({"records": [], "run": {}}, s)
