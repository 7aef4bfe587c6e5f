"""Lyra v2 (Google, 2022): a trained SoundStream-type neural speech codec, run offline.

Convolutional encoder, residual vector quantizer of 46 stages with 4-bit (16-entry) codebooks and
a GAN decoder; 16 kHz mono, one 64-dimensional frame per 320 samples (50 frames/s). The three
operating points use the first k = 16 / 30 / 46 quantizers: R = 50 * k * 4 bit/s = 3.2 / 6.0 /
9.2 kbps (paper eq. 1 with C = 16).

The trained models ship inside this package (``lyra_v2/``: ``soundstream_encoder.tflite``,
``quantizer.tflite``, ``lyragan.tflite``, ``lyra_config.binarypb``, Apache-2.0 ``LICENSE``),
unchanged copies from GitHub ``google/lyra`` commit 47698dadf0010abff6a848e02642f55f806d4842
(release 1.3.2, ``lyra/model_coeffs/``); see ``NOTICE`` at the repository root. Their SHA-256s
are pinned below and checked when the codec is built; they run with ``ai-edge-litert`` (TFLite),
no pickle and no C++.

As the C++ library does: input samples go through 16-bit PCM (clipped to [-1, 1), rounded to
1/32768 steps) and the decoded float output is clipped and rounded back to 16 bits. The encoder
and decoder are streaming graphs: their state lives in TFLite *resource* variables (VAR_HANDLE /
ASSIGN_VARIABLE, initialised by a CALL_ONCE subgraph), which ``Interpreter.reset_all_variables()``
does not touch (measured with ai-edge-litert 2.3.0: after it, the output continues the previous
stream exactly). So every utterance gets a fresh encoder and decoder interpreter, built from the
model bytes read and verified once per codec object (about 40 ms per utterance), which is what
the C++ library does by creating one encoder/decoder per stream. The quantizer is stateless and
built once.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CodecError
from .base import BaseCodec

MODEL_DIR = Path(__file__).resolve().parent / "lyra_v2"
MODEL_SHA256 = {
    "soundstream_encoder.tflite": "237da0b16226fb0a68d49551c81bebf614e42142af72764448359f68581e88f1",
    "quantizer.tflite": "841ee05989687d32d1f616a8ad1419fc7eda37599d3c05c7cf5a0d60ccf8ac5c",
    "lyragan.tflite": "50e7839cda4f30599a3a34cfaddcd9c98449b049eee884e1a74295780448ad06",
    "lyra_config.binarypb": "2d88972e9536ba54deed37db380728b3c58eab9bca1d173ae523098b0774cdf5",
}
HOP = 320                 # samples per frame at 16 kHz (50 frames/s)
FEATURES = 64             # encoder output / decoder input dimension
MAX_QUANTIZERS = 46       # quantizer slots of the graph
CODE_BITS = 4             # bits per quantizer (codebook size 16)
QUANTIZERS_AT = {3.2: 16, 6.0: 30, 9.2: 46}   # kbps -> quantizers used (64 / 120 / 184 bits per frame)
PCM_SCALE = 32768.0


def read_verified(model_dir: Path) -> dict[str, bytes]:
    """The bytes of every model file, each checked against its pinned SHA-256; a missing or
    altered file is a CodecError naming it."""
    found: dict[str, bytes] = {}
    for fname, want in MODEL_SHA256.items():
        p = model_dir / fname
        if not p.is_file():
            raise CodecError(f"lyra: model file {p} is missing; reinstall codec-conformance (it ships "
                             f"the Lyra v2 models in codec_conformance/codecs/lyra_v2/)")
        data = p.read_bytes()
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            raise CodecError(f"lyra: model file {p} has SHA-256 {got}, expected {want} (google/lyra "
                             "commit 47698dad); the file is corrupted or altered: reinstall codec-conformance")
        found[fname] = data
    return found


class LyraCodec(BaseCodec):
    name = "lyra"
    sample_rate = 16000
    bitrates_kbps = tuple(sorted(QUANTIZERS_AT))
    weights = "pretrained"
    version = "1"
    frame_rate = 16000 / HOP
    codebook_size = 2 ** CODE_BITS
    description = ("Lyra v2 (Google): trained SoundStream-type neural codec (conv encoder, 46-stage RVQ "
                   "of 4-bit codebooks, GAN decoder), 16 kHz, TFLite models shipped in the package")

    def __init__(self, model_dir: str | Path | None = None, weights: str = "pretrained",
                 checkpoint: str | None = None, config: str | None = None, **_: object) -> None:
        if checkpoint or config:
            raise CodecError("lyra: --codec-checkpoint/--codec-config are not used; the Lyra v2 models ship in "
                             "the package (drop the options)")
        if weights != "pretrained":
            raise CodecError(f"lyra: --codec-weights {weights!r} is not available; Lyra v2 ships its trained "
                             "weights only (drop the option)")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise CodecError(f"lyra needs the package ai-edge-litert (TFLite runtime): {exc}") from None
        self._Interpreter = Interpreter
        self.model_dir = Path(model_dir) if model_dir is not None else MODEL_DIR
        self._models = read_verified(self.model_dir)   # once per codec object
        self.model_sha256 = dict(MODEL_SHA256)          # verified equal
        self.checkpoint = str(self.model_dir)
        self.checkpoint_sha256 = MODEL_SHA256["soundstream_encoder.tflite"]
        quant = self._interpreter("quantizer.tflite")
        self._q_encode = quant.get_signature_runner("encode")
        self._q_decode = quant.get_signature_runner("decode")
        self._quant = quant

    def _interpreter(self, fname: str) -> Any:
        it = self._Interpreter(model_content=self._models[fname], num_threads=1)
        it.allocate_tensors()
        return it

    def _stream(self, fname: str) -> tuple[Any, int, int]:
        """A streaming graph in its initial state (a new utterance): a fresh interpreter, since
        reset_all_variables() leaves TFLite resource variables as they are."""
        it = self._interpreter(fname)
        return it, it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]

    def cache_identity(self) -> tuple[object, ...]:
        return (self.name, self.version, tuple(sorted(self.model_sha256.items())))

    def quantizers_at(self, bitrate_kbps: float) -> int:
        return QUANTIZERS_AT[self.check_bitrate(bitrate_kbps)]

    # ---- codes ------------------------------------------------------------------------------
    def encode(self, audio: Any, bitrate_kbps: float) -> np.ndarray:
        """audio float [batch, samples] at 16 kHz -> codes int32 [batch, n_q, frames] in 0..15,
        frames = ceil(samples / 320) (the last frame zero-padded)."""
        batch = self._as_batch(audio)
        n_q = self.quantizers_at(bitrate_kbps)
        n_frames = max(1, -(-batch.shape[1] // HOP))
        pcm = np.zeros((batch.shape[0], n_frames * HOP), np.float32)
        pcm[:, :batch.shape[1]] = np.round(np.clip(batch, -1.0, 1.0 - 1.0 / PCM_SCALE) * PCM_SCALE) / PCM_SCALE
        codes = np.empty((batch.shape[0], n_q, n_frames), np.int32)
        nq = np.int32(n_q)
        for b in range(batch.shape[0]):
            enc, enc_in, enc_out = self._stream("soundstream_encoder.tflite")
            for t in range(n_frames):
                enc.set_tensor(enc_in, pcm[b:b + 1, t * HOP:(t + 1) * HOP])
                enc.invoke()
                feat = enc.get_tensor(enc_out)
                codes[b, :, t] = self._q_encode(input_frames=feat, num_quantizers=nq)["output_0"][:n_q, 0, 0]
        return codes

    token_hop = HOP

    def decode(self, codes: Any, bitrate_kbps: float | None = None) -> np.ndarray:
        """codes int [batch, n_q, frames] (n_q of this bitrate, or of any operating point when no
        bitrate is given; -1 marks an unused quantizer) -> audio float32 [batch, frames * 320] on
        the 16-bit grid."""
        codes = np.asarray(codes)
        if bitrate_kbps is None:
            by_n_q = {n: br for br, n in QUANTIZERS_AT.items()}
            if codes.ndim != 3 or codes.shape[1] not in by_n_q:
                raise CodecError(f"lyra: decode takes codes [batch, n_q, frames] with n_q in {sorted(by_n_q)}, "
                                 f"got shape {codes.shape}")
            bitrate_kbps = by_n_q[codes.shape[1]]
        n_q = self.quantizers_at(bitrate_kbps)
        if codes.ndim != 3 or codes.shape[1] != n_q or codes.shape[2] < 1:
            raise CodecError(f"lyra: decode at {bitrate_kbps:g} kbps takes codes [batch, {n_q}, frames>=1], "
                             f"got shape {codes.shape}")
        if not np.issubdtype(codes.dtype, np.integer) or codes.min() < -1 or codes.max() >= self.codebook_size:
            raise CodecError(f"lyra: codes must be integers in 0..{self.codebook_size - 1} (or -1 for an unused "
                             f"quantizer), got dtype {codes.dtype}, range {codes.min()}..{codes.max()}")
        n_frames = codes.shape[2]
        out = np.empty((codes.shape[0], n_frames * HOP), np.float32)
        slots = np.full((MAX_QUANTIZERS, 1, 1), -1, np.int32)
        for b in range(codes.shape[0]):
            dec, dec_in, dec_out = self._stream("lyragan.tflite")
            for t in range(n_frames):
                slots[:n_q, 0, 0] = codes[b, :, t]
                feat = self._q_decode(encoding_indices=slots)["output_0"]
                dec.set_tensor(dec_in, feat)
                dec.invoke()
                out[b, t * HOP:(t + 1) * HOP] = dec.get_tensor(dec_out)[0]
        return np.round(np.clip(out, -1.0, 1.0 - 1.0 / PCM_SCALE) * PCM_SCALE) / PCM_SCALE

    # ---- round trip -------------------------------------------------------------------------
    def roundtrip_batch(self, batch: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        n = batch.shape[1]
        y = self.decode(self.encode(batch, bitrate_kbps), bitrate_kbps)
        return np.ascontiguousarray(y[:, :n]) if y.shape[1] >= n else np.pad(y, ((0, 0), (0, n - y.shape[1])))

    def _as_batch(self, audio: Any) -> np.ndarray:
        arr = np.asarray(audio, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] < 1:
            raise CodecError(f"lyra: encode takes audio [batch, samples] at 16 kHz, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise CodecError("lyra: input has NaN/Inf samples")
        return arr

    def info(self) -> dict[str, Any]:
        d = super().info()
        d.update({"frame_rate_hz": self.frame_rate, "codebook_size": self.codebook_size,
                  "quantizers_at_kbps": {f"{k:g}": v for k, v in QUANTIZERS_AT.items()},
                  "model_sha256": dict(self.model_sha256),
                  "bitrate_formula": "R = f_N * k * log2(C)"})
        return d
