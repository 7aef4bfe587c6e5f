"""Base class of the neural codec adapters: what every one of them shares."""
from __future__ import annotations

import contextlib

import numpy as np

from ..errors import CodecError
from .base import BaseCodec

# --codec-precision: torch autocast dtype (None: the model's own float32)
PRECISIONS = {"fp32": None, "fp16": "float16", "bf16": "bfloat16"}


class NeuralCodec(BaseCodec):
    """Subclasses set ``frame_rate``, ``codebook_size``, ``weights``, ``weights_fingerprint``
    (for random-init) and a lazy ``model`` property that loads the checkpoint and sets
    ``checkpoint_sha256``."""

    frame_rate: float = 0.0
    codebook_size: int = 1024
    weights_fingerprint: str | None = None
    precision: str = "fp32"
    supported_precisions = tuple(PRECISIONS)
    precision_note = ""

    def set_precision(self, precision: str) -> None:
        """fp32 (default), or fp16/bf16 mixed precision (``torch.autocast``) for the round trip."""
        if precision not in PRECISIONS:
            raise CodecError(f"{self.name}: precision {precision!r} unknown; use one of {', '.join(PRECISIONS)}")
        if precision not in self.supported_precisions:
            raise CodecError(f"{self.name} cannot run in {precision}: {self.precision_note or 'not supported'}; "
                             f"use one of {', '.join(self.supported_precisions)}")
        self.precision = precision

    def inference(self):
        """Context of every forward pass: no autograd, eval-mode model, and autocast to the chosen
        precision on the codec's device (fp16 on CPU is slow and meant for GPUs; bf16 works on both)."""
        import torch
        stack = contextlib.ExitStack()
        stack.enter_context(torch.no_grad())
        dtype = PRECISIONS[self.precision]
        if dtype is not None:
            kind = torch.device(self.device).type
            stack.enter_context(torch.autocast(kind, dtype=getattr(torch, dtype)))
        return stack

    def cache_identity(self):
        extra = () if self.precision == "fp32" else (self.precision,)  # fp32 keys are unchanged
        if self.weights == "random-init":
            return (self.name, self.version, self.weights_fingerprint, *extra)
        _ = self.model  # loads the checkpoint and computes its SHA-256
        return (self.name, self.version, self.checkpoint_sha256, *extra)

    def state_dict(self):
        return self.model.state_dict()

    # ---- codes (the tokens a speech LM sees) -----------------------------------------------
    token_hop: int = 0  # samples of ``sample_rate`` per code frame

    def encode(self, audio, bitrate_kbps: float) -> np.ndarray:
        """Codes ``[batch, n_q, frames]`` (int64) of float32 ``audio [batch, samples]`` at
        ``sample_rate``, at the operating point ``bitrate_kbps``; the input is zero-padded to
        whole frames."""
        import torch
        batch = np.atleast_2d(np.asarray(audio, dtype=np.float32))
        if batch.ndim != 2 or not np.all(np.isfinite(batch)):
            raise CodecError(f"{self.name}: encode takes finite audio [batch, samples], got shape {batch.shape}")
        br = self.check_bitrate(bitrate_kbps)
        x = torch.from_numpy(self.pad_to_hop(batch, self.token_hop)).to(self.device)
        with self.inference():
            codes = self.codes_of(x, br)
        return codes.detach().cpu().numpy().astype(np.int64)

    def decode(self, codes, bitrate_kbps: float | None = None) -> np.ndarray:
        """Audio ``[batch, frames * token_hop]`` (float32) from codes of :meth:`encode` (the number
        of code levels sets the bitrate; ``bitrate_kbps`` is accepted for the protocol's sake)."""
        import torch
        c = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.int64)).to(self.device)
        if c.ndim != 3:
            raise CodecError(f"{self.name}: decode takes codes [batch, n_q, frames], got shape {tuple(c.shape)}")
        with self.inference():
            y = self.audio_of(c)
        return self.fit(y, c.shape[-1] * self.token_hop)  # some decoders end a few samples short

    def codes_of(self, x, bitrate_kbps: float):
        """[batch, samples] float tensor (whole frames) -> [batch, n_q, frames] integer tensor."""
        raise NotImplementedError

    def audio_of(self, codes):
        """[batch, n_q, frames] integer tensor -> [batch, samples] float tensor."""
        raise NotImplementedError

    def codebooks_at(self, bitrate_kbps: float) -> int:
        """Inverse of R = f_N * k * log2(C)."""
        return max(1, int(round(bitrate_kbps * 1000 / (self.frame_rate * np.log2(self.codebook_size)))))

    @staticmethod
    def pad_to_hop(batch: np.ndarray, hop: int) -> np.ndarray:
        """Zero-pad [batch, samples] to whole frames (at least one)."""
        n = batch.shape[1]
        return np.pad(batch, ((0, 0), (0, max(hop, int(np.ceil(n / hop)) * hop) - n)))

    @staticmethod
    def fit(y, n: int) -> np.ndarray:
        """A [batch, samples] torch output trimmed/zero-padded to ``n`` samples, as float32 numpy."""
        y = y[:, :n].float().cpu().numpy()
        return np.pad(y, ((0, 0), (0, n - y.shape[1]))) if y.shape[1] < n else y

    def info(self) -> dict:
        d = super().info()
        d.update({"frame_rate_hz": self.frame_rate, "codebook_size": self.codebook_size, "precision": self.precision,
                  "bitrate_formula": "R = f_N * k * log2(C)"})
        return d
