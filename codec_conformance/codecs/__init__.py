"""Codec adapters. The public contract is :class:`codec_conformance.codecs.base.Codec`."""
from .base import BaseCodec, Codec, codec_info  # noqa: F401  (light: numpy only)
