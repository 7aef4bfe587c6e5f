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
