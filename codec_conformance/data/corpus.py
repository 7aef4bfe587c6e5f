"""Speech corpora, noise and RIR banks.

A corpus is a list of :class:`Utterance` at one sample rate (16 kHz for evaluation). Sources:
- ``embedded``: synthesized with eSpeak NG (package ``espeakng-loader``), distinct voices as
  speakers, Harvard sentences as transcripts; deterministic and cached on disk. Synthetic.
- a directory in LibriSpeech layout (``speaker/chapter/*.flac`` + ``*.trans.txt``),
- a directory of speaker sub-folders (transcripts from ``transcripts.tsv``/``.txt`` side files
  when present; otherwise WER is measured against the ASR of the clean signal, and said so),
- a RAVDESS directory (emotion and actor parsed from the file name).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import BadAudioError, ConformanceError, check_regular_file
from ..fetch import cache_root
from .audio import active_rms, content_hash, db, load_audio, resample
from .harvard import SENTENCES
from .tts import Voice, synthesize

EVAL_SR = 16000
AUDIO_EXT = {".wav", ".flac", ".ogg", ".mp3"}
RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                    "06": "fearful", "07": "disgust", "08": "surprised"}


@dataclass
class Utterance:
    id: str
    speaker: str
    audio: np.ndarray          # float32 mono at Corpus.sample_rate
    transcript: str | None = None
    emotion: str | None = None
    path: str | None = None
    speech_level_dbfs: float | None = None  # active level (measured when its Corpus is built)
    silent: str | None = None              # why the item has no measurable speech; None = speech


# An item is near-silent, hence undefined for every measurement of speech, when its active level
# (RMS of the 20-ms frames within 40 dB of its loudest frame) is below MIN_SPEECH_LEVEL_DBFS, or
# when less than MIN_ACTIVE_S of it is active (a click in silence).
MIN_SPEECH_LEVEL_DBFS = -60.0
MIN_ACTIVE_S = 0.1


def silence_reason(x: np.ndarray, sr: int) -> tuple[float, str | None]:
    """(active level in dBFS, reason the signal holds no measurable speech or None)."""
    level = db(active_rms(x, sr))
    if not np.any(x):
        return level, "digital silence (every sample is 0)"
    if level < MIN_SPEECH_LEVEL_DBFS:
        return level, f"near-silent: active level {level:.1f} dBFS < {MIN_SPEECH_LEVEL_DBFS:g} dBFS"
    n = max(1, int(sr * 0.02))
    if len(x) < n:
        active_s = len(x) / sr
    else:
        e = np.mean(np.asarray(x[: len(x) // n * n], np.float64).reshape(-1, n) ** 2, axis=1)
        active_s = float(np.sum(e >= e.max() * 1e-4)) * n / sr
    if active_s < MIN_ACTIVE_S:
        return level, f"near-silent: only {active_s * 1000:.0f} ms within 40 dB of its loudest frame"
    return level, None


@dataclass
class Corpus:
    name: str
    items: list[Utterance]
    sample_rate: int = EVAL_SR
    synthetic: bool = False
    description: str = ""
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # file that could not be read -> why

    def __post_init__(self) -> None:
        for u in self.items:
            if u.speech_level_dbfs is None:
                u.speech_level_dbfs, u.silent = silence_reason(u.audio, self.sample_rate)

    @property
    def speech_items(self) -> list[Utterance]:
        """The items that hold measurable speech (near-silent ones are undefined for the metrics)."""
        return [u for u in self.items if u.silent is None]

    @property
    def has_transcripts(self) -> bool:
        return all(u.transcript for u in self.items)

    @property
    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self.items})

    def subset(self, n_speakers: int | None, n_per_speaker: int | None) -> "Corpus":
        """Deterministic subset: the first speakers (sorted) and their first utterances (by id)."""
        by_spk: dict[str, list[Utterance]] = {}
        for u in sorted(self.items, key=lambda u: u.id):
            by_spk.setdefault(u.speaker, []).append(u)
        spk = sorted(by_spk)[: n_speakers or None]
        items = [u for s in spk for u in by_spk[s][: n_per_speaker or None]]
        return Corpus(self.name, items, self.sample_rate, self.synthetic, self.description,
                      list(self.notes), dict(self.skipped))

    def to_info(self) -> dict[str, Any]:
        silent = {u.id: u.silent for u in self.items if u.silent is not None}
        return {"name": self.name, "synthetic": self.synthetic, "n_items": len(self.items),
                "n_speakers": len(self.speakers), "sample_rate": self.sample_rate,
                "transcripts": "reference" if self.has_transcripts else "clean-asr",
                "description": self.description, "notes": self.notes,
                "n_skipped": len(self.skipped), "skipped": dict(self.skipped),
                "n_silent": len(silent), "silent": silent}


# --------------------------------------------------------------------------- embedded (TTS)
EMBEDDED_VOICES = [
    # name, espeak voice, rate (wpm), pitch, pitch range
    ("spk0-us-m", "en-us", 150, 45, 50),
    ("spk1-us-f", "en-us+f3", 160, 60, 60),
    ("spk2-gb-m", "en+m3", 145, 35, 40),
    ("spk3-us-f", "en-us+f2", 170, 70, 55),
    ("spk4-gb-m", "en+m7", 155, 40, 60),
    ("spk5-gb-f", "en+f4", 150, 65, 45),
]
EMBEDDED_VERSION = 1


def _embedded_spec(n_speakers: int, n_per_speaker: int) -> list[dict[str, Any]]:
    if n_speakers > len(EMBEDDED_VOICES):
        raise ConformanceError(f"the embedded corpus has {len(EMBEDDED_VOICES)} voices; asked for {n_speakers}")
    spec = []
    for s, (name, voice, rate, pitch, prange) in enumerate(EMBEDDED_VOICES[:n_speakers]):
        for k in range(n_per_speaker):
            text = SENTENCES[(s * 7 + k) % len(SENTENCES)]  # each voice its own sentence order
            spec.append({"id": f"{name}-h{(s * 7 + k) % len(SENTENCES):02d}", "speaker": name,
                         "voice": voice, "rate": rate, "pitch": pitch, "range": prange, "text": text})
    return spec


def _build_embedded(spec: list[dict[str, Any]], out_dir: Path) -> None:
    """Synthesize ``spec`` in order in a fresh process (eSpeak carries state between calls, so a
    fixed order in a fresh process is what makes the audio bit-exact on every machine)."""
    import soundfile as sf

    out_dir.mkdir(parents=True, exist_ok=True)
    for it in spec:
        x, sr = synthesize(it["text"], Voice(it["speaker"], it["voice"], it["rate"], it["pitch"], it["range"]))
        y = resample(x, sr, EVAL_SR)
        y = y / max(1e-6, float(np.max(np.abs(y)))) * 10 ** (-3 / 20)  # peak -3 dBFS
        tmp = out_dir / (it["id"] + ".tmp.wav")
        sf.write(str(tmp), y, EVAL_SR, subtype="FLOAT")
        os.replace(tmp, out_dir / (it["id"] + ".wav"))
    (out_dir / "spec.json").write_text(json.dumps(spec, indent=1))


def load_embedded(n_speakers: int = 4, n_per_speaker: int = 3, cache_dir: Path | None = None) -> Corpus:
    spec = _embedded_spec(n_speakers, n_per_speaker)
    key = content_hash(EMBEDDED_VERSION, json.dumps(spec, sort_keys=True))[:16]
    d = (cache_dir or cache_root("cc")) / "corpus" / f"embedded-{key}"
    if not (d / "spec.json").is_file():
        tmp = d.with_name(d.name + f".tmp{os.getpid()}")
        proc = subprocess.run([sys.executable, "-m", "codec_conformance.data.corpus", str(tmp)],
                              input=json.dumps(spec), text=True, capture_output=True)
        if proc.returncode != 0:
            raise ConformanceError(f"building the embedded corpus failed:\n{proc.stderr[-2000:]}")
        try:
            os.replace(tmp, d)
        except OSError:  # another worker finished first
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    items: list[Utterance] = []
    for it in spec:
        x, _ = load_audio(d / (it["id"] + ".wav"))
        items.append(Utterance(it["id"], it["speaker"], x, transcript=it["text"], path=str(d / (it["id"] + ".wav"))))
    return Corpus("embedded-espeak", items, EVAL_SR, synthetic=True,
                  description=f"SYNTHETIC speech: eSpeak NG, {n_speakers} voices x {n_per_speaker} Harvard sentences")


# --------------------------------------------------------------------------- real corpora
def read_transcripts_tsv(path: Path) -> dict[str, str]:
    """A TSV with a header naming an id column (``utt_id`` or ``local_path``) and a text column
    (``text`` or ``transcript``); ``UNKNOWN`` or empty text is skipped."""
    check_regular_file(path, ConformanceError, "a transcripts TSV file")
    lines = Path(path).read_text().splitlines()
    if not lines:
        return {}
    head = lines[0].split("\t")
    id_col = next((head.index(c) for c in ("utt_id", "id", "local_path") if c in head), 0)
    tx_col = next((head.index(c) for c in ("text", "transcript") if c in head), len(head) - 1)
    out: dict[str, str] = {}
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) <= max(id_col, tx_col):
            continue
        text = parts[tx_col].strip()
        if text and not text.startswith("UNKNOWN"):
            out[Path(parts[id_col]).stem] = text
    return out


def _read_transcripts(root: Path, extra: Sequence[Path] = ()) -> dict[str, str]:
    """Map utterance id -> text from LibriSpeech ``*.trans.txt`` and ``transcripts.tsv`` files."""
    out: dict[str, str] = {}
    for f in root.rglob("*.trans.txt"):
        check_regular_file(f, ConformanceError, "a LibriSpeech *.trans.txt file")
        for line in f.read_text().splitlines():
            if " " in line:
                k, v = line.split(" ", 1)
                out[k] = v.strip()
    for f in [*root.rglob("transcripts.tsv"), *extra]:
        out.update(read_transcripts_tsv(f))
    return out


def find_audio(root: Path) -> tuple[list[Path], dict[str, str]]:
    """(audio files under ``root``, sorted; folders that could not be listed -> why).

    ``Path.rglob`` skips a folder it may not read without a word; this names it."""
    files: list[Path] = []
    problems: dict[str, str] = {}

    def onerror(exc: OSError) -> None:
        problems[str(exc.filename)] = f"folder cannot be listed: {exc.strerror or exc}"

    for d, _, names in os.walk(root, onerror=onerror, followlinks=True):
        files += [Path(d) / n for n in names if Path(n).suffix.lower() in AUDIO_EXT]
    return sorted(files), problems


def load_folder(root: str | Path, sample_rate: int = EVAL_SR, transcripts: str | Path | None = None) -> Corpus:
    """LibriSpeech layout or any folder of speaker sub-folders (speaker = first-level folder).

    Transcripts come from ``*.trans.txt`` / ``transcripts.tsv`` under ``root``, or from the TSV
    file ``transcripts`` (or a ``transcripts.tsv`` in a parent folder up to 3 levels up).
    Files and folders that cannot be read are skipped and named in ``Corpus.skipped``."""
    root = Path(root)
    if not root.is_dir():
        raise ConformanceError(f"corpus directory not found: {root} (pass --codec-corpus DIR)")
    files, skipped = find_audio(root)
    if not files:
        raise ConformanceError(f"no audio files ({', '.join(sorted(AUDIO_EXT))}) under {root}"
                               + (f"; unreadable: {skipped}" if skipped else ""))
    extra = [Path(transcripts)] if transcripts else [
        q / "transcripts.tsv" for q in list(root.resolve().parents)[:3] if (q / "transcripts.tsv").is_file()]
    texts = _read_transcripts(root, extra)
    notes: list[str] = []
    items: list[Utterance] = []
    for p in files:
        rel = p.relative_to(root)
        speaker = rel.parts[0] if len(rel.parts) > 1 else re.split(r"[-_]", p.stem)[0]
        try:
            x, _ = load_audio(p, sample_rate, notes=notes)
        except BadAudioError as exc:  # unreadable, truncated, not audio, empty: counted, named
            skipped[str(p)] = str(exc)
            continue
        items.append(Utterance(p.stem, speaker, x, transcript=texts.get(p.stem), path=str(p)))
    if not items:
        raise ConformanceError(f"none of the {len(files)} audio files under {root} can be read; e.g. "
                               + "; ".join(list(skipped.values())[:3]))
    if any(u.transcript is None for u in items) and any(u.transcript for u in items):
        notes.append(f"{sum(u.transcript is None for u in items)} of {len(items)} files have no transcript")
    return Corpus(root.name, items, sample_rate, synthetic=False, description=f"speech from {root}",
                  notes=sorted(set(notes))[:20], skipped=skipped)


def load_ravdess(root: str | Path, sample_rate: int = EVAL_SR) -> Corpus:
    """RAVDESS: ``03-01-EE-II-SS-RR-AA.wav``; emotion EE, actor AA (speech only, modality 03)."""
    root = Path(root)
    files, skipped = find_audio(root) if root.is_dir() else ([], {})
    items: list[Utterance] = []
    notes: list[str] = []
    for p in files:
        parts = p.stem.split("-")
        if p.suffix.lower() != ".wav" or len(parts) != 7 or parts[0] != "03" or parts[2] not in RAVDESS_EMOTIONS:
            continue
        try:
            x, _ = load_audio(p, sample_rate, notes=notes)
        except BadAudioError as exc:  # counted and named, as in load_folder
            skipped[str(p)] = str(exc)
            continue
        items.append(Utterance(p.stem, f"actor{parts[6]}", x, emotion=RAVDESS_EMOTIONS[parts[2]], path=str(p)))
    if not items:
        raise ConformanceError(f"no readable RAVDESS speech files (03-01-EE-II-SS-RR-AA.wav) under {root}"
                               + (f"; unreadable: {skipped}" if skipped else ""))
    return Corpus("ravdess", items, sample_rate, description=f"RAVDESS speech from {root}",
                  notes=sorted(set(notes))[:5], skipped=skipped)


class AudioBank:
    """A folder of noise recordings or room impulse responses, loaded at one sample rate."""

    def __init__(self, name: str, signals: dict[str, np.ndarray], sample_rate: int, source: str,
                 skipped: dict[str, str] | None = None) -> None:
        if not signals:
            raise ConformanceError(f"{name}: no readable audio in {source}" + (f"; {skipped}" if skipped else ""))
        self.name, self.signals, self.sample_rate, self.source = name, signals, sample_rate, source
        self.skipped = dict(skipped or {})  # file (relative to source) that could not be read -> why

    @classmethod
    def from_dir(cls, root: str | Path, sample_rate: int = EVAL_SR, kind: str = "noise") -> "AudioBank":
        """Every readable audio file under ``root``; the others are skipped and named in ``skipped``."""
        root = Path(root)
        if not root.is_dir():
            raise ConformanceError(f"{kind} directory not found: {root}")
        files, problems = find_audio(root)
        sig: dict[str, np.ndarray] = {}
        skipped = {str(Path(k).relative_to(root)): v for k, v in problems.items()}
        for p in files:
            try:
                sig[str(p.relative_to(root))], _ = load_audio(p, sample_rate)
            except BadAudioError as exc:
                skipped[str(p.relative_to(root))] = str(exc)
        return cls(kind, sig, sample_rate, str(root), skipped)

    def names(self) -> list[str]:
        return sorted(self.signals)


def babble_bank(corpus: Corpus, n_talkers: int = 4, seconds: float = 8.0) -> AudioBank:
    """Default ambient noise when no noise folder is given: babble of the corpus' own voices."""
    n = int(seconds * corpus.sample_rate)
    by_spk: dict[str, list[np.ndarray]] = {}
    for u in corpus.items:
        by_spk.setdefault(u.speaker, []).append(u.audio)
    out = np.zeros(n, dtype=np.float64)
    for k, spk in enumerate(sorted(by_spk)[:n_talkers]):
        stream = np.concatenate(by_spk[spk] * (1 + n // max(1, sum(len(a) for a in by_spk[spk]))))
        stream = np.roll(stream, k * corpus.sample_rate // 3)[:n]
        out[: len(stream)] += stream / (np.std(stream) + 1e-9)
    return AudioBank("babble", {"babble": (out / np.max(np.abs(out)) * 0.5).astype(np.float32)},
                     corpus.sample_rate, f"babble of {min(n_talkers, len(by_spk))} voices of {corpus.name}")


if __name__ == "__main__":  # fresh-process builder used by load_embedded
    _build_embedded(json.loads(sys.stdin.read()), Path(sys.argv[1]))
