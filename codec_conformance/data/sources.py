"""Corpora by name: ``--codec-corpus librispeech:test-clean``, ``--codec-emotion-corpus ravdess``,
``--codec-noise-dir wham`` download the official archive once into
``~/.cache/codec-conformance/data/`` (through :mod:`codec_conformance.fetch`: verified, atomic,
resumable, offline/mirror honoured) and extract it beside the archive; the option then means that
folder. A name from this table always means the download: a local folder called ``wham`` is
``./wham``.

Checksums: LibriSpeech's SHA-256 are torchaudio's (``torchaudio.datasets.librispeech._CHECKSUMS``);
RAVDESS's MD5 is the one Zenodo lists for the file (record 1188976); WHAM! publishes none, so its
SHA-256 is recorded on first download and checked on every later use.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..fetch import Source, ensure_extracted, extracted_dir
from ..settings import Settings

_OPENSLR = "https://www.openslr.org/resources/12/"


@dataclass(frozen=True)
class NamedData:
    source: Source
    subdir: str        # the folder inside the archive the option points at
    what: str


NAMED = {
    "librispeech:test-clean": NamedData(
        Source(_OPENSLR + "test-clean.tar.gz", "cc:data/librispeech/test-clean.tar.gz",
               "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23"),
        "LibriSpeech/test-clean", "LibriSpeech test-clean (OpenSLR 12, 346 MB)"),
    "librispeech:dev-clean": NamedData(
        Source(_OPENSLR + "dev-clean.tar.gz", "cc:data/librispeech/dev-clean.tar.gz",
               "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3"),
        "LibriSpeech/dev-clean", "LibriSpeech dev-clean (OpenSLR 12, 337 MB)"),
    "ravdess": NamedData(
        Source("https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip",
               "cc:data/ravdess/Audio_Speech_Actors_01-24.zip", md5="bc696df654c87fed845eb13823edef8a"),
        "", "RAVDESS speech, 24 actors (Zenodo 1188976, 208 MB)"),
    "wham": NamedData(
        Source("https://my-bucket-a8b4b49c25c811ee9a7e8bba05fa24c7.s3.amazonaws.com/wham_noise.zip",
               "cc:data/wham/wham_noise.zip"),
        "wham_noise/tt", "WHAM! noise, test split (the archive is 17 GB)"),
}
# which option may name which corpora
OPTION_NAMES = {"corpus": ("librispeech:test-clean", "librispeech:dev-clean"),
                "emotion_corpus": ("ravdess",), "noise_dir": ("wham",)}




def is_named(value: object) -> bool:
    return isinstance(value, str) and value in NAMED


def folder(name: str) -> Path:
    """Where the named corpus is (or will be) extracted; nothing is downloaded."""
    d = NAMED[name]
    dest = extracted_dir(d.source)
    return dest / d.subdir if d.subdir else dest


def obtain(name: str) -> Path:
    """The extracted folder of a named corpus, downloaded and extracted first when needed."""
    d = NAMED[name]
    return ensure_extracted(d.source, f"{name} ({d.what})", d.subdir)


def folder_of(settings: Settings, option: str) -> Path | None:
    """The folder an audio-folder option means: a named corpus's extracted folder (see NAMED), or
    the path given (relative to the project)."""
    value = getattr(settings, option)
    if is_named(value) and value in OPTION_NAMES.get(option, ()):
        return folder(value)
    return settings.path(value)
