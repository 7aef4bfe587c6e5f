"""Speech synthesis with eSpeak NG through ctypes.

The shared library and its voice data come from the PyPI package ``espeakng-loader`` (no system
install, no download). Output is deterministic for a given text, voice and parameters.
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import EvaluatorUnavailable

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4}

_lock = threading.Lock()
_lib = None
_sample_rate = 0
_chunks: list[np.ndarray] = []

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@_CALLBACK
def _on_audio(wav, n, _events):
    if n > 0 and wav:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
    return 0


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an eSpeak voice (+variant) with prosody settings."""

    name: str          # speaker id in the corpus
    espeak_voice: str  # e.g. "en-us+f3"
    rate_wpm: int = 160
    pitch: int = 50    # 0..99
    pitch_range: int = 50


def _load():
    global _lib, _sample_rate
    if _lib is not None:
        return _lib
    try:
        import espeakng_loader
    except ImportError:
        raise EvaluatorUnavailable(
            "the embedded corpus needs eSpeak NG: pip install espeakng-loader (ships the library "
            "and its data), or pass --codec-corpus DIR with your own speech") from None
    lib = ctypes.CDLL(str(espeakng_loader.get_library_path()))
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    data_dir = str(espeakng_loader.get_data_path())
    parent = data_dir.rsplit("/", 1)[0]
    sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, parent.encode(), 0)
    if sr <= 0:
        raise EvaluatorUnavailable(f"eSpeak NG failed to initialise with data in {data_dir}")
    lib.espeak_SetSynthCallback(_on_audio)
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    _lib, _sample_rate = lib, sr
    return lib


def synthesize(text: str, voice: Voice, seed: int = 0) -> tuple[np.ndarray, int]:
    """Return (float32 mono audio, sample rate) for ``text`` spoken by ``voice``; deterministic."""
    with _lock:
        lib = _load()
        if lib.espeak_SetVoiceByName(voice.espeak_voice.encode()) != 0:
            raise EvaluatorUnavailable(f"eSpeak NG has no voice {voice.espeak_voice!r}")
        lib.espeak_SetParameter(_PARAM["rate"], voice.rate_wpm, 0)
        lib.espeak_SetParameter(_PARAM["pitch"], voice.pitch, 0)
        lib.espeak_SetParameter(_PARAM["range"], voice.pitch_range, 0)
        _chunks.clear()
        lib.espeak_ng_SetRandSeed(seed)  # eSpeak adds random flutter/noise: fix it
        raw = text.encode("utf-8") + b"\x00"
        err = lib.espeak_Synth(raw, len(raw), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        if err != 0 or not _chunks:
            raise EvaluatorUnavailable(f"eSpeak NG produced no audio for {text!r} (error {err})")
        pcm = np.concatenate(_chunks)
        _chunks.clear()
    return (pcm.astype(np.float32) / 32768.0), _sample_rate
