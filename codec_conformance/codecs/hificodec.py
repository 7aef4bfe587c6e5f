"""HiFi-Codec (Yang et al. 2023, AcademiCodec), 16 kHz, group-residual VQ (GRVQ, 2 groups), through
ESPnet's implementation (``espnet2.gan_codec.hificodec``; PyPI has no AcademiCodec package).

Operating points: k codebooks per group (1..8), 2 groups of 1024 codes at 50 Hz, so R = f_N * 2k *
log2(C) = 1 ... 8 kbps. ESPnet's ``HiFiCodec.encode(x, target_bw=...)`` ignores ``target_bw``;
this adapter calls ``generator.encode(x, target_bw=R/2)`` (the value is per group). ESPnet's GRVQ
decode handles one item at a time, so items are coded one by one.

Weights: ``--codec-checkpoint model.pth`` (an ESPnet GAN-codec state dict, ``codec.generator.*``
or ``generator.*`` keys; the discriminator is dropped) with an optional ``--codec-config
config.yaml`` (its ``codec_conf``); nothing is looked up or downloaded otherwise. Original
AcademiCodec checkpoints use another layout (``ckpt['generator'|'quantizer'|'encoder']``) and are
refused with a message saying so. ``--codec-weights random-init`` builds ESPnet's default 16 kHz
generator (66.8 M parameters) with k-means initialisation off.
"""
from __future__ import annotations

import copy
import inspect
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from .neural import NeuralCodec
from .checkpoint import apply_state_dict, load_state_dict, sha256_file
from .rvq import bitrate_kbps

GROUPS = 2
HOP = 320
RANDOM_INIT_SEED = 1234


class HiFiCodecCodec(NeuralCodec):
    name = "hificodec"
    sample_rate = 16000
    version = "1"

    def __init__(self, checkpoint: str | None = None, config: str | None = None, weights: str = "pretrained",
                 device: str = "cpu", trust_checkpoint: bool = False, **_):
        self.device, self._trust = device, trust_checkpoint
        self.weights = "checkpoint" if checkpoint else weights
        self.checkpoint = str(Path(checkpoint).expanduser()) if checkpoint else None
        self.config_path = str(Path(config).expanduser()) if config else None
        self.frame_rate = self.sample_rate / HOP
        self.codebook_size = 1024
        self.n_q = 8
        self.bitrates_kbps = tuple(bitrate_kbps(self.frame_rate, GROUPS * k, self.codebook_size)
                                   for k in range(1, self.n_q + 1))
        self.description = "HiFi-Codec 16 kHz (ESPnet), GRVQ 2 groups x k<=8, f_N=50 Hz, C=1024"
        self.weights_fingerprint = f"random-init-{RANDOM_INIT_SEED}" if self.weights == "random-init" else None
        self._model = None

    def _codec_conf(self) -> dict:
        from espnet2.gan_codec.hificodec import HiFiCodec
        gp = copy.deepcopy(inspect.signature(HiFiCodec.__init__).parameters["generator_params"].default)
        conf = {"sampling_rate": 16000}
        if self.config_path:
            import yaml
            p = Path(self.config_path)
            if not p.is_file():
                raise CheckpointError(f"hificodec: config not found: {p}")
            cc = (yaml.safe_load(p.read_text()) or {}).get("codec_conf", {})
            gp.update(cc.get("generator_params", {}))
            conf["sampling_rate"] = cc.get("sampling_rate", 16000)
        if self.weights == "random-init":
            gp["quantizer_kmeans_init"] = False
        conf["generator_params"] = gp
        return conf

    @property
    def model(self):
        if self._model is None:
            import torch
            try:
                from espnet2.gan_codec.hificodec import HiFiCodec
            except ImportError as exc:
                raise CheckpointError(f"hificodec needs ESPnet (pip install --no-deps espnet==202511): {exc}") from None
            if self.weights == "pretrained":
                raise CheckpointError(
                    "hificodec: no pretrained weights are known to this adapter and nothing can be downloaded; "
                    "pass --codec-checkpoint model.pth (an ESPnet HiFi-Codec) [--codec-config config.yaml], or use "
                    "--codec-weights random-init for a pipeline check.")
            torch.manual_seed(RANDOM_INIT_SEED)
            m = HiFiCodec(**self._codec_conf())
            gen = m.generator
            if self.weights == "checkpoint":
                if not Path(self.checkpoint).is_file():
                    raise CheckpointError(f"hificodec: checkpoint not found: {self.checkpoint}")
                raw = load_state_dict(self.checkpoint, trust=self._trust)
                if set(raw) <= {"generator", "quantizer", "encoder"} or not raw:
                    raise CheckpointError(f"{self.checkpoint} looks like an original AcademiCodec checkpoint; this "
                                          "adapter loads ESPnet HiFi-Codec checkpoints only")
                sd = {}
                for k, v in raw.items():
                    k = k[len("codec."):] if k.startswith("codec.") else k
                    if k.startswith("generator."):
                        sd[k[len("generator."):]] = v
                apply_state_dict(gen, sd, self.checkpoint, self.name)
                self.checkpoint_sha256 = sha256_file(self.checkpoint)
            self._model = gen.eval().to(self.device)
        return self._model

    def state_dict(self):
        return {f"codec.generator.{k}": v for k, v in self.model.state_dict().items()}

    token_hop = HOP

    def codes_of(self, x, bitrate_kbps: float):
        """Levels group by group: [group 1 levels 1..k, group 2 levels 1..k]. ESPnet's GRVQ
        decodes one item at a time, so items are encoded one by one too."""
        import torch
        out = []
        for row in x:
            c = self.model.encode(row.view(1, 1, -1), target_bw=bitrate_kbps / GROUPS)  # [k, groups, frames]
            out.append(c.permute(1, 0, 2).reshape(-1, c.shape[-1]))
        return torch.stack(out)

    def audio_of(self, codes):
        import torch
        ys = []
        for row in codes:
            c = row.view(GROUPS, -1, row.shape[-1]).permute(1, 0, 2)  # back to [k, groups, frames]
            ys.append(self.model.decode(c)[0, 0])
        return torch.stack(ys)

    def roundtrip_one(self, x: np.ndarray, bitrate_kbps_: float) -> np.ndarray:
        import torch
        t = torch.from_numpy(self.pad_to_hop(x[None], HOP)).to(self.device).view(1, 1, -1)
        with self.inference():
            y = self.model.decode(self.model.encode(t, target_bw=bitrate_kbps_ / GROUPS))
        return self.fit(y[:, 0, :], len(x))[0]

    def info(self) -> dict:
        return {**super().info(), "groups": GROUPS, "bitrate_formula": "R = f_N * (groups * k) * log2(C)"}
