"""The oracle: returns its input unchanged."""
import numpy as np

from .base import BaseCodec


class IdentityCodec(BaseCodec):
    name = "identity"
    sample_rate = 16000
    bitrates_kbps = (256.0,)  # 16 kHz x 16 bit PCM, for bookkeeping
    description = "uncoded signal (oracle)"

    def __init__(self, sample_rate: int = 16000, **_: object) -> None:
        self.sample_rate = int(sample_rate)
        self.bitrates_kbps = (self.sample_rate * 16 / 1000.0,)

    def cache_identity(self) -> tuple[object, ...]:
        return ("identity", self.sample_rate)

    def roundtrip_batch(self, batch: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        return batch.copy()
