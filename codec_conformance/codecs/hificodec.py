"""HiFi-Codec (Yang et al. 2023, AcademiCodec): group-residual VQ (GRVQ) between a HiFi-GAN-style
encoder and decoder. PyPI has no AcademiCodec package; the encoder and decoder are ESPnet's
(``espnet2.gan_codec.hificodec.module``, a port of AcademiCodec's with the same parameter names).

Pretrained (the paper's model): AcademiCodec's ``HiFi-Codec-24k-320d`` -- 24 kHz, hop 320 (75 Hz),
2 groups x 2 residual levels of 1024 codes = 4 codebooks = 3 kbps, its one operating point. The
checkpoint (``Dongchao/AcademiCodec`` on Hugging Face) and its ``config_24k_320d.json`` (the
AcademiCodec repository) are downloaded into the caches when missing (:mod:`codec_conformance.fetch`;
SHA-256 recorded on first download). AcademiCodec's format (``{"generator", "encoder",
"quantizer"}`` state dicts and a JSON config) is read here: ``GroupResidualCodebooks`` is the
inference part of its quantizer (nearest code per group, two residual levels), the encoder and
decoder load strictly into ESPnet's modules. ``--codec-checkpoint FILE --codec-config
config.json`` loads any AcademiCodec HiFi-Codec the same way (a config.json beside the file is used
when none is given).

ESPnet HiFi-Codec (``--codec-checkpoint`` with ``codec.generator.*`` keys, and random-init), 16 kHz:

Operating points: k codebooks per group (1..8), 2 groups of 1024 codes at 50 Hz, so R = f_N * 2k *
log2(C) = 1 ... 8 kbps. ESPnet's ``HiFiCodec.encode(x, target_bw=...)`` ignores ``target_bw``;
this adapter calls ``generator.encode(x, target_bw=R/2)`` (the value is per group). ESPnet's GRVQ
decode handles one item at a time, so items are coded one by one.

ESPnet checkpoints: ``--codec-checkpoint model.pth`` (an ESPnet GAN-codec state dict,
``codec.generator.*`` or ``generator.*`` keys; the discriminator is dropped) with an optional
``--codec-config config.yaml`` (its ``codec_conf``). ``--codec-weights random-init`` builds ESPnet's
default 16 kHz generator (66.8 M parameters) with k-means initialisation off.
"""
from __future__ import annotations

import copy
import inspect
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..errors import CheckpointError
from ..fetch import Source, ensure, hf_source
from .neural import NeuralCodec
from .checkpoint import apply_state_dict, load_state_dict, sha256_file
from .rvq import bitrate_kbps

if TYPE_CHECKING:
    import torch
    from torch import Tensor

GROUPS = 2
HOP = 320
RANDOM_INIT_SEED = 1234
# (config, checkpoint): AcademiCodec's 24 kHz, 320-hop, 3 kbps HiFi-Codec, the paper's model
PRETRAINED = {"hificodec": (
    Source("https://raw.githubusercontent.com/yangdongchao/AcademiCodec/master/egs/HiFi-Codec-24k-320d/"
           "config_24k_320d.json", "cc:models/academicodec/HiFi-Codec-24k-320d/config_24k_320d.json"),
    hf_source("Dongchao/AcademiCodec", "HiFi-Codec-24k-320d"))}
ACADEMICODEC_PARTS = ("encoder", "generator", "quantizer")
RESIDUAL_LEVELS = 2  # AcademiCodec's Quantizer: two residual levels (quantizer_modules, quantizer_modules2)
LATENT_DIM = 512     # its encoder's output width


def _codebook_holder(n_codes: int, dim: int) -> torch.nn.Module:
    import torch

    m = torch.nn.Module()
    m.embedding = torch.nn.Embedding(n_codes, dim)
    return m


def _embedding(book: torch.nn.Module) -> torch.nn.Embedding:
    """The codebook of a :func:`_codebook_holder` (torch types a submodule as Tensor | Module)."""
    return cast("torch.nn.Embedding", book.embedding)


def _group_residual_codebooks(groups: int, n_codes: int, dim: int = LATENT_DIM) -> torch.nn.Module:
    """GRVQ at inference, in AcademiCodec's parameter layout (``quantizer_modules.<g>.embedding``
    for level 1, ``quantizer_modules2.<g>.embedding`` for level 2): the latent's channels are split
    into ``groups`` equal parts, each replaced by its nearest code; level 2 codes level 1's residual.
    Codes come level-major: [level 1 group 1..G, level 2 group 1..G]."""
    import torch

    class GroupResidualCodebooks(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if dim % groups:
                raise CheckpointError(f"hificodec: {dim} latent channels do not split into {groups} groups")
            self.quantizer_modules = torch.nn.ModuleList(_codebook_holder(n_codes, dim // groups)
                                                         for _ in range(groups))
            self.quantizer_modules2 = torch.nn.ModuleList(_codebook_holder(n_codes, dim // groups)
                                                          for _ in range(groups))

        def levels(self) -> tuple[torch.nn.ModuleList, ...]:
            return (self.quantizer_modules, self.quantizer_modules2)[:RESIDUAL_LEVELS]

        def encode(self, z: Tensor) -> Tensor:  # [B, dim, T] -> [B, levels * groups, T]
            residual, codes = z.transpose(1, 2), []
            for books in self.levels():
                parts = torch.split(residual, dim // groups, dim=-1)
                picked = []
                for x, book in zip(parts, books):
                    w = _embedding(book).weight
                    d = (x * x).sum(-1, keepdim=True) - 2 * x @ w.T + (w * w).sum(-1)
                    idx = d.argmin(-1)
                    codes.append(idx)
                    picked.append(_embedding(book)(idx))
                residual = residual - torch.cat(picked, -1)
            return torch.stack(codes, 1)

        def decode(self, codes: Tensor) -> Tensor:  # [B, levels * groups, T] -> [B, dim, T]
            out: Tensor | int = 0
            for level, books in enumerate(self.levels()):
                out = out + torch.cat([_embedding(book)(codes[:, level * groups + g])
                                       for g, book in enumerate(books)], -1)
            assert not isinstance(out, int)  # RESIDUAL_LEVELS >= 1 levels were added
            return out.transpose(1, 2)

    return GroupResidualCodebooks()


def is_academicodec(obj: object) -> bool:
    return isinstance(obj, dict) and set(ACADEMICODEC_PARTS) <= set(obj) and all(
        isinstance(obj[k], dict) for k in ACADEMICODEC_PARTS)


class HiFiCodecCodec(NeuralCodec):
    name = "hificodec"
    sample_rate = 16000
    version = "1"

    def __init__(self, checkpoint: str | None = None, config: str | None = None, weights: str = "pretrained",
                 device: str = "cpu", trust_checkpoint: bool = False, **_: object) -> None:
        self.device, self._trust = device, trust_checkpoint
        self.weights = "checkpoint" if checkpoint else weights
        self.checkpoint = str(Path(checkpoint).expanduser()) if checkpoint else None
        self.config_path = str(Path(config).expanduser()) if config else None
        self._raw: Any = None
        if self.weights == "pretrained":  # the config fixes rate and bitrate: obtained now
            self.config_path, self.checkpoint = (str(ensure(src, "hificodec pretrained model"))
                                                 for src in PRETRAINED[self.name])
        elif self.weights == "checkpoint" and Path(self.checkpoint_arg(checkpoint)).is_file():
            self._raw = self._read_raw()
        self.format = "academicodec" if self.weights == "pretrained" or is_academicodec(self._raw) else "espnet"
        if self.format == "academicodec":
            self._init_academicodec()
        else:
            self.frame_rate = self.sample_rate / HOP
            self.codebook_size = 1024
            self.n_q = 8
            self.bitrates_kbps = tuple(bitrate_kbps(self.frame_rate, GROUPS * k, self.codebook_size)
                                       for k in range(1, self.n_q + 1))
            self.description = "HiFi-Codec 16 kHz (ESPnet), GRVQ 2 groups x k<=8, f_N=50 Hz, C=1024"
        self.weights_fingerprint = f"random-init-{RANDOM_INIT_SEED}" if self.weights == "random-init" else None
        self._model: Any = None

    def _read_raw(self) -> Any:
        import torch
        checkpoint = self.checkpoint_file()
        try:
            return torch.load(checkpoint, map_location="cpu", weights_only=not self._trust)
        except Exception:
            return load_state_dict(checkpoint, trust=self._trust)  # raises the precise error

    def _init_academicodec(self) -> None:
        """Rate, hop and codebooks from AcademiCodec's JSON config (--codec-config, else the
        config.json beside the checkpoint)."""
        cfg = Path(self.config_path) if self.config_path else Path(self.checkpoint_file()).with_name("config.json")
        if not cfg.is_file():
            raise CheckpointError(f"hificodec: {self.checkpoint} is an AcademiCodec checkpoint and needs its JSON "
                                  f"config (e.g. config_24k_320d.json): pass --codec-config FILE (not found: {cfg})")
        try:
            h = json.loads(cfg.read_text())
            self.h = {k: h[k] for k in ("sampling_rate", "upsample_rates", "upsample_kernel_sizes",
                                        "upsample_initial_channel", "resblock", "resblock_kernel_sizes",
                                        "resblock_dilation_sizes", "n_code_groups", "n_codes")}
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"hificodec: {cfg} is not an AcademiCodec HiFi-Codec config ({exc!r})") from None
        self.config_path = str(cfg)
        self.sample_rate = int(self.h["sampling_rate"])
        self.hop = int(np.prod(self.h["upsample_rates"]))
        self.groups = int(self.h["n_code_groups"])
        self.codebook_size = int(self.h["n_codes"])
        self.frame_rate = self.sample_rate / self.hop
        self.n_q = RESIDUAL_LEVELS * self.groups
        self.bitrates_kbps = (bitrate_kbps(self.frame_rate, self.n_q, self.codebook_size),)
        self.description = (f"HiFi-Codec {self.sample_rate / 1000:g} kHz (AcademiCodec), GRVQ {self.groups} groups x "
                            f"{RESIDUAL_LEVELS} levels, f_N={self.frame_rate:g} Hz, C={self.codebook_size}")

    def _academicodec_model(self) -> Any:
        import torch
        from espnet2.gan_codec.hificodec.module import Encoder, Generator
        h = self.h
        blocks = dict(resblock_num=str(h["resblock"]), resblock_kernel_sizes=h["resblock_kernel_sizes"],
                      resblock_dilation_sizes=h["resblock_dilation_sizes"])
        m = torch.nn.Module()
        m.encoder = Encoder(upsample_rates=h["upsample_rates"], upsample_kernel_sizes=h["upsample_kernel_sizes"],
                            **blocks)
        m.generator = Generator(upsample_rates=h["upsample_rates"], upsample_kernel_sizes=h["upsample_kernel_sizes"],
                                upsample_initial_channel=h["upsample_initial_channel"], out_dim=LATENT_DIM, **blocks)
        m.quantizer = _group_residual_codebooks(self.groups, self.codebook_size)
        raw = self._raw if self._raw is not None else self._read_raw()
        if not is_academicodec(raw):
            raise CheckpointError(f"hificodec: {self.checkpoint} is not an AcademiCodec checkpoint (expected the "
                                  f"state dicts {', '.join(ACADEMICODEC_PARTS)})")
        for part in ACADEMICODEC_PARTS:
            apply_state_dict(getattr(m, part), raw[part], f"{self.checkpoint} [{part}]", self.name)
        self._raw = None
        return m

    def _codec_conf(self) -> dict[str, Any]:
        from espnet2.gan_codec.hificodec import HiFiCodec
        gp = copy.deepcopy(inspect.signature(HiFiCodec.__init__).parameters["generator_params"].default)
        conf: dict[str, Any] = {"sampling_rate": 16000}
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
    def model(self) -> Any:
        if self._model is None:
            import torch
            try:
                from espnet2.gan_codec.hificodec import HiFiCodec
            except ImportError as exc:
                raise CheckpointError(f"hificodec needs ESPnet (pip install --no-deps espnet==202511): {exc}") from None
            torch.manual_seed(RANDOM_INIT_SEED)
            if self.format == "academicodec":
                self._model = self._academicodec_model().eval().to(self.device)
                self.checkpoint_sha256 = sha256_file(self.checkpoint_file())
                return self._model
            m = HiFiCodec(**self._codec_conf())
            gen = m.generator
            if self.weights == "checkpoint":
                checkpoint = self.checkpoint_file()
                if not Path(checkpoint).is_file():
                    raise CheckpointError(f"hificodec: checkpoint not found: {checkpoint}")
                raw = load_state_dict(checkpoint, trust=self._trust)
                sd = {}
                for k, v in raw.items():
                    k = k[len("codec."):] if k.startswith("codec.") else k
                    if k.startswith("generator."):
                        sd[k[len("generator."):]] = v
                apply_state_dict(gen, sd, checkpoint, self.name)
                self.checkpoint_sha256 = sha256_file(checkpoint)
            self._model = gen.eval().to(self.device)
        return self._model

    def state_dict(self) -> dict[str, Any]:
        if self.format == "academicodec":
            return {part: getattr(self.model, part).state_dict() for part in ACADEMICODEC_PARTS}
        return {f"codec.generator.{k}": v for k, v in self.model.state_dict().items()}

    @property
    def token_hop(self) -> int:
        return self.hop if self.format == "academicodec" else HOP

    def codebooks_at(self, bitrate_kbps: float) -> int:
        if self.format == "academicodec":
            return self.n_q
        return max(1, int(round(bitrate_kbps * 1000 / (self.frame_rate * math.log2(self.codebook_size)))))

    def codes_of(self, x: Tensor, bitrate_kbps: float) -> Tensor:
        """Levels group by group: [group 1 levels 1..k, group 2 levels 1..k]. ESPnet's GRVQ
        decodes one item at a time, so items are encoded one by one too."""
        import torch
        if self.format == "academicodec":
            return self.model.quantizer.encode(self.model.encoder(x[:, None, :]))
        out = []
        for row in x:
            c = self.model.encode(row.view(1, 1, -1), target_bw=bitrate_kbps / GROUPS)  # [k, groups, frames]
            out.append(c.permute(1, 0, 2).reshape(-1, c.shape[-1]))
        return torch.stack(out)

    def audio_of(self, codes: Tensor) -> Tensor:
        import torch
        if self.format == "academicodec":
            return self.model.generator(self.model.quantizer.decode(codes))[:, 0, :]
        ys = []
        for row in codes:
            c = row.view(GROUPS, -1, row.shape[-1]).permute(1, 0, 2)  # back to [k, groups, frames]
            ys.append(self.model.decode(c)[0, 0])
        return torch.stack(ys)

    def roundtrip_one(self, x: np.ndarray, bitrate_kbps_: float) -> np.ndarray:
        import torch
        if self.format == "academicodec":
            t = torch.from_numpy(self.pad_to_hop(x[None], self.hop)).to(self.device)
            with self.inference():
                y = self.audio_of(self.codes_of(t, bitrate_kbps_))
            return self.fit(y, len(x))[0]
        t = torch.from_numpy(self.pad_to_hop(x[None], HOP)).to(self.device).view(1, 1, -1)
        with self.inference():
            y = self.model.decode(self.model.encode(t, target_bw=bitrate_kbps_ / GROUPS))
        return self.fit(y[:, 0, :], len(x))[0]

    def info(self) -> dict[str, Any]:
        if self.format == "academicodec":
            return {**super().info(), "format": "AcademiCodec", "groups": self.groups, "levels": RESIDUAL_LEVELS,
                    "config": self.config_path, "bitrate_formula": "R = f_N * (groups * levels) * log2(C)"}
        return {**super().info(), "groups": GROUPS, "bitrate_formula": "R = f_N * (groups * k) * log2(C)"}
