"""EnCodec (Defossez et al. 2022) through the ``encodec`` package: 24 kHz (mono) and 48 kHz.

Weights, in order: ``--codec-checkpoint PATH`` (state dict, ``.th``/``.pt``/``.safetensors``),
else the file ``EncodecModel._get_pretrained`` uses: ``ROOT_URL`` + ``encodec_24khz-d7cc33bc.th`` in
the torch hub cache (``$TORCH_HOME/hub/checkpoints/``), downloaded there when missing through
:mod:`codec_conformance.fetch` (checked against the SHA-256 prefix in its name, as
``torch.hub``'s ``check_hash`` does; not with ``--codec-offline``). With
``--codec-weights random-init`` the real architecture is built with untrained weights and its
codebooks are initialised from the encoder's own output on a fixed signal (EnCodec's codebooks
start at zero and are only filled by k-means in training, so an untouched random model maps
every input to code 0). Results made so are labelled ``weights: random-init``.

Bitrate: R = f_N * k * log2(C) with the model's frame rate f_N, number of codebooks k and
codebook size C (paper eq. 1), computed from the model, not hard-coded.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CheckpointError, CodecError
from ..fetch import Source, ensure
from .neural import NeuralCodec
from .checkpoint import apply_state_dict, load_state_dict, sha256_file
from .rvq import bitrate_kbps, init_rvq_codebooks

if TYPE_CHECKING:
    from torch import Tensor

VARIANTS: dict[int, dict[str, Any]] = {
    24000: dict(bandwidths=[1.5, 3.0, 6.0, 12.0, 24.0], channels=1, causal=True, norm="weight_norm",
                normalize=False, segment=None, name="encodec_24khz", file="encodec_24khz-d7cc33bc.th"),
    48000: dict(bandwidths=[3.0, 6.0, 12.0, 24.0], channels=2, causal=False, norm="time_group_norm",
                normalize=True, segment=1.0, name="encodec_48khz", file="encodec_48khz-7e698e3e.th"),
}
RANDOM_INIT_SEED = 1234
ROOT_URL = "https://dl.fbaipublicfiles.com/encodec/v0/"  # encodec.model.ROOT_URL
# the published files by codec name (torch hub names carry the first 8 hex digits of the SHA-256)
PRETRAINED = {name: (Source(ROOT_URL + v["file"], f"torch:checkpoints/{v['file']}", v["file"].split("-")[1][:8]),)
              for name, v in (("encodec", VARIANTS[24000]), ("encodec48", VARIANTS[48000]))}


class EncodecCodec(NeuralCodec):
    version = "1"
    supports_batch = True  # causal model: trailing zero padding leaves earlier samples unchanged
    max_batch = 8

    def __init__(self, checkpoint: str | None = None, weights: str = "pretrained", device: str = "cpu",
                 trust_checkpoint: bool = False, sample_rate: int = 24000, **_: object) -> None:
        if sample_rate not in VARIANTS:
            raise CodecError(f"encodec: sample_rate {sample_rate} not in {sorted(VARIANTS)}")
        self.variant = VARIANTS[sample_rate]
        self.name = "encodec" if sample_rate == 24000 else "encodec48"
        self.sample_rate = sample_rate
        self.device = device
        self._checkpoint_arg, self._trust = checkpoint, trust_checkpoint
        self.weights = "checkpoint" if checkpoint else weights
        self._model: Any = None
        # bitrates from the architecture's constants (built lazily for the model itself)
        self.frame_rate, self.n_q_max, self.codebook_size = self._arch_constants()
        self.bitrates_kbps = tuple(self.bitrate_for(self.codebooks_for(bw)) for bw in self.variant["bandwidths"])
        self.description = (f"EnCodec {sample_rate // 1000} kHz, f_N={self.frame_rate:g} Hz, "
                            f"C={self.codebook_size}, k<={self.n_q_max}")
        if self.weights == "pretrained":
            self.checkpoint = str(PRETRAINED[self.name][0].path)
        elif self.weights == "checkpoint":
            self.checkpoint = self.checkpoint_arg(checkpoint)
        self.weights_fingerprint = f"random-init-{RANDOM_INIT_SEED}" if self.weights == "random-init" else None

    # ---- accounting (paper eq. 1) -------------------------------------------------------
    def _arch_constants(self) -> tuple[float, int, int]:
        v = self.variant
        hop = 320  # SEANet ratios [8, 5, 4, 2]
        return self.sample_rate / hop, int(1000 * max(v["bandwidths"]) // (self.sample_rate / hop * 10)), 1024

    def bitrate_for(self, k: int) -> float:
        return bitrate_kbps(self.frame_rate, k, self.codebook_size)

    def codebooks_for(self, bandwidth_kbps: float) -> int:
        return max(1, int(round(bandwidth_kbps * 1000 / (self.frame_rate * math.log2(self.codebook_size)))))

    # ---- model ------------------------------------------------------------------------------
    def build_architecture(self) -> Any:
        from encodec import EncodecModel
        v = self.variant
        return EncodecModel._get_model(v["bandwidths"], self.sample_rate, v["channels"], causal=v["causal"],
                                       model_norm=v["norm"], audio_normalize=v["normalize"],
                                       segment=v["segment"], name=v["name"])

    @property
    def model(self) -> Any:
        if self._model is None:
            import torch
            torch.manual_seed(RANDOM_INIT_SEED)
            m = self.build_architecture()
            if self.weights == "random-init":
                self._init_codebooks(m)
            else:
                path = Path(self.checkpoint_file())
                if self.weights == "checkpoint" and not path.is_file():
                    raise CheckpointError(f"{self.name}: checkpoint not found: {path} (from --codec-checkpoint)")
                if self.weights == "pretrained":
                    path = ensure(PRETRAINED[self.name][0], f"{self.name} pretrained weights")
                apply_state_dict(m, load_state_dict(path, trust=self._trust), str(path), self.name)
                self.checkpoint_sha256 = sha256_file(path)
            m.eval().to(self.device)
            self.frame_rate = float(m.frame_rate)
            self.codebook_size = int(m.quantizer.bins)
            self._model = m
        return self._model

    def _init_codebooks(self, m: Any) -> None:
        m.eval()
        init_rvq_codebooks(m.encoder, m.quantizer.vq.layers, self.variant["channels"], self.sample_rate,
                           RANDOM_INIT_SEED)

    # ---- codes ------------------------------------------------------------------------------
    token_hop = 320

    def codes_of(self, x: Tensor, bitrate_kbps: float) -> Tensor:
        m = self.model
        m.set_target_bandwidth(self.bitrate_for(self.codebooks_at(bitrate_kbps)))
        x = x[:, None, :].repeat(1, self.variant["channels"], 1)
        frames = m.encode(x)
        if len(frames) != 1 or frames[0][1] is not None:  # the 48 kHz model: segments with a scale each
            raise CodecError(f"{self.name}: codes alone do not decode for a segmented, normalising model")
        return frames[0][0]

    def audio_of(self, codes: Tensor) -> Tensor:
        return self.model.decode([(codes, None)]).mean(dim=1)

    # ---- round trip ---------------------------------------------------------------------------
    def roundtrip_batch(self, batch: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        import torch
        m = self.model
        m.set_target_bandwidth(self.bitrate_for(self.codebooks_at(bitrate_kbps)))
        x = torch.from_numpy(batch).to(self.device)[:, None, :]
        if self.variant["channels"] == 2:
            x = x.repeat(1, 2, 1)
        with self.inference():
            y = m.decode(m.encode(x))
        return self.fit(y.mean(dim=1), batch.shape[1])
