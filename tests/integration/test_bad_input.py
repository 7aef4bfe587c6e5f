"""Bad configuration and bad input: one clear usage error up front (exit 4) naming the option or
file; unreadable corpus files skipped, counted and named; near-silent items undefined, with a
reason, instead of skewing a curve or erroring every noisy-condition test."""
import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import grid, speechlike

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


def test_unreadable_corpus_file_is_named_in_results_and_report(run, pytester, tmp_path):
    root = make_corpus(tmp_path / "bad")
    (root / "spkC" / "c9.wav").write_text("not audio")
    r = run("-k", "clean and mel_distance", "-q", corpus_dir=root)
    r.assert_outcomes(passed=1)
    sp = results(pytester)["run"]["corpora"]["speech"]
    assert sp["n_skipped"] == 1 and "c9.wav" in next(iter(sp["skipped"]))
    html = (pytester.path / "reports" / "latest" / "index.html").read_text()
    assert "1 speech file(s) could not be read" in html and "c9.wav" in html


def test_near_silent_item_is_undefined_not_a_skewed_curve_or_errors(run, pytester, tmp_path):
    root = make_corpus(tmp_path / "quiet", silent="a0")  # a0 is the first item: in the gain curve
    (tmp_path / "no-limits.toml").write_text("")  # measured only: the packaged limits are for real speech
    r = run("-k", "homogeneity or white and mel_distance or speech_speech", "-q", "--codec-measure-only",
            "--codec-thresholds", str(tmp_path / "no-limits.toml"), corpus_dir=root, codec="opus")
    white = [c for c in grid("noise") if c.kind == "white"]
    r.assert_outcomes(passed=2 + len(white))  # homogeneity, additivity, white noise at each SNR: no errors
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


# ----------------------------------------------------------------------
# Verdict integrity: the cache never serves a wrong value (keys carry what changes the output,
# entries carry a checksum), a factory's options are never dropped, only real float output is
# measured, and non-finite numbers become nulls with a reason instead of crashing the session.

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
