"""Helpers shared by RVQ codecs (EnCodec-style quantizers: EnCodec, SpeechTokenizer)."""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable


def bitrate_kbps(frame_rate_hz: float, n_codebooks: int, codebook_size: int) -> float:
    """Paper eq. (1): R = f_N * k * log2(C), in kbps."""
    return frame_rate_hz * n_codebooks * math.log2(codebook_size) / 1000.0


def init_rvq_codebooks(encode: Callable[[Any], Any], layers: Iterable[Any], channels: int, sample_rate: int, seed: int) -> None:
    """Fill each codebook of a random-init RVQ from encoder frames of a fixed signal.

    EnCodec-style codebooks start at zero and are only filled by k-means during training, so an
    untouched random model maps every input to code 0 and its output ignores its input. This does
    k-means' initialisation step (random frames as centroids, no iterations) layer by layer on the
    residual, deterministically, so that a random-init model's codes depend on its input.
    ``encode`` maps audio [1, channels, samples] to latents [1, D, frames]."""
    import torch

    g = torch.Generator().manual_seed(seed)
    n = 2 * sample_rate
    t = torch.arange(n) / sample_rate
    x = 0.1 * torch.randn(1, channels, n, generator=g) + 0.3 * torch.sin(2 * math.pi * (100 + 2000 * t) * t)
    with torch.no_grad():
        resid = encode(x)[0].T  # [frames, D]
        for layer in layers:
            cb = layer._codebook
            idx = torch.randint(0, resid.shape[0], (cb.embed.shape[0],), generator=g)
            cb.embed.copy_(resid[idx] + 1e-3 * torch.randn(cb.embed.shape, generator=g))
            if hasattr(cb, "embed_avg"):
                cb.embed_avg.copy_(cb.embed)
            cb.inited.fill_(1)
            resid = resid - layer.decode(layer.encode(resid.T[None]))[0].T
