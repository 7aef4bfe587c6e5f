"""Cross-implementation conformance (issue 25, item 2): one model, two implementations.

3GPP runs the fixed-point and floating-point encoders of a codec against each other's decoders.
Here the pairs are a codec's original package and its port to Hugging Face ``transformers``:
EnCodec (``encodec`` vs ``transformers.EncodecModel``) and DAC (``descript-audio-codec`` vs
``transformers.DacModel``). One model is built in the original package (the adapters'
random-init architecture, or a reduced one), its weights are converted to the transformers model
with the conversion rules transformers uses (``convert_encodec_checkpoint_to_pytorch.py`` and
``convert_dac_checkpoint.py`` of the transformers repository; not shipped in its wheel, so the
same mapping is implemented here: :func:`encodec_hf_name`, :func:`dac_hf_name`), and per
bitrate :func:`measure` says

- ``identical_codes``: the fraction of token ids equal between the two encoders (same input);
- ``decode_max_abs`` / ``decode_snr_db``: the two decoders on the *same* codes (the original's):
  the largest absolute sample difference and the SNR of the original's output over the
  difference (dB; ``inf`` when identical);
- ``roundtrip_max_abs`` / ``roundtrip_snr_db``: each implementation's own encode + decode
  (over the common length; ``samples_original`` / ``samples_transformers`` say both lengths).

Differences are measured, never hidden: :func:`first_divergence` names the first layer whose
outputs differ, for a finding's report.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

# ----------------------------------------------------------------------------- EnCodec
# transformers' rules (MAPPING_ENCODER/DECODER/QUANTIZER of convert_encodec_checkpoint_to_pytorch.py):
# the SEANet modules keep their index, lose the inner wrapper (conv.conv -> conv, convtr.convtr ->
# conv; the 48 kHz model's conv.norm -> norm), ``model`` becomes ``layers``; the RVQ's
# ``vq.layers.N._codebook`` becomes ``layers.N.codebook``. Weight norm's g and v are what
# transformers 5 keeps as the parametrization's original0 and original1.
_ENCODEC_RULES = (
    (re.compile(r"^(encoder|decoder)\.model\.(\d+)\.(block\.\d+\.|shortcut\.)?conv\.conv\.(.+)$"), r"\1.layers.\2.\3conv.\4"),
    (re.compile(r"^(encoder|decoder)\.model\.(\d+)\.(block\.\d+\.|shortcut\.)?conv\.norm\.(.+)$"), r"\1.layers.\2.\3norm.\4"),
    (re.compile(r"^decoder\.model\.(\d+)\.convtr\.convtr\.(.+)$"), r"decoder.layers.\1.conv.\2"),
    (re.compile(r"^decoder\.model\.(\d+)\.convtr\.norm\.(.+)$"), r"decoder.layers.\1.norm.\2"),
    (re.compile(r"^(encoder|decoder)\.model\.(\d+)\.lstm\.(.+)$"), r"\1.layers.\2.lstm.\3"),
    (re.compile(r"^quantizer\.vq\.layers\.(\d+)\._codebook\.(inited|cluster_size|embed|embed_avg)$"),
     r"quantizer.layers.\1.codebook.\2"),
)
_WEIGHT_NORM = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}


def encodec_hf_name(name: str, hf_names: set[str] | None = None) -> str:
    """The transformers ``EncodecModel`` parameter of ``encodec`` parameter ``name``; KeyError
    when no rule maps it. With ``hf_names`` (the target's state-dict keys), weight norm's
    ``weight_g``/``weight_v`` become the parametrization's ``original0``/``original1`` where
    the target has those."""
    for pattern, repl in _ENCODEC_RULES:
        if pattern.match(name):
            out = pattern.sub(repl, name)
            head, _, leaf = out.rpartition(".")
            if leaf in _WEIGHT_NORM and (hf_names is None or out not in hf_names):
                out = f"{head}.{_WEIGHT_NORM[leaf]}"
            return out
    raise KeyError(f"encodec parameter {name!r}: no transformers conversion rule maps it")


def encodec_config(model: Any, **overrides: Any):
    """The transformers ``EncodecConfig`` of an ``encodec`` model (its SEANet, RVQ and rates)."""
    from transformers import EncodecConfig
    enc = model.encoder
    lstm = next((m for m in enc.model if type(m).__name__ == "SLSTM"), None)
    first_conv = enc.model[0].conv.conv
    kw: dict[str, Any] = dict(
        target_bandwidths=list(model.target_bandwidths), sampling_rate=int(model.sample_rate),
        audio_channels=int(model.channels), normalize=bool(model.normalize),
        hidden_size=int(enc.dimension), num_filters=int(first_conv.out_channels),
        upsampling_ratios=list(enc.ratios[::-1]) if enc.ratios[0] < enc.ratios[-1] else list(enc.ratios),
        num_lstm_layers=int(lstm.lstm.num_layers) if lstm is not None else 0,
        codebook_size=int(model.quantizer.bins), codebook_dim=int(model.quantizer.dimension),
        use_causal_conv=bool(enc.model[0].causal),  # SConv1d holds it; its NormConv1d (.conv) has none
        norm_type=str(getattr(enc.model[0].conv, "norm_type", "weight_norm")))
    if model.segment is not None:
        kw.update(chunk_length_s=float(model.segment), overlap=float(model.overlap))
    kw.update(overrides)
    return EncodecConfig(**kw)


def convert(src: dict[str, Any], dst_model: Any, rename: Callable[[str, set[str]], str],
            transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Load ``src`` (an original state dict) into ``dst_model`` under the names ``rename`` gives,
    strictly: every source tensor used once, every target tensor filled, shapes equal (transformers'
    script only warns about unused weights; here any is an error). Returns the converted dict."""
    import torch
    target = dst_model.state_dict()
    names = set(target)
    out: dict[str, Any] = {}
    for k, v in (transform(src) if transform else src).items():
        new = rename(k, names)
        if new not in names:
            raise KeyError(f"{k} -> {new}: not a parameter of {type(dst_model).__name__}")
        if new in out:
            raise KeyError(f"{k} -> {new}: mapped twice")
        if tuple(target[new].shape) != tuple(v.shape):
            raise ValueError(f"{k} -> {new}: shape {tuple(v.shape)} vs {tuple(target[new].shape)}")
        out[new] = v.detach().clone().to(target[new].dtype)
    missing = sorted(names - set(out))
    if missing:
        raise KeyError(f"{len(missing)} parameters of {type(dst_model).__name__} not filled: {missing[:5]}")
    with torch.no_grad():
        dst_model.load_state_dict(out, strict=True)
    return out


def encodec_to_transformers(model: Any, **config_overrides: Any):
    """The transformers ``EncodecModel`` holding ``model``'s weights (eval mode)."""
    from transformers import EncodecModel
    hf = EncodecModel(encodec_config(model, **config_overrides)).eval()
    convert(model.state_dict(), hf, encodec_hf_name)
    return hf


# ----------------------------------------------------------------------------- DAC
# transformers' rules (MAPPING_ENCODER/DECODER/QUANTIZER of convert_dac_checkpoint.py): the
# nn.Sequential indices become names. Encoder: block.0 = conv1, block.1..R = the R encoder
# blocks (block.{i} -> block.{i-1}; their residual units block.{j}.block.{0,1,2,3} -> res_unit{j+1}
# .{snake1,conv1,snake2,conv2}, then block.3 -> snake1, block.4 -> conv1), block.R+1 = snake1,
# block.R+2 = conv2. Decoder: model.0 = conv1, model.1..R = blocks (block.0 -> snake1, block.1 ->
# conv_t1, residual units block.{2,3,4} -> res_unit{1,2,3}), model.R+1 = snake1, model.R+2 =
# conv2. The quantizers keep their names. transformers' DAC has no weight norm: the script folds
# g and v into the weight (weight_norm, then remove_weight_norm), as :func:`dac_fold_weight_norm`.
_UNIT = ("snake1", "conv1", "snake2", "conv2")


def _indices(m: re.Match[str]) -> tuple[int, int | None, int | None]:
    """The block indices of a matched DAC name: (i, j or None, k or None)."""
    i, j, k = m.groups()
    return int(i), None if j is None else int(j), None if k is None else int(k)


def _stack_end(i: int, n_rates: int) -> str | None:
    """The name of a top-level layer of DAC's encoder or decoder that is not one of its ``n_rates``
    blocks: the first convolution, the last snake and the last convolution (both stacks alike)."""
    return {0: "conv1", n_rates + 1: "snake1", n_rates + 2: "conv2"}.get(i)


def dac_hf_name(name: str, n_rates: int) -> str:
    """The transformers ``DacModel`` parameter of DAC parameter ``name`` (weight norm folded:
    ``weight_g``/``weight_v`` are one ``weight``); KeyError when no rule maps it."""
    stem, _, leaf = name.rpartition(".")
    leaf = "weight" if leaf in ("weight_g", "weight_v") else leaf
    if stem.startswith("quantizer.quantizers."):
        return f"{stem}.{leaf}"
    m = re.fullmatch(r"encoder\.block\.(\d+)(?:\.block\.(\d+)(?:\.block\.(\d+))?)?", stem)
    if m:
        i, j, k = _indices(m)
        if j is None:
            if (where := _stack_end(i, n_rates)) is not None:
                return f"encoder.{where}.{leaf}"
        elif k is not None and j <= 2:
            return f"encoder.block.{i - 1}.res_unit{j + 1}.{_UNIT[k]}.{leaf}"
        elif k is None and j in (3, 4):
            return f"encoder.block.{i - 1}.{'snake1' if j == 3 else 'conv1'}.{leaf}"
    m = re.fullmatch(r"decoder\.model\.(\d+)(?:\.block\.(\d+)(?:\.block\.(\d+))?)?", stem)
    if m:
        i, j, k = _indices(m)
        if j is None:
            if (where := _stack_end(i, n_rates)) is not None:
                return f"decoder.{where}.{leaf}"
        elif k is None and j in (0, 1):
            return f"decoder.block.{i - 1}.{'snake1' if j == 0 else 'conv_t1'}.{leaf}"
        elif k is not None and 2 <= j <= 4:
            return f"decoder.block.{i - 1}.res_unit{j - 1}.{_UNIT[k]}.{leaf}"
    raise KeyError(f"dac parameter {name!r}: no transformers conversion rule maps it")


def dac_fold_weight_norm(sd: dict[str, Any]) -> dict[str, Any]:
    """``weight_g``/``weight_v`` pairs folded into ``weight`` = g v / ||v|| (torch's own weight-norm
    function, dim 0: what remove_weight_norm computes, and what the original computes each call)."""
    import torch
    out: dict[str, Any] = {}
    for k, v in sd.items():
        head, dot, leaf = k.rpartition(".")
        if leaf == "weight_v":
            continue
        if leaf == "weight_g":
            out[f"{head}{dot}weight_v"] = torch._weight_norm(sd[f"{head}{dot}weight_v"], v, 0)
        else:
            out[k] = v
    return out


def dac_config(kwargs: dict[str, Any], **overrides: Any):
    """The transformers ``DacConfig`` of a DAC built with ``kwargs`` (the adapter's)."""
    from transformers import DacConfig
    kw: dict[str, Any] = dict(
        encoder_hidden_size=int(kwargs.get("encoder_dim", 64)), downsampling_ratios=list(kwargs["encoder_rates"]),
        decoder_hidden_size=int(kwargs.get("decoder_dim", 1536)), upsampling_ratios=list(kwargs["decoder_rates"]),
        n_codebooks=int(kwargs["n_codebooks"]), codebook_size=int(kwargs.get("codebook_size", 1024)),
        codebook_dim=int(kwargs.get("codebook_dim", 8)), quantizer_dropout=0.0,
        sampling_rate=int(kwargs["sample_rate"]), hop_length=int(np.prod(kwargs["encoder_rates"])))
    kw.update(overrides)
    return DacConfig(**kw)


def dac_to_transformers(model: Any, kwargs: dict[str, Any], **config_overrides: Any):
    """The transformers ``DacModel`` holding DAC ``model``'s weights (eval mode)."""
    from transformers import DacModel
    hf = DacModel(dac_config(kwargs, **config_overrides)).eval()
    n_rates = len(kwargs["encoder_rates"])
    convert(model.state_dict(), hf, lambda k, _names: dac_hf_name(k.replace(".weight_v", ".weight_g"), n_rates),
            dac_fold_weight_norm)
    return hf


# ----------------------------------------------------------------------------- measuring
@dataclass
class BitratePoint:
    """One operating point, the two implementations compared on one input."""
    bitrate_kbps: float
    n_codebooks: int
    identical_codes: float
    decode_max_abs: float
    decode_snr_db: float
    roundtrip_max_abs: float
    roundtrip_snr_db: float
    samples_original: int = 0       # decoded length of the original's round trip
    samples_transformers: int = 0   # decoded length of transformers' round trip (the differences are over the common part)
    roundtrip_first_difference: int = -1  # first sample (of the common part) where the round trips differ; -1: none

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def difference(ref: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """(max |ref - other|, 10 log10(E_ref / E_diff) in dB; inf when identical) over the common length."""
    n = min(ref.shape[-1], other.shape[-1])
    a, b = np.asarray(ref[..., :n], np.float64), np.asarray(other[..., :n], np.float64)
    d = a - b
    e_d = float(np.sum(d ** 2))
    snr = math.inf if e_d == 0 else 10 * math.log10(max(float(np.sum(a ** 2)), 1e-30) / e_d)
    return float(np.max(np.abs(d))) if d.size else 0.0, snr


def first_difference(ref: np.ndarray, other: np.ndarray) -> int:
    """The first sample index (over the common length, any channel) where the two differ; -1: none."""
    n = min(ref.shape[-1], other.shape[-1])
    d = (np.asarray(ref[..., :n]) != np.asarray(other[..., :n])).reshape(-1, n).any(axis=0)
    return int(np.argmax(d)) if d.any() else -1


def codes_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of equal token ids; 0 when the shapes differ."""
    return float(np.mean(a == b)) if a.shape == b.shape else 0.0


def measure_encodec(orig: Any, hf: Any, x: np.ndarray) -> list[BitratePoint]:
    """EnCodec ``orig`` (encodec) vs ``hf`` (transformers) on mono ``x`` [samples] (repeated to the
    model's channels) at every bandwidth. The 48 kHz model encodes 1 s segments, each with its own
    scale: codes are compared segment by segment over the original's frames (a segment one
    implementation has and the other has not counts as disagreeing; transformers pads the last
    segment to whole segments: its extra frames are not compared, and are in
    :func:`encodec_segments`); "decode" (both decoders on the original's codes and scales) is
    measured where the two lay their segments out alike, else NaN."""
    import torch
    t = torch.from_numpy(np.asarray(x, np.float32))[None, None].repeat(1, int(orig.channels), 1)
    out = []
    with torch.no_grad():
        for bw in orig.target_bandwidths:
            orig.set_target_bandwidth(bw)
            frames = orig.encode(t)
            y_orig = orig.decode(frames)
            enc = hf.encode(t, bandwidth=bw)
            same, total = 0, 0
            for i, (c, _) in enumerate(frames):
                total += c.numel()
                if i < enc.audio_codes.shape[0]:
                    c_hf = enc.audio_codes[i][..., :c.shape[-1]]
                    if c_hf.shape == c.shape:
                        same += int((c_hf == c).sum())
            y_hf_own = hf.decode(enc.audio_codes, enc.audio_scales).audio_values
            if len({c.shape for c, _ in frames}) == 1:
                codes = torch.stack([c for c, _ in frames])
                scales = [s for _, s in frames]
                y_hf_same = hf.decode(codes, scales).audio_values
                dm, ds = difference(y_orig.numpy(), y_hf_same.numpy())
            else:
                dm, ds = math.nan, math.nan
            rm, rs = difference(y_orig.numpy(), y_hf_own.numpy())
            out.append(BitratePoint(float(bw), int(frames[0][0].shape[1]), same / total if total else 0.0,
                                    dm, ds, rm, rs, int(y_orig.shape[-1]), int(y_hf_own.shape[-1]),
                                    first_difference(y_orig.numpy(), y_hf_own.numpy())))
    return out


def encodec_segments(orig: Any, hf: Any, x: np.ndarray, bandwidth: float) -> dict[str, Any]:
    """How the two lay out the segments of mono ``x``: frames per segment and each segment's scale
    (None for a model that does not normalise), original and transformers."""
    import torch
    t = torch.from_numpy(np.asarray(x, np.float32))[None, None].repeat(1, int(orig.channels), 1)
    with torch.no_grad():
        orig.set_target_bandwidth(bandwidth)
        frames = orig.encode(t)
        enc = hf.encode(t, bandwidth=bandwidth)
    scale = (lambda s: None if s is None else float(s.flatten()[0]))  # noqa: E731
    return {"frames_original": [int(c.shape[-1]) for c, _ in frames],
            "frames_transformers": [int(enc.audio_codes.shape[-1])] * int(enc.audio_codes.shape[0]),
            "scales_original": [scale(s) for _, s in frames],
            "scales_transformers": [scale(s) for s in enc.audio_scales]}


def measure_dac(orig: Any, hf: Any, x: np.ndarray, frame_rate_hz: float, codebook_size: int = 1024,
                n_codebooks: list[int] | None = None) -> list[BitratePoint]:
    """DAC ``orig`` (descript-audio-codec) vs ``hf`` (transformers) on mono ``x`` [samples] (whole
    frames) at every number of codebooks (or those given)."""
    import torch
    t = torch.from_numpy(np.asarray(x, np.float32))[None, None]
    total = int(orig.n_codebooks)
    out = []
    with torch.no_grad():
        for k in n_codebooks or range(1, total + 1):
            z, c_orig = orig.encode(t, n_quantizers=k)[:2]
            c_orig = c_orig[:, :k]
            y_orig = orig.decode(orig.quantizer.from_codes(c_orig)[0])
            enc = hf.encode(t, n_quantizers=k)
            c_hf = enc.audio_codes[:, :k]
            y_hf_own = hf.decode(audio_codes=c_hf).audio_values
            y_hf_same = hf.decode(audio_codes=c_orig).audio_values
            dm, ds = difference(y_orig[:, 0].numpy(), y_hf_same.numpy())
            rm, rs = difference(y_orig[:, 0].numpy(), y_hf_own.numpy())
            br = frame_rate_hz * k * math.log2(codebook_size) / 1000.0
            out.append(BitratePoint(br, k, codes_agreement(c_orig.numpy(), c_hf.numpy()), dm, ds, rm, rs,
                                    int(y_orig.shape[-1]), int(y_hf_own.shape[-1])))
    return out


def first_divergence(pairs: list[tuple[str, Any, Any]], x: Any) -> list[tuple[str, float]]:
    """Run ``x`` through matching (name, original module, transformers module) pairs in order,
    each on the previous original output, and return (name, max |difference|) per pair: where the
    two implementations start to differ."""
    import torch
    out = []
    h = x
    with torch.no_grad():
        for name, a, b in pairs:
            ya, yb = a(h), b(h)
            ya = ya[0] if isinstance(ya, tuple) else ya
            yb = yb[0] if isinstance(yb, tuple) else yb
            out.append((name, float((ya - yb).abs().max()) if ya.shape == yb.shape else math.inf))
            h = ya
    return out
