"""Base class of the neural codec adapters: what every one of them shares."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CheckpointError, CodecError
from .base import BaseCodec

if TYPE_CHECKING:
    from torch import Tensor

# --codec-precision: torch autocast dtype (None: the model's own float32)
PRECISIONS: dict[str, str | None] = {"fp32": None, "fp16": "float16", "bf16": "bfloat16"}


class NeuralCodec(BaseCodec):
    """Subclasses set ``frame_rate``, ``codebook_size``, ``weights``, ``weights_fingerprint``
    (for random-init) and a lazy ``model`` property that loads the checkpoint and sets
    ``checkpoint_sha256``."""

    frame_rate: float = 0.0
    codebook_size: int = 1024
    weights_fingerprint: str | None = None
    precision: str = "fp32"
    supported_precisions: tuple[str, ...] = tuple(PRECISIONS)
    precision_note = ""

    def set_precision(self, precision: str) -> None:
        """fp32 (default), or fp16/bf16 mixed precision (``torch.autocast``) for the round trip."""
        if precision not in PRECISIONS:
            raise CodecError(f"{self.name}: precision {precision!r} unknown; use one of {', '.join(PRECISIONS)}")
        if precision not in self.supported_precisions:
            raise CodecError(f"{self.name} cannot run in {precision}: {self.precision_note or 'not supported'}; "
                             f"use one of {', '.join(self.supported_precisions)}")
        self.precision = precision

    def inference(self) -> contextlib.ExitStack:
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

    def cache_identity(self) -> tuple[object, ...]:
        extra = () if self.precision == "fp32" else (self.precision,)  # fp32 keys are unchanged
        if self.weights == "random-init":
            return (self.name, self.version, self.weights_fingerprint, *extra)
        _ = self.model  # loads the checkpoint and computes its SHA-256
        return (self.name, self.version, self.checkpoint_sha256, *extra)

    def state_dict(self) -> Any:
        return self.model.state_dict()

    if TYPE_CHECKING:  # declared for the type checker only: each adapter defines them
        @property
        def model(self) -> Any:
            """The torch module, loaded on first use (sets ``checkpoint_sha256``)."""

        @property
        def token_hop(self) -> int:
            """Samples of ``sample_rate`` per code frame (a class attribute or a property)."""
    else:
        # ---- codes (the tokens a speech LM sees) -------------------------------------------
        token_hop: int = 0  # samples of ``sample_rate`` per code frame

    def checkpoint_arg(self, checkpoint: str | None) -> str:
        """``checkpoint`` (the ``checkpoint`` parameter, ``--codec-checkpoint``) expanded, for
        ``weights='checkpoint'``, which needs one."""
        if not checkpoint:
            raise CheckpointError(f"{self.name}: weights 'checkpoint' need a checkpoint file (--codec-checkpoint PATH)")
        return str(Path(checkpoint).expanduser())

    def checkpoint_file(self) -> str:
        """``checkpoint`` of a codec whose weights are read from a file (every kind but
        random-init): set by the constructor for 'pretrained' and 'checkpoint'."""
        if self.checkpoint is None:
            raise CheckpointError(f"{self.name}: weights {self.weights!r} have no checkpoint file; use "
                                  "'pretrained', 'random-init' or a --codec-checkpoint PATH")
        return self.checkpoint

    def encode(self, audio: Any, bitrate_kbps: float) -> np.ndarray:
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

    def decode(self, codes: Any, bitrate_kbps: float | None = None) -> np.ndarray:
        """Audio ``[batch, frames * token_hop]`` (float32) from codes of :meth:`encode` (the number
        of code levels sets the bitrate; ``bitrate_kbps`` is accepted for the protocol's sake)."""
        import torch
        c = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.int64)).to(self.device)
        if c.ndim != 3:
            raise CodecError(f"{self.name}: decode takes codes [batch, n_q, frames], got shape {tuple(c.shape)}")
        with self.inference():
            y = self.audio_of(c)
        return self.fit(y, c.shape[-1] * self.token_hop)  # some decoders end a few samples short

    def codes_of(self, x: Tensor, bitrate_kbps: float) -> Tensor:
        """[batch, samples] float tensor (whole frames) -> [batch, n_q, frames] integer tensor."""
        raise NotImplementedError

    def audio_of(self, codes: Tensor) -> Tensor:
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
    def fit(y: Tensor, n: int) -> np.ndarray:
        """A [batch, samples] torch output trimmed/zero-padded to ``n`` samples, as float32 numpy."""
        a = y[:, :n].float().cpu().numpy()
        return np.pad(a, ((0, 0), (0, n - a.shape[1]))) if a.shape[1] < n else a

    def info(self) -> dict[str, Any]:
        d = super().info()
        d.update({"frame_rate_hz": self.frame_rate, "codebook_size": self.codebook_size, "precision": self.precision,
                  "bitrate_formula": "R = f_N * k * log2(C)"})
        return d
