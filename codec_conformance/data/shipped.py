"""The real recordings shipped inside the package: the default corpus, noise and RIRs.

``shipped/`` (built by ``scripts/build_shipped_data.py``; sources, licences and attribution of
every file in ``shipped/DATA_LICENSES``):
- ``speech/``: 53 LibriSpeech test-other utterances (2.5-8 s) of 10 speakers with their reference
  transcripts (CC BY 4.0), 16 kHz FLAC;
- ``noise/``: four real background recordings of Google Speech Commands (dishes, running tap,
  exercise bike, cat; CC BY 4.0) and babble of six LibriSpeech train-clean-100 speakers who are
  not test speakers (CC BY 4.0);
- ``rir/``: a measured clap RIR of a seminar room (CC0) and four SpeechBrain RIRs (Apache-2.0).
Nothing is downloaded; the eSpeak corpus stays available as ``--codec-corpus=synthetic``.
"""
from __future__ import annotations

from pathlib import Path

from .corpus import EVAL_SR, AudioBank, Corpus, load_folder

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
SHIPPED_NAME = "librispeech-test-other-shipped"
SYNTHETIC = "synthetic"  # --codec-corpus value that selects the eSpeak NG corpus


def load_shipped_speech(n_speakers: int | None = None, n_per_speaker: int | None = None) -> Corpus:
    """The shipped LibriSpeech corpus, or its deterministic subset (first speakers by id, their
    first utterances by id)."""
    full = load_folder(SHIPPED_DIR / "speech", EVAL_SR, transcripts=SHIPPED_DIR / "speech" / "transcripts.tsv")
    full.name = SHIPPED_NAME
    sub = full.subset(n_speakers, n_per_speaker)
    sub.description = (f"real speech: LibriSpeech test-other (CC BY 4.0, shipped in the package), "
                       f"{len(sub.speakers)} speakers x up to {n_per_speaker or 'all'} utterances "
                       "with reference transcripts")
    return sub


def shipped_noise_bank() -> AudioBank:
    bank = AudioBank.from_dir(SHIPPED_DIR / "noise", EVAL_SR, kind="noise")
    bank.source = ("shipped real noise: Speech Commands background recordings (CC BY 4.0) and babble of "
                   "LibriSpeech non-test speakers (CC BY 4.0)")
    return bank


def shipped_rir_dir() -> Path:
    return SHIPPED_DIR / "rir"


def shipped_rir_bank() -> AudioBank:
    bank = AudioBank.from_dir(shipped_rir_dir(), EVAL_SR, kind="rir")
    bank.source = "shipped measured RIRs: clap in a seminar room (CC0), SpeechBrain RIRs (Apache-2.0)"
    return bank
