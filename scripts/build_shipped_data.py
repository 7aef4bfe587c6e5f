"""Build the real-speech data shipped in the package (codec_conformance/data/shipped/) from
../shared/data (MANIFEST.tsv gives each source file's origin and licence).

    python scripts/build_shipped_data.py [SHARED_DATA_DIR]

Deterministic: the same sources give the same FLAC files. Only CC BY 4.0, CC0 and Apache-2.0
material is taken (RAVDESS and ESC-50 are non-commercial and never shipped). Writes
speech/<speaker>/<utt>.flac + transcripts.tsv, noise/*.flac, rir/*.flac and DATA_LICENSES.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "codec_conformance" / "data" / "shipped"
SR = 16000
PER_SPEAKER = 6                 # utterances kept per test-other speaker (10 speakers)
MIN_S, MAX_S = 2.5, 8.0         # utterance length range (short: Whisper and PESQ time in CI)
NOISES = {  # Speech Commands background recordings (real, CC BY 4.0): name -> (start s, seconds)
    "doing_the_dishes": (20.0, 12.0), "running_tap": (10.0, 12.0),
    "exercise_bike": (10.0, 12.0), "dude_miaowing": (10.0, 12.0)}
BABBLE_TALKERS = 6              # train-clean-100 speakers (not test speakers) in the babble
BABBLE_S = 12.0


def manifest(shared: Path) -> dict[str, dict]:
    rows = shared.joinpath("MANIFEST.tsv").read_text().splitlines()
    head = rows[0].split("\t")
    return {r.split("\t")[0]: dict(zip(head, r.split("\t"))) for r in rows[1:]}


def resample(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SR:
        return x
    from math import gcd
    from scipy.signal import resample_poly
    g = gcd(sr, SR)
    return resample_poly(x, SR // g, sr // g)


def read(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float64", always_2d=True)
    return resample(x.mean(axis=1), sr)


def write(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(x, -1, 1), SR, format="FLAC", subtype="PCM_16")


def main(shared: Path) -> None:
    man = manifest(shared)
    licences = []  # (shipped file, source, licence, attribution)
    # ---- speech: LibriSpeech test-other, 10 speakers
    texts = {}
    for line in shared.joinpath("transcripts.tsv").read_text().splitlines()[1:]:
        p = line.split("\t")
        texts[p[0]] = p[4]
    by_spk: dict[str, list] = {}
    for path, row in man.items():
        if path.startswith("speech/librispeech-test-other-10spk/") and MIN_S <= float(row["duration_s"]) <= MAX_S:
            by_spk.setdefault(path.split("/")[2], []).append(path)
    tsv = ["utt_id\tspeaker\tduration_s\ttext"]
    for spk in sorted(by_spk):
        for path in sorted(by_spk[spk])[:PER_SPEAKER]:
            utt = Path(path).stem
            x = read(shared / path)
            rel = f"speech/{spk}/{utt}.flac"
            write(OUT / rel, x)
            tsv.append(f"{utt}\t{spk}\t{len(x) / SR:.3f}\t{texts[path]}")
            licences.append((rel, f"LibriSpeech test-other {utt} (openslr.org/12)", "CC BY 4.0",
                             "Panayotov, Chen, Povey, Khudanpur: LibriSpeech (2015), from LibriVox public-domain "
                             "audiobooks; transcript from facebookresearch/fbai-speech (MIT)"))
    (OUT / "speech" / "transcripts.tsv").write_text("\n".join(tsv) + "\n")
    # ---- noise: real recordings + LibriSpeech babble of non-test speakers
    for name, (start, secs) in NOISES.items():
        src = f"noise/speech_commands_bg/{name}.wav"
        x = read(shared / src)[int(start * SR): int((start + secs) * SR)]
        write(OUT / f"noise/{name}.flac", x / max(1e-9, np.max(np.abs(x))) * 0.5)
        licences.append((f"noise/{name}.flac", f"Google Speech Commands v0.02 _background_noise_/{name}.wav, "
                         f"{start:g}-{start + secs:g} s, peak-normalised", "CC BY 4.0",
                         "Pete Warden, Speech Commands (2017), recorded by Pete Warden"))
    talkers = sorted(p for p in man if p.startswith("speech/librispeech_train_clean_100/"))[:BABBLE_TALKERS]
    n = int(BABBLE_S * SR)
    mix = np.zeros(n)
    for k, p in enumerate(talkers):
        x = read(shared / p)
        x = np.tile(x, int(np.ceil(n / len(x))) + 1)
        x = np.roll(x, k * SR // 3)[:n]
        mix += x / (np.std(x) + 1e-9)
    write(OUT / "noise/librispeech_babble.flac", mix / np.max(np.abs(mix)) * 0.5)
    licences.append(("noise/librispeech_babble.flac",
                     "sum of LibriSpeech train-clean-100 utterances " + ", ".join(Path(p).stem for p in talkers)
                     + f" (each RMS-normalised, looped to {BABBLE_S:g} s, offset by k/3 s)", "CC BY 4.0",
                     "Panayotov et al.: LibriSpeech (2015); speakers not in the test set"))
    # ---- RIRs
    write(OUT / "rir/clap_seminar_room.flac", read(shared / "rir/spatialaudio/rir_clap.wav"))
    licences.append(("rir/clap_seminar_room.flac", "spatialaudio rir_clap.wav (clap in a seminar room), "
                     "resampled 44.1 -> 16 kHz", "CC0 1.0", "spatialaudio project (no attribution required)"))
    for k in range(1, 5):
        write(OUT / f"rir/speechbrain_rir{k}.flac", read(shared / f"rir/speechbrain/rir{k}.wav"))
        licences.append((f"rir/speechbrain_rir{k}.flac", f"speechbrain test fixture samples/rir_samples/rir{k}.wav",
                         "Apache-2.0", "SpeechBrain authors (speechbrain/speechbrain repository)"))
    lines = ["Data shipped in codec_conformance/data/shipped/ (built by scripts/build_shipped_data.py).",
             "Only openly licensed material that allows commercial use is shipped; RAVDESS (CC BY-NC-SA)",
             "and ESC-50 (CC BY-NC) are never shipped.", "",
             "Licences: CC BY 4.0 https://creativecommons.org/licenses/by/4.0/ ;",
             "CC0 1.0 https://creativecommons.org/publicdomain/zero/1.0/ ;",
             "Apache-2.0 https://www.apache.org/licenses/LICENSE-2.0", "",
             "Changes: resampled to 16 kHz mono, stored as 16-bit FLAC; noise excerpts cut and",
             "peak-normalised; the babble is a sum of utterances (described per file).", "",
             "file\tsource\tlicence\tattribution"]
    lines += ["\t".join(r) for r in licences]
    (OUT / "DATA_LICENSES").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data")
