"""FunCodec's FreqCodec (Du et al. 2024; ``funcodec/models/codec_freq.py``), 16 kHz, magnitude-
phase domain, 32 RVQ codebooks of 1024 at 50 Hz: 500 bps per codebook (R = f_N * k * log2 C).
Operating points are the quantizer counts it was trained with (``rand_num_quant``: 1, 2, 4, 8,
16, 32 codebooks = 0.5 ... 16 kbps).

Weights, in order: ``--codec-checkpoint model.pth`` with ``--codec-config config.yaml`` (a
config.yaml beside the checkpoint is used when none is given), else the published model
``alibaba-damo/audio_codec-freqcodec_magphase-en-libritts-16k-gr1nq32ds320-pytorch`` in the Hugging
Face cache (``$HF_HOME/hub/models--alibaba-damo--.../snapshots/<revision>/``), downloaded there when
missing from its ``resolve`` URLs through :mod:`codec_conformance.fetch` (SHA-256 recorded on first
download; not with ``--codec-offline``). ``--codec-weights random-init`` builds the
architecture of the upstream recipe ``egs/LibriTTS/codec/conf/freqcodec_mag_phase_16k_n32_600k_step.yaml``
with ``kmeans_init: false`` (otherwise a random model runs k-means on its first input and then
depends on it). The discriminator is dropped: inference does not use it.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CheckpointError
from ..fetch import ensure, hf_source
from .neural import NeuralCodec
from .checkpoint import apply_state_dict, load_state_dict, sha256_file
from .rvq import bitrate_kbps

if TYPE_CHECKING:
    from torch import Tensor

# Model part of the upstream LibriTTS FreqCodec recipe; kmeans_init off for untrained use.
RECIPE_YAML = """\
input_size: 3
sampling_rate: 16000
encoder: encodec_seanet_encoder_2d
encoder_conf: {ratios: [[4, 1], [4, 1], [4, 2], [4, 1]], norm: time_group_norm, norm_params: {num_groups: 1},
               causal: false, dilation_base: 1}
quantizer: costume_quantizer
quantizer_conf: {codebook_size: 1024, num_quantizers: 32, ema_decay: 0.99, kmeans_init: false,
                 sampling_rate: 16000, quantize_dropout: true, rand_num_quant: [1, 2, 4, 8, 16, 32], use_ddp: true}
decoder: encodec_seanet_decoder_2d
decoder_conf: {ratios: [[4, 1], [4, 1], [4, 2], [4, 1]], norm: time_group_norm, norm_params: {num_groups: 1},
               causal: false, channels: 3, dilation_base: 1}
discriminator: multiple_disc
discriminator_conf: {disc_conf_list: [{name: encodec_multi_scale_stft_discriminator, filters: 32}]}
model: freq_codec
model_conf: {odim: 128, multi_spectral_window_powers_of_two: [5, 6, 7, 8, 9, 10], target_sample_hz: 16000,
             audio_normalize: true, use_power_spec_loss: true, segment_dur: null, overlap_ratio: null,
             codec_domain: [mag_phase, mag_phase]}
"""
HOP = 320          # STFT hop 160 x time stride 2
CODEBOOK_SIZE = 1024
QUANTIZER_COUNTS = (1, 2, 4, 8, 16, 32)
RANDOM_INIT_SEED = 1234
HF_REPO = "alibaba-damo/audio_codec-freqcodec_magphase-en-libritts-16k-gr1nq32ds320-pytorch"
# (config, checkpoint) of the published model
PRETRAINED = {"freqcodec": (hf_source(HF_REPO, "config.yaml"), hf_source(HF_REPO, "model.pth"))}


class FreqCodec(NeuralCodec):
    name = "freqcodec"
    sample_rate = 16000
    version = "1"
    supported_precisions = ("fp32", "fp16")
    precision_note = "its STFT-domain decoder builds complex tensors, and torch has no complex bfloat16"

    def __init__(self, checkpoint: str | None = None, config: str | None = None, weights: str = "pretrained",
                 device: str = "cpu", trust_checkpoint: bool = False, **_: object) -> None:
        self.device, self._trust = device, trust_checkpoint
        self.weights = "checkpoint" if checkpoint else weights
        self.config_path: str | None = None
        if self.weights == "checkpoint":
            self.checkpoint = self.checkpoint_arg(checkpoint)
            self.config_path = str(Path(config).expanduser() if config else Path(self.checkpoint).with_name("config.yaml"))
        elif self.weights == "pretrained":
            self.config_path, self.checkpoint = (str(ensure(src, "freqcodec pretrained model"))
                                                 for src in PRETRAINED[self.name])
        self.frame_rate = self.sample_rate / HOP
        self.codebook_size = CODEBOOK_SIZE
        self.bitrates_kbps = tuple(bitrate_kbps(self.frame_rate, k, CODEBOOK_SIZE) for k in QUANTIZER_COUNTS)
        self.description = f"FunCodec FreqCodec 16 kHz mag-phase, f_N={self.frame_rate:g} Hz, C=1024, k<=32"
        self.weights_fingerprint = f"random-init-{RANDOM_INIT_SEED}" if self.weights == "random-init" else None
        self._model: Any = None

    def _build(self, config_path: str | None) -> Any:
        import torch
        try:
            from funcodec.tasks.gan_speech_codec import GANSpeechCodecTask
        except ImportError as exc:
            raise CheckpointError(f"funcodec is not importable ({exc}); see docs/install.md") from None
        torch.manual_seed(RANDOM_INIT_SEED)
        if config_path is None:
            with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
                f.write(RECIPE_YAML)
                config_path = f.name
        try:
            m, _ = GANSpeechCodecTask.build_model_from_file(config_path, None, device="cpu")
        except Exception as exc:
            raise CheckpointError(f"freqcodec: cannot build the model from {config_path}: {exc}") from None
        m.discriminator = None
        return m

    @property
    def model(self) -> Any:
        if self._model is None:
            if self.weights == "random-init":
                m = self._build(None)
            else:
                checkpoint = self.checkpoint_file()
                if not Path(checkpoint).is_file():
                    raise CheckpointError(f"freqcodec: checkpoint not found: {checkpoint}")
                if self.config_path is None or not Path(self.config_path).is_file():
                    raise CheckpointError(f"freqcodec: config not found: {self.config_path} (pass --codec-config)")
                m = self._build(self.config_path)
                sd = {k: v for k, v in load_state_dict(checkpoint, trust=self._trust).items()
                      if not k.startswith("discriminator.")}
                apply_state_dict(m, sd, checkpoint, self.name)
                self.checkpoint_sha256 = sha256_file(checkpoint)
            self._model = m.eval().to(self.device)
        return self._model

    token_hop = HOP

    def codes_of(self, x: Tensor, bitrate_kbps: float) -> Tensor:
        out = self.model.inference(x, need_recon=False, bit_width=int(round(bitrate_kbps * 1000)))
        return out["code_indices"][0].permute(1, 0, 2)

    def audio_of(self, codes: Tensor) -> Tensor:
        """The model normalises each input's level and keeps the scale beside the codes: audio
        decoded from codes alone comes out at the normalised level (roundtrip keeps the scale)."""
        return self.model.inference_decoding(codes.permute(0, 2, 1))["recon_speech"][:, 0, :]

    def roundtrip_batch(self, batch: np.ndarray, bitrate_kbps_: float) -> np.ndarray:
        import torch
        x = torch.from_numpy(self.pad_to_hop(batch, HOP)).to(self.device)
        with self.inference():
            y = self.model.inference(x, need_recon=True, bit_width=int(round(bitrate_kbps_ * 1000)))["recon_speech"]
        return self.fit(y[:, 0, :], batch.shape[1])

    def info(self) -> dict[str, Any]:
        return {**super().info(), "config": self.config_path}
