"""SpeechTokenizer (Zhang et al. 2024) through the ``speechtokenizer`` package: 16 kHz, 8 RVQ
layers of 1024 codes at 50 Hz, i.e. 0.5 kbps per layer (R = f_N * k * log2 C).

Weights, in order: ``--codec-checkpoint SpeechTokenizer.pt`` with ``--codec-config config.json``
(a config.json beside the checkpoint is used when no config is given), else the published model
``fnlp/SpeechTokenizer`` (``speechtokenizer_hubert_avg/``) in the Hugging Face cache
(``$HF_HOME/hub/models--fnlp--SpeechTokenizer/snapshots/<revision>/``), downloaded there when
missing from its ``resolve`` URL through :mod:`codec_conformance.fetch` (SHA-256 recorded on
first download; not with ``--codec-offline``). ``--codec-weights random-init`` builds the
upstream architecture (``config/spt_base_cfg.json`` of ZhangXInFD/SpeechTokenizer; the package
ships no config) with untrained weights and codebooks initialised from its encoder's output.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CheckpointError
from ..fetch import ensure, hf_source
from .neural import NeuralCodec
from .checkpoint import apply_state_dict, load_state_dict, sha256_file
from .rvq import bitrate_kbps, init_rvq_codebooks

if TYPE_CHECKING:
    from torch import Tensor

# config/spt_base_cfg.json upstream (model part)
BASE_CONFIG: dict[str, Any] = {"n_filters": 64, "strides": [8, 5, 4, 2], "dimension": 1024, "semantic_dimension": 768,
               "bidirectional": True, "dilation_base": 2, "residual_kernel_size": 3, "n_residual_layers": 1,
               "lstm_layers": 2, "activation": "ELU", "codebook_size": 1024, "n_q": 8, "sample_rate": 16000}
RANDOM_INIT_SEED = 1234
HF_REPO = "fnlp/SpeechTokenizer"
# (config, checkpoint) of the published model
PRETRAINED = {"speechtokenizer": (hf_source(HF_REPO, "speechtokenizer_hubert_avg/config.json"),
                                  hf_source(HF_REPO, "speechtokenizer_hubert_avg/SpeechTokenizer.pt"))}


class SpeechTokenizerCodec(NeuralCodec):
    name = "speechtokenizer"
    version = "1"

    def __init__(self, checkpoint: str | None = None, config: str | None = None, weights: str = "pretrained",
                 device: str = "cpu", trust_checkpoint: bool = False, model_config: dict[str, Any] | None = None, **_: object) -> None:
        self.device = device
        self._trust = trust_checkpoint
        self.weights = "checkpoint" if checkpoint else weights
        self.config_path: str | None = None
        if self.weights == "checkpoint":
            self.checkpoint = self.checkpoint_arg(checkpoint)
            cfg = Path(config).expanduser() if config else Path(self.checkpoint).with_name("config.json")
            self.config_path = str(cfg)
        elif self.weights == "pretrained":  # the config fixes the bitrates: obtained now
            self.config_path, self.checkpoint = (str(ensure(src, "speechtokenizer pretrained model"))
                                                 for src in PRETRAINED[self.name])
        self.cfg: dict[str, Any] = dict(model_config or BASE_CONFIG)
        if self.config_path and Path(self.config_path).is_file():
            self.cfg = json.loads(Path(self.config_path).read_text())
        self.sample_rate = int(self.cfg["sample_rate"])
        self.frame_rate = self.sample_rate / float(np.prod(self.cfg["strides"]))
        self.codebook_size = int(self.cfg["codebook_size"])
        self.bitrates_kbps = tuple(bitrate_kbps(self.frame_rate, k, self.codebook_size)
                                   for k in range(1, int(self.cfg["n_q"]) + 1))
        self.description = (f"SpeechTokenizer {self.sample_rate // 1000} kHz, f_N={self.frame_rate:g} Hz, "
                            f"C={self.codebook_size}, k<={self.cfg['n_q']}")
        self.weights_fingerprint = (f"random-init-{RANDOM_INIT_SEED}-{json.dumps(self.cfg, sort_keys=True)}"
                                    if self.weights == "random-init" else None)
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            import torch
            try:
                from speechtokenizer import SpeechTokenizer
            except ImportError as exc:
                raise CheckpointError(f"speechtokenizer is not importable ({exc}); pip install speechtokenizer beartype") from None
            if self.weights == "checkpoint":
                if not Path(self.checkpoint_file()).is_file():
                    raise CheckpointError(f"speechtokenizer: checkpoint not found: {self.checkpoint}")
                if self.config_path is None or not Path(self.config_path).is_file():
                    raise CheckpointError(f"speechtokenizer: config not found: {self.config_path} "
                                          "(pass --codec-config config.json)")
            torch.manual_seed(RANDOM_INIT_SEED)
            m = SpeechTokenizer(self.cfg)
            m.eval()
            if self.weights == "random-init":
                init_rvq_codebooks(m.encoder, m.quantizer.vq.layers, 1, self.sample_rate, RANDOM_INIT_SEED)
            else:
                checkpoint = self.checkpoint_file()
                apply_state_dict(m, load_state_dict(checkpoint, trust=self._trust), checkpoint, self.name)
                self.checkpoint_sha256 = sha256_file(checkpoint)
            self._model = m.to(self.device)
        return self._model

    def cache_identity(self) -> tuple[object, ...]:
        return (*super().cache_identity(), json.dumps(self.cfg, sort_keys=True))

    @property
    def token_hop(self) -> int:
        return int(np.prod(self.cfg["strides"]))

    def codes_of(self, x: Tensor, bitrate_kbps: float) -> Tensor:
        """Level 1 is the semantic (HuBERT-distilled) level."""
        return self.model.encode(x[:, None, :], n_q=self.codebooks_at(bitrate_kbps)).permute(1, 0, 2)

    def audio_of(self, codes: Tensor) -> Tensor:
        return self.model.decode(codes.permute(1, 0, 2))[:, 0, :]

    def roundtrip_batch(self, batch: np.ndarray, bitrate_kbps_: float) -> np.ndarray:
        import torch
        hop = int(np.prod(self.cfg["strides"]))  # whole frames in, then trim: output aligned to input
        x = torch.from_numpy(self.pad_to_hop(batch, hop)).to(self.device)[:, None, :]
        with self.inference():
            y = self.model.decode(self.model.encode(x, n_q=self.codebooks_at(bitrate_kbps_)))
        return self.fit(y[:, 0, :], batch.shape[1])

    def info(self) -> dict[str, Any]:
        return {**super().info(), "config": self.config_path}
