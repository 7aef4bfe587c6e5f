"""SNAC, the Multi-Scale Neural Audio Codec (Siuzdak et al. 2024), through the ``snac`` package
(MIT, code and weights): 24 kHz speech model ``hubertsiuzdak/snac_24khz``, three RVQ levels of
4096 codes at 1/4, 1/2 and 1 of the 46.875 Hz base frame rate (hop 512).

Bitrate: R = sum over levels of (f_N / stride) * log2(C), from the config (0.98 kbps for the
24 kHz model); every level is needed to decode, so there is one operating point. Codes are exposed
as ``[batch, 7, frames]`` at the coarsest level's rate (one row for level 1, two for level 2, four
for level 3: each coarse frame's codes in time order), a lossless layout of SNAC's ragged list.

Weights, in order: ``--codec-checkpoint DIR`` (``config.json`` and ``pytorch_model.bin``, the
layout ``SNAC.from_pretrained`` reads), else those two files of the published repository in the
Hugging Face cache, downloaded when missing through :mod:`codec_conformance.fetch` at the pinned
commit :data:`REVISION` and checked against :data:`SHA256` (never with ``--codec-offline``). ``SNAC.from_pretrained`` unpickles the
``.bin`` with plain ``torch.load``; this adapter reads it with ``weights_only=True`` and loads
strictly. ``--codec-weights random-init`` builds the published config (:data:`CONFIG_24KHZ`)
untrained with seed :data:`RANDOM_INIT_SEED` (SNAC's codebooks are randomly initialised
embeddings, so codes already depend on the input).

SNAC's decoder adds Gaussian noise (``noise=True``: a ``NoiseBlock`` per upsampling stage) drawn from
torch's global RNG, so upstream two decodes of the same codes differ. The adapter draws that noise
from :data:`NOISE_SEED` on every call and for every item of a batch alone (the caller's RNG state is
left as it was; an item's output does not depend on its batch companions): a round trip is
reproducible, and cacheable, as every other codec's.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CheckpointError, CodecError
from ..fetch import ensure, hf_source
from .checkpoint import apply_state_dict, load_state_dict, sha256_file
from .neural import NeuralCodec

if TYPE_CHECKING:
    from torch import Tensor

# config.json of hubertsiuzdak/snac_24khz (SNAC.__init__'s keyword arguments)
CONFIG_24KHZ: dict[str, Any] = {"sampling_rate": 24000, "encoder_dim": 48, "encoder_rates": [2, 4, 8, 8],
                                "decoder_dim": 1024, "decoder_rates": [8, 8, 4, 2], "attn_window_size": None,
                                "codebook_size": 4096, "codebook_dim": 8, "vq_strides": [4, 2, 1],
                                "noise": True, "depthwise": True}
RANDOM_INIT_SEED = 1234
NOISE_SEED = 0  # of the Gaussian noise SNAC's decoder adds (NoiseBlock): drawn afresh from this seed per call
HF_REPO = "hubertsiuzdak/snac_24khz"
LICENCE = "MIT"
FILES = ("config.json", "pytorch_model.bin")
REVISION = "d73ad176a12188fcf4f360ba3bf2c2fbbe8f58ec"  # pinned, with the digests, as public code pins them
SHA256 = {"config.json": "e119b9366d4f5e73c6ca5f31137c4ff361578bbb132953a5203afe037c4012be",
          "pytorch_model.bin": "4b8164cc6606bfa627f1a784734c1e539891518f1191ed9194fe1e3b9b4bff40"}
PRETRAINED = {"snac": tuple(hf_source(HF_REPO, f, REVISION, SHA256[f]) for f in FILES)}  # fetched at session start (engine/preflight.py)


class SnacCodec(NeuralCodec):
    name = "snac"
    version = "1"
    licence = LICENCE

    def __init__(self, checkpoint: str | None = None, config: str | None = None, weights: str = "pretrained",
                 device: str = "cpu", trust_checkpoint: bool = False, model_config: dict[str, Any] | None = None,
                 **_: object) -> None:
        self.device, self._trust = device, trust_checkpoint
        self.weights = "checkpoint" if checkpoint else weights
        self.config_path: str | None = None
        if self.weights == "checkpoint":
            p = Path(self.checkpoint_arg(checkpoint))
            folder = p if p.is_dir() else p.parent
            self.checkpoint = str(folder / FILES[1])
            self.config_path = str(Path(config).expanduser() if config else folder / FILES[0])
        elif self.weights == "pretrained":  # the config fixes the bitrate: obtained now
            self.config_path, self.checkpoint = (str(ensure(src, f"snac pretrained model ({HF_REPO})"))
                                                 for src in PRETRAINED[self.name])
        elif self.weights == "random-init":
            self.config_path = str(Path(config).expanduser()) if config else None
        else:
            raise CodecError(f"snac: weights {self.weights!r} unknown; use pretrained, random-init or --codec-checkpoint DIR")
        self.cfg: dict[str, Any] = {**CONFIG_24KHZ, **(model_config or {})}
        if self.config_path:
            if not Path(self.config_path).is_file():
                raise CheckpointError(f"snac: config not found: {self.config_path} (pass --codec-config config.json)")
            self.cfg = json.loads(Path(self.config_path).read_text())
        c = self.cfg
        self.sample_rate = int(c["sampling_rate"])
        self.strides = [int(s) for s in c["vq_strides"]]
        hop = int(np.prod(c["encoder_rates"]))
        self.frame_rate = self.sample_rate / hop  # of the finest level
        self.codebook_size = int(c["codebook_size"])
        # SNAC.preprocess pads to hop * lcm(coarsest stride, attention window): one code frame here
        self._hop = hop * math.lcm(self.strides[0], int(c.get("attn_window_size") or 1))
        self.rows = sum(self.strides[0] // s for s in self.strides)  # codes per coarse frame
        self.bitrates_kbps = (self.frame_rate * sum(1 / s for s in self.strides) * math.log2(self.codebook_size) / 1000,)
        self.description = (f"SNAC {self.sample_rate // 1000} kHz, f_N={self.frame_rate:g} Hz at strides "
                            f"{', '.join(map(str, self.strides))}, C={self.codebook_size}")
        self.weights_fingerprint = (f"random-init-{RANDOM_INIT_SEED}-{json.dumps(self.cfg, sort_keys=True)}"
                                    if self.weights == "random-init" else None)
        self._model: Any = None

    @property
    def token_hop(self) -> int:
        return self._hop

    @property
    def model(self) -> Any:
        if self._model is None:
            import torch
            try:
                from snac import SNAC
            except ImportError as exc:
                raise CheckpointError(f"snac is not importable ({exc}); pip install 'snac>=1.2'") from None
            torch.manual_seed(RANDOM_INIT_SEED)
            m = SNAC(**self.cfg)
            if self.weights != "random-init":
                path = self.checkpoint_file()
                apply_state_dict(m, load_state_dict(path, trust=self._trust), path, self.name)
                self.checkpoint_sha256 = sha256_file(path)
            self._model = m.eval().to(self.device)
        return self._model

    def codebooks_at(self, bitrate_kbps: float) -> int:
        return len(self.strides)

    def codes_of(self, x: Tensor, bitrate_kbps: float) -> Tensor:
        """SNAC's levels ``[batch, frames * strides[0] / s]`` laid out as ``[batch, rows, frames]``."""
        import torch
        levels = self.model.encode(x[:, None, :])
        b, n = x.shape[0], levels[0].shape[-1]
        return torch.cat([c.reshape(b, n, -1).permute(0, 2, 1) for c in levels], dim=1)

    def audio_of(self, codes: Tensor) -> Tensor:
        b, rows, n = codes.shape
        if rows != self.rows:
            raise CodecError(f"snac: decode takes {self.rows} code rows (levels at strides "
                             f"{', '.join(map(str, self.strides))}), got {rows}")
        levels, row = [], 0
        for s in self.strides:
            per = self.strides[0] // s
            levels.append(codes[:, row:row + per, :].permute(0, 2, 1).reshape(b, n * per))
            row += per
        import torch
        devices = [codes.device] if codes.device.type == "cuda" else []
        out = []
        # the decoder's noise: a fixed draw per item, the caller's RNG untouched. Per item, because
        # each NoiseBlock draws [batch, 1, T] from one stream: in a batch, every item after the first
        # stage got other noise than alone (the implementation suite measured 0 dB batch vs one)
        for i in range(b):
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(NOISE_SEED)
                out.append(self.model.decode([lv[i:i + 1] for lv in levels])[:, 0, :])
        return torch.cat(out)

    def roundtrip_batch(self, batch: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        import torch
        x = torch.from_numpy(self.pad_to_hop(batch, self._hop)).to(self.device)
        with self.inference():
            y = self.audio_of(self.codes_of(x, bitrate_kbps))
        return self.fit(y, batch.shape[1])

    def info(self) -> dict[str, Any]:
        return {**super().info(), "repo": HF_REPO, "config": self.config_path}
