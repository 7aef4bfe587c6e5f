"""DAC, the Descript Audio Codec (Kumar et al. 2023), through ``descript-audio-codec``.

Variants: 44.1 kHz (``dac``, the library's default model: 9 codebooks at 86.1 Hz), 24 kHz
(``dac24``: 32 codebooks at 75 Hz) and 16 kHz (``dac16``: 12 codebooks at 50 Hz); every number of
quantizers from 1 to the model's maximum is an operating point, its bitrate from R = f_N * k *
log2(C) with the model's own frame rate and codebook size.

Weights, in order: ``--codec-checkpoint PATH`` (DAC's own ``.pth`` format: ``{"metadata":
{"kwargs": ...}, "state_dict": ...}``, or a bare state dict / ``.safetensors``), else the file
``dac.utils.download`` fetches (the latest 8 kbps tag of each variant, from the GitHub release) at
the path it uses, ``~/.cache/descript/dac/weights_{44khz|24khz|16khz}_8kbps_<tag>.pth``, downloaded
when missing through :mod:`codec_conformance.fetch` (DAC publishes no checksum: its SHA-256 is
recorded on first download; not with ``--codec-offline``). DAC's own ``DAC.load`` first tries ``torch.package`` (which runs code from the file)
and loads with ``strict=False``; this adapter reads the file with ``weights_only=True`` and
loads strictly. ``--codec-weights random-init`` builds the real architecture untrained (DAC's
codebooks are randomly initialised embeddings, so codes already depend on the input).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CheckpointError
from ..fetch import Source, ensure
from .neural import NeuralCodec
from .checkpoint import apply_state_dict, load_state_dict, sha256_file
from .rvq import bitrate_kbps

if TYPE_CHECKING:
    from torch import Tensor

VARIANTS: dict[int, dict[str, Any]] = {
    44100: dict(encoder_rates=[2, 4, 8, 8], decoder_rates=[8, 8, 4, 2], n_codebooks=9, tag="44khz"),
    24000: dict(encoder_rates=[2, 4, 5, 8], decoder_rates=[8, 5, 4, 2], n_codebooks=32, tag="24khz"),
    16000: dict(encoder_rates=[2, 4, 5, 8], decoder_rates=[8, 5, 4, 2], n_codebooks=12, tag="16khz"),
}
RANDOM_INIT_SEED = 1234
_RELEASES = "https://github.com/descriptinc/descript-audio-codec/releases/download/"
# dac.utils.__MODEL_URLS__ at __MODEL_LATEST_TAGS__ (8 kbps); cached where dac.utils.download puts them
PRETRAINED = {name: (Source(_RELEASES + f"{tag}/{file}", f"descript:dac/weights_{kind}_8kbps_{tag}.pth"),)
              for name, kind, tag, file in (("dac", "44khz", "0.0.1", "weights.pth"),
                                            ("dac24", "24khz", "0.0.4", "weights_24khz.pth"),
                                            ("dac16", "16khz", "0.0.5", "weights_16khz.pth"))}


class DacCodec(NeuralCodec):
    version = "1"

    def __init__(self, checkpoint: str | None = None, weights: str = "pretrained", device: str = "cpu",
                 trust_checkpoint: bool = False, sample_rate: int = 44100, model_kwargs: dict[str, Any] | None = None, **_: object) -> None:
        if sample_rate not in VARIANTS:
            raise CheckpointError(f"dac: sample_rate {sample_rate} not in {sorted(VARIANTS)}")
        v = VARIANTS[sample_rate]
        self.name = {44100: "dac", 24000: "dac24", 16000: "dac16"}[sample_rate]
        self.sample_rate, self.device, self._trust = sample_rate, device, trust_checkpoint
        self.weights = "checkpoint" if checkpoint else weights
        self.kwargs: dict[str, Any] = {"encoder_rates": v["encoder_rates"], "decoder_rates": v["decoder_rates"],
                       "n_codebooks": v["n_codebooks"], "sample_rate": sample_rate, **(model_kwargs or {})}
        if self.weights == "checkpoint":
            self.checkpoint = self.checkpoint_arg(checkpoint)
        elif self.weights == "pretrained":  # its kwargs fix the architecture: obtained now
            self.checkpoint = str(ensure(PRETRAINED[self.name][0], f"{self.name} pretrained weights"))
        self._sd: dict[str, Any] | None = None
        if self.checkpoint and Path(self.checkpoint).is_file():
            self._read_checkpoint()  # its kwargs fix the architecture and the bitrates
        hop = int(np.prod(self.kwargs["encoder_rates"]))
        self.hop = hop
        self.frame_rate = sample_rate / hop
        self.codebook_size = int(self.kwargs.get("codebook_size", 1024))
        self.bitrates_kbps = tuple(bitrate_kbps(self.frame_rate, k, self.codebook_size)
                                   for k in range(1, int(self.kwargs["n_codebooks"]) + 1))
        self.description = (f"DAC {sample_rate / 1000:g} kHz, f_N={self.frame_rate:.4g} Hz, C={self.codebook_size}, "
                            f"k<={self.kwargs['n_codebooks']}")
        self.weights_fingerprint = (f"random-init-{RANDOM_INIT_SEED}-{sorted(self.kwargs.items())}"
                                    if self.weights == "random-init" else None)
        self._model: Any = None

    def _read_checkpoint(self) -> None:
        import torch
        p = self.checkpoint_file()
        if p.endswith(".safetensors"):
            self._sd = load_state_dict(p, trust=self._trust)
            return
        try:
            obj = torch.load(p, map_location="cpu", weights_only=not self._trust)
        except Exception:
            load_state_dict(p, trust=self._trust)  # raises the precise error (unpickling, truncation)
            raise
        if isinstance(obj, dict) and "state_dict" in obj:
            kw = (obj.get("metadata") or {}).get("kwargs") or {}
            import inspect
            from dac.model.dac import DAC
            allowed = set(inspect.signature(DAC).parameters)
            self.kwargs.update({k: v for k, v in kw.items() if k in allowed})
            self._sd = obj["state_dict"]
        else:
            self._sd = load_state_dict(p, trust=self._trust)

    @property
    def model(self) -> Any:
        if self._model is None:
            import torch
            try:
                from dac.model.dac import DAC
            except ImportError as exc:
                raise CheckpointError(f"descript-audio-codec is not importable ({exc})") from None
            if self.weights == "checkpoint" and not Path(self.checkpoint_file()).is_file():
                raise CheckpointError(f"{self.name}: checkpoint not found: {self.checkpoint}")
            torch.manual_seed(RANDOM_INIT_SEED)
            m = DAC(**self.kwargs)
            if self.weights != "random-init":
                path = self.checkpoint_file()
                if self._sd is None:  # its kwargs set the architecture and the bitrates when the codec was built
                    raise CheckpointError(f"{self.name}: checkpoint {path} was not a file when the codec was built")
                apply_state_dict(m, self._sd, path, self.name)
                self.checkpoint_sha256 = sha256_file(path)
            self._model = m.eval().to(self.device)
        return self._model

    def save_native(self, path: str) -> None:
        """Write the library's own format (metadata kwargs + state dict)."""
        import torch
        torch.save({"metadata": {"kwargs": dict(self.kwargs)}, "state_dict": self.model.state_dict()}, path)

    @property
    def token_hop(self) -> int:
        return self.hop

    def codes_of(self, x: Tensor, bitrate_kbps: float) -> Tensor:
        k = self.codebooks_at(bitrate_kbps)
        return self.model.encode(x[:, None, :], n_quantizers=k)[1][:, :k]

    def audio_of(self, codes: Tensor) -> Tensor:
        z = self.model.quantizer.from_codes(codes)[0]
        return self.model.decode(z)[:, 0, :]

    def roundtrip_batch(self, batch: np.ndarray, bitrate_kbps_: float) -> np.ndarray:
        import torch
        x = torch.from_numpy(self.pad_to_hop(batch, self.hop)).to(self.device)[:, None, :]
        with self.inference():
            z = self.model.encode(x, n_quantizers=self.codebooks_at(bitrate_kbps_))[0]
            y = self.model.decode(z)[:, 0, :]
        return self.fit(y, batch.shape[1])  # 16/24 kHz models decode a few samples short


def dac16(**kw: Any) -> DacCodec:
    return DacCodec(sample_rate=16000, **kw)


def dac24(**kw: Any) -> DacCodec:
    return DacCodec(sample_rate=24000, **kw)
