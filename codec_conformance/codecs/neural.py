"""Base class of the neural codec adapters: what every one of them shares."""
from __future__ import annotations

import numpy as np

from .base import BaseCodec


class NeuralCodec(BaseCodec):
    """Subclasses set ``frame_rate``, ``codebook_size``, ``weights``, ``weights_fingerprint``
    (for random-init) and a lazy ``model`` property that loads the checkpoint and sets
    ``checkpoint_sha256``."""

    frame_rate: float = 0.0
    codebook_size: int = 1024
    weights_fingerprint: str | None = None

    def cache_identity(self):
        if self.weights == "random-init":
            return (self.name, self.version, self.weights_fingerprint)
        _ = self.model  # loads the checkpoint and computes its SHA-256
        return (self.name, self.version, self.checkpoint_sha256)

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
        d.update({"frame_rate_hz": self.frame_rate, "codebook_size": self.codebook_size,
                  "bitrate_formula": "R = f_N * k * log2(C)"})
        return d
