"""The 2024–25 codec generation through Hugging Face ``transformers`` (5.x): EnCodec, DAC, Mimi,
X-Codec, X-Codec 2, NeuCodec and the Higgs Audio v2 tokenizer, one adapter over their model classes.

Each codec is one row of :data:`SPECS`: its ``transformers`` class, published repository, licence,
how its ``encode`` picks the number of codebooks, and the config overrides its random-init model
needs. Everything else (sample rate, frame rate, codebook count and size, bitrates) is computed
from the config in use, never hard-coded: ``frame_rate = sample_rate / hop`` (exact: the configs'
own ``frame_rate`` properties round up, e.g. ``ceil(44100 / 512)``) and ``R = f_N * k * log2(C)``.
X-Codec 2 and NeuCodec quantise with one FSQ codebook of ``prod(quantization_levels)`` codes.

Weights, in order: ``--codec-checkpoint DIR`` (a ``save_pretrained`` folder: ``config.json`` and
``model.safetensors``), else the published repository's ``config.json`` and ``model.safetensors``
in the Hugging Face cache (``$HF_HOME/hub/models--org--name/snapshots/<revision>/``), downloaded
there when missing through :mod:`codec_conformance.fetch` at the commit public code pins (all but
X-Codec's), checked against pinned SHA-256 digests where public code agrees on them (Mimi, Higgs),
else with the digest recorded on first download (docs/codecs-2025.md, "Pins"); never with
``--codec-offline``. Only safetensors are read (``use_safetensors=True``, no pickle, no remote
code) and every parameter must come from the file (missing or mis-shaped keys are an error).

``--codec-weights random-init`` builds the class's default config (plus the documented
:attr:`HfCodecSpec.random_init` overrides) offline with seed :data:`RANDOM_INIT_SEED`. EnCodec,
Mimi, X-Codec and Higgs keep their codebooks at zero until k-means in training, so an untouched
model maps every input to code 0: their codebooks are seeded from the model's own encoder on a
fixed signal (:func:`seed_codebooks`). Results made so are labelled ``weights: random-init``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import CheckpointError, CodecError
from ..fetch import FetchError, Source, ensure, hf_source, is_offline, offline_reason
from .checkpoint import sha256_file
from .neural import NeuralCodec

if TYPE_CHECKING:
    from torch import Tensor

RANDOM_INIT_SEED = 1234
SEED_SIGNAL_S = 4.0          # seconds of the fixed signal that seeds zero-initialised codebooks
WEIGHTS_FILES = ("config.json", "model.safetensors")


@dataclass(frozen=True)
class HfCodecSpec:
    """What differs between the transformers audio codecs; the rest is read from the config."""
    name: str                   # registered codec name
    model: str                  # transformers class; its config class is <prefix>Config
    repo: str                   # published transformers-format checkpoint
    licence: str                # of the published weights
    title: str                  # for the description
    rate_key: str               # config attribute holding the (input) sample rate
    hop_key: str                # config attribute: input samples per code frame
    select: str                 # how encode picks k: bandwidth | n_quantizers | num_quantizers | fsq
    max_k_key: str = ""         # config attribute: most codebooks (n_quantizers / num_quantizers)
    features: bool = False      # needs input_features from its feature extractor (w2v-BERT front end)
    scales: bool = False        # decode takes audio_scales (EnCodec) and codes [chunks, batch, k, frames]
    output_rate_key: str = ""   # config attribute of the decoder's rate when it differs (NeuCodec: 24 kHz)
    random_init: dict[str, Any] = field(default_factory=dict)  # overrides of the default config, why in notes
    notes: str = ""
    # the commit fetched, and SHA-256 digests by file name, where public code pins them (docs/codecs-2025.md,
    # "Pins"); "main" and no digest: trust on first use
    revision: str = "main"
    sha256: dict[str, str] = field(default_factory=dict)

    @property
    def config_class(self) -> str:
        return self.model[:-len("Model")] + "Config"


SPECS: dict[str, HfCodecSpec] = {s.name: s for s in (
    HfCodecSpec("hf-encodec", "EncodecModel", "facebook/encodec_24khz", "CC-BY-NC-4.0 (weights; code MIT)",
                "EnCodec 24 kHz (transformers)", "sampling_rate", "hop_length", "bandwidth", scales=True,
                revision="c1dbe2ae3f1de713481a3b3e7c47f357092ee040"),
    HfCodecSpec("hf-dac", "DacModel", "descript/dac_16khz", "MIT", "DAC 16 kHz (transformers)",
                "sampling_rate", "hop_length", "n_quantizers", max_k_key="n_codebooks",
                revision="7c2fc5e759f1f501aefc6e7a0265cc57f5d17ba7",
                random_init={"downsampling_ratios": [2, 4, 5, 8], "n_codebooks": 12},
                notes="DacConfig's default is documented as dac_16khz-style but has the 44.1 kHz model's strides "
                      "(hop 512) and 9 codebooks; random-init uses the 16 kHz model's (descript-audio-codec: "
                      "strides 2, 4, 5, 8, 12 codebooks)"),
    HfCodecSpec("mimi", "MimiModel", "kyutai/mimi", "CC-BY-4.0", "Mimi 24 kHz (Kyutai)", "sampling_rate",
                "frame_size", "num_quantizers", max_k_key="num_quantizers",
                revision="89091b3e466eb6a9d11e537bf26b144f194978f7",
                sha256={"model.safetensors": "bac7e85083dcded655d24eaadde7e6eea34c0da1b35fa2d284e641bd2b942a5e",
                        "config.json": "aca6f44b04f7bc2e7466b71597d2d51e463ed1cf3cd7025d8848595580546c36"}),
    HfCodecSpec("xcodec", "XcodecModel", "hf-audio/xcodec-hubert-librispeech", "MIT (X-Codec code; model card)",
                "X-Codec 16 kHz, HuBERT semantic branch", "sample_rate", "hop_length", "bandwidth"),
    HfCodecSpec("xcodec2", "Xcodec2Model", "HKUSTAudio/xcodec2-hf", "CC-BY-NC-4.0 (weights: non-commercial)",
                "X-Codec 2 16 kHz, w2v-BERT 2.0 semantic branch, FSQ", "sampling_rate", "hop_length", "fsq",
                features=True, revision="64bd034d12d441299cdd535b15c33efd6ccdf252"),
    HfCodecSpec("neucodec", "NeuCodecModel", "neuphonic/neucodec", "Apache-2.0 (model card)",
                "NeuCodec 16 kHz in, 24 kHz decoder, FSQ", "input_sampling_rate", "encoder_hop_length", "fsq",
                features=True, output_rate_key="output_sampling_rate",
                revision="30c1fdd19e68aee65d542cf043750d4c0165893e",
                notes="the decoder's 24 kHz output is resampled to the 16 kHz input rate"),
    HfCodecSpec("higgs-audio-v2", "HiggsAudioV2TokenizerModel", "bosonai/higgs-audio-v2-tokenizer",
                "Boson Higgs Audio 2 Community License (other)", "Higgs Audio v2 tokenizer 24 kHz",
                "sample_rate", "hop_length", "bandwidth",
                random_init={"acoustic_model_config": {"downsampling_ratios": [8, 5, 4, 2, 3],
                                                       "upsampling_ratios": [8, 5, 4, 2, 3]},
                             "target_bandwidths": [0.5, 1.0, 1.5, 2.0]},
                revision="403fbacf2f60caaa102f893fdfabb694619b2417",
                sha256={"model.safetensors": "fe7c5e8785e0a05833e1bfc3e002ec7f55af21e306b2e7154a448c1f54ccfb0d",
                        "config.json": "eefb20806f7104e77c9a5277c9df0f9bb8826b08eb1d4e8ab2b9829b6ef9fac1"},
                notes="the default config does not run (acoustic branch at 75 Hz, semantic at 50 Hz); random-init "
                      "uses the published structure: acoustic strides 8, 5, 4, 2, 3 both ways (hop 960: 25 Hz) "
                      "and bandwidths 0.5-2 kbps"),
)}


# the published files of each codec (engine/preflight.py fetches them at session start)
PRETRAINED: dict[str, tuple[Source, ...]] = {
    name: tuple(hf_source(s.repo, f, s.revision, s.sha256.get(f)) for f in WEIGHTS_FILES) for name, s in SPECS.items()}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in, nested dicts (sub-configs) key by key."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _transformers(cls_name: str) -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise CheckpointError(f"transformers is not importable ({exc}); pip install 'transformers>=5.0'") from None
    cls = getattr(transformers, cls_name, None)
    if cls is None:
        raise CheckpointError(f"transformers {transformers.__version__} has no {cls_name}; "
                              "pip install 'transformers>=5.0'")
    return cls


def checkpoint_folder(path: str | Path) -> Path:
    """A ``save_pretrained`` folder (or its ``model.safetensors``), checked to hold both files."""
    p = Path(path).expanduser()
    folder = p.parent if p.is_file() else p
    missing = [f for f in WEIGHTS_FILES if not (folder / f).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {p}: no {' or '.join(missing)} in {folder}; pass a save_pretrained "
                              "folder (config.json + model.safetensors) as --codec-checkpoint")
    return folder


def seed_codebooks(model: Any, run_encoder: Callable[[], Any], seed: int) -> int:
    """Fill every all-zero Euclidean codebook from the vectors it is asked to quantise.

    Such codebooks start at zero and are only filled by k-means in training: an untrained model
    maps every input to code 0 and its output ignores its input. The model's own ``encode`` runs
    once (``run_encoder``) with every codebook's ``encode`` wrapped: a codebook still at zero is
    drawn from a Gaussian with its input's per-dimension mean and spread before quantising, so each
    residual level is seeded from the residual its predecessors leave. (Copies of input frames,
    k-means' usual initialisation, would quantise the seeding signal almost exactly at the first
    level and leave later levels near zero: one code for any other input.) Returns how many were
    seeded."""
    import torch
    books = [m for m in model.modules() if type(m).__name__.endswith("EuclideanCodebook")
             and not bool(torch.any(m.embed != 0))]
    g = torch.Generator().manual_seed(seed)
    pending = set(map(id, books))

    def wrap(cb: Any) -> Callable[[Any], Any]:
        original = cb.encode

        def encode(hidden: Any) -> Any:
            if id(cb) in pending:
                rows = hidden.reshape(-1, hidden.shape[-1]).detach().float().cpu()
                mean, std = rows.mean(0), rows.std(0) if rows.shape[0] > 1 else rows.abs().mean(0)
                noise = torch.randn(cb.codebook_size, rows.shape[1], generator=g)
                embed = (mean + std.clamp(min=1e-6) * noise).to(hidden.device)
                if hasattr(cb, "embed_sum"):  # Mimi: embed = embed_sum / cluster_usage, cached in _embed
                    cb.embed_sum.copy_(embed)
                    cb.cluster_usage.fill_(1.0)
                    cb._embed = None
                else:
                    cb.embed.copy_(embed)
                pending.discard(id(cb))
            return original(hidden)
        return encode

    for cb in books:
        cb.encode = wrap(cb)
    try:
        with torch.no_grad():
            run_encoder()
    finally:
        for cb in books:
            del cb.encode  # the instance attribute: the class's method again
    if pending:
        raise CodecError(f"random-init: {len(pending)} of {len(books)} zero codebooks were not reached by encode")
    return len(books)


class HfAudioCodec(NeuralCodec):
    """One transformers audio codec (a row of :data:`SPECS`)."""

    version = "1"

    def __init__(self, spec: HfCodecSpec, checkpoint: str | None = None, config: str | None = None,
                 weights: str = "pretrained", device: str = "cpu", trust_checkpoint: bool = False,
                 model_config: dict[str, Any] | None = None, **_: object) -> None:
        self.spec = spec
        self.name = spec.name
        self.licence = spec.licence
        self.device = device
        self.weights = "checkpoint" if checkpoint else weights
        self.folder: Path | None = None
        self.config_path: str | None = None
        if self.weights == "checkpoint":
            self.checkpoint = self.checkpoint_arg(checkpoint)
        elif self.weights == "pretrained":  # the config fixes the bitrates: obtained now
            label = f"{self.name} pretrained model ({spec.repo})"
            missing = [s for s in self.sources() if not s.path.is_file()]
            if missing and is_offline():  # every missing file in one error, not the first alone
                raise FetchError(f"{label}: {len(missing)} file{'s' * (len(missing) > 1)} not in the cache and downloads are off "
                                 f"({offline_reason()}): " + "; ".join(f"{s.url} -> {s.path}" for s in missing)
                                 + ". Fetch them on a machine with internet and put them at those paths, or pass "
                                 "--codec-checkpoint DIR (a save_pretrained folder)")
            paths = [ensure(src, label) for src in self.sources()]
            self.folder = paths[0].parent
            self.checkpoint = str(paths[1])
        elif self.weights != "random-init":
            raise CodecError(f"{self.name}: weights {self.weights!r} unknown; use pretrained, random-init or "
                             "--codec-checkpoint DIR")
        self._overrides = _merge(spec.random_init, model_config or {})
        if config:  # --codec-config: a config.json for the architecture
            self.config_path = str(Path(config).expanduser())
        self.cfg = self._config()
        c = self.cfg
        self.sample_rate = int(getattr(c, spec.rate_key))
        self._hop = int(getattr(c, spec.hop_key))
        self.frame_rate = self.sample_rate / self._hop
        if spec.select == "fsq":
            self.codebook_size = int(np.prod(c.quantization_levels))
            self._ks: dict[float, tuple[int, float | None]] = {self._rate(1): (1, None)}
        elif spec.select == "bandwidth":
            self.codebook_size = int(c.codebook_size)
            self._ks = {}
            for bw in c.target_bandwidths:
                k = max(1, int(round(float(bw) * 1000 / (self.frame_rate * math.log2(self.codebook_size)))))
                self._ks[self._rate(k)] = (k, float(bw))
        else:
            self.codebook_size = int(c.codebook_size)
            self._ks = {self._rate(k): (k, None) for k in range(1, int(getattr(c, spec.max_k_key)) + 1)}
        self.bitrates_kbps = tuple(sorted(self._ks))
        self.n_q_max = max(k for k, _ in self._ks.values())
        self.description = (f"{spec.title}, f_N={self.frame_rate:g} Hz, C={self.codebook_size}, k<={self.n_q_max}"
                            + (", random-init" if self.weights == "random-init" else ""))
        self.weights_fingerprint = (f"random-init-{RANDOM_INIT_SEED}-{json.dumps(self._arch(), sort_keys=True)}"
                                    if self.weights == "random-init" else None)
        self._model: Any = None
        self._fe: Any = None

    # ---- facts ------------------------------------------------------------------------------
    def sources(self) -> tuple[Source, ...]:
        """The published files, at the pinned revision, in the Hugging Face cache's layout."""
        return PRETRAINED[self.spec.name]

    def _rate(self, k: int) -> float:
        return self.frame_rate * k * math.log2(self.codebook_size) / 1000.0

    def _arch(self) -> dict[str, Any]:
        return self.cfg.to_dict()

    def _config(self) -> Any:
        cls = _transformers(self.spec.config_class)
        if self.weights in ("checkpoint", "pretrained"):
            path = Path(self.config_path) if self.config_path else (
                self.folder if self.folder is not None else checkpoint_folder(self.checkpoint_file())) / "config.json"
        elif self.config_path:
            path = Path(self.config_path)
        else:
            return cls(**self._overrides)  # a sub-config given as a dict is merged with its defaults by the class
        if not path.is_file():
            raise CheckpointError(f"{self.name}: config not found: {path}")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except Exception as exc:  # noqa: BLE001  (a config of another model, bad JSON)
            raise CheckpointError(f"{self.name}: cannot read config {path}: {exc}") from None

    @property
    def token_hop(self) -> int:
        return self._hop

    # ---- model ------------------------------------------------------------------------------
    @property
    def model(self) -> Any:
        if self._model is None:
            import torch
            cls = _transformers(self.spec.model)
            torch.manual_seed(RANDOM_INIT_SEED)
            if self.weights == "random-init":
                m = cls(self.cfg).eval()
                self._model = m.to(self.device)
                seed_codebooks(m, self._seed_input, RANDOM_INIT_SEED)
            else:
                folder = self.folder if self.folder is not None else checkpoint_folder(self.checkpoint_file())
                m = self._load(cls, folder)
                self.checkpoint_sha256 = sha256_file(folder / "model.safetensors")
                self._model = m.eval().to(self.device)
        return self._model

    def _load(self, cls: Any, folder: Path) -> Any:
        """``from_pretrained`` on a local folder: safetensors only, no remote code, no network;
        every parameter must come from the file."""
        try:
            m, info = cls.from_pretrained(str(folder), config=self.cfg, local_files_only=True, use_safetensors=True,
                                          output_loading_info=True)
        except Exception as exc:  # noqa: BLE001  (truncated file, another architecture)
            raise CheckpointError(f"{self.name}: cannot load {folder}: {' '.join(str(exc).split())[:400]}") from None
        bad = {k: v for k in ("missing_keys", "mismatched_keys", "unexpected_keys") if (v := list(info.get(k) or []))}
        if bad:
            raise CheckpointError(f"checkpoint {folder} does not fit the {self.name} architecture: " + "; ".join(
                f"{len(v)} {k.replace('_', ' ')} (e.g. {', '.join(map(str, v[:3]))})" for k, v in bad.items())
                + ". Is it the right model/config?")
        return m

    def _seed_input(self) -> None:
        import torch
        g = torch.Generator().manual_seed(RANDOM_INIT_SEED)
        n = int(SEED_SIGNAL_S * self.sample_rate) // self._hop * self._hop
        t = torch.arange(n) / self.sample_rate
        x = 0.1 * torch.randn(1, n, generator=g) + 0.3 * torch.sin(2 * math.pi * (100 + 2000 * t) * t)
        self.codes_of(x.to(self.device), max(self.bitrates_kbps))

    def _features(self, x: Tensor) -> dict[str, Any]:
        """X-Codec 2 / NeuCodec: the feature extractor's ``input_values`` (padded audio) and
        ``input_features`` (80-bin fbank for the w2v-BERT branch), as the model expects them."""
        if self._fe is None:
            name = self.spec.model[:-len("Model")] + "FeatureExtractor"
            self._fe = _transformers(name)(sampling_rate=self.sample_rate, hop_length=self._hop)
        rows = [r.detach().float().cpu().numpy() for r in x]
        feats = self._fe(rows, sampling_rate=self.sample_rate, return_tensors="pt")
        return {k: v.to(self.device) for k, v in feats.items()}

    # ---- codes ------------------------------------------------------------------------------
    def codes_of(self, x: Tensor, bitrate_kbps: float) -> Tensor:
        s, m = self.spec, self.model
        k, bandwidth = self._ks[self.check_bitrate(bitrate_kbps)]
        if s.features:
            out = m.encode(**self._features(x))
        else:
            arg: dict[str, Any] = {"bandwidth": bandwidth} if s.select == "bandwidth" else {s.select: k}
            out = m.encode(x[:, None, :].float(), **arg)
        codes = out.audio_codes
        if s.scales:  # EnCodec: [chunks, batch, k, frames]; one chunk and no scale for the 24 kHz model
            if codes.shape[0] != 1 or any(sc is not None for sc in out.audio_scales):
                raise CodecError(f"{self.name}: codes alone do not decode for a chunked, normalising config")
            codes = codes[0]
        return codes.long()

    def audio_of(self, codes: Tensor) -> Tensor:
        s = self.spec
        extra: dict[str, Any] = {"audio_scales": [None]} if s.scales else {}
        y = self.model.decode(audio_codes=codes[None] if s.scales else codes, **extra).audio_values
        y = y.reshape(y.shape[0], -1)
        if s.output_rate_key:
            import torchaudio
            y = torchaudio.functional.resample(y.float(), int(getattr(self.cfg, s.output_rate_key)), self.sample_rate)
        return y

    def roundtrip_batch(self, batch: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        import torch
        x = torch.from_numpy(self.pad_to_hop(batch, self._hop)).to(self.device)
        with self.inference():
            y = self.audio_of(self.codes_of(x, bitrate_kbps))
        return self.fit(y, batch.shape[1])

    def cache_identity(self) -> tuple[object, ...]:
        return (*super().cache_identity(), self.spec.model)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "repo": self.spec.repo, "revision": self.spec.revision,
                "config": self.config_path or (str(self.folder / "config.json") if self.folder else None)}


def _factory(name: str) -> Callable[..., HfAudioCodec]:
    def make(checkpoint: str | None = None, config: str | None = None, weights: str = "pretrained",
             device: str = "cpu", trust_checkpoint: bool = False, model_config: dict[str, Any] | None = None,
             **_: object) -> HfAudioCodec:
        return HfAudioCodec(SPECS[name], checkpoint=checkpoint, config=config, weights=weights, device=device,
                            trust_checkpoint=trust_checkpoint, model_config=model_config)
    make.__name__ = make.__qualname__ = name.replace("-", "_")
    make.licence = SPECS[name].licence  # type: ignore[attr-defined]  # list-codecs shows it without building
    make.__doc__ = f"{SPECS[name].title}: the {name!r} row of SPECS."
    return make


# the registered names (pyproject entry points): one factory per row of SPECS
hf_encodec = _factory("hf-encodec")
hf_dac = _factory("hf-dac")
mimi = _factory("mimi")
xcodec = _factory("xcodec")
xcodec2 = _factory("xcodec2")
neucodec = _factory("neucodec")
higgs_audio_v2 = _factory("higgs-audio-v2")
