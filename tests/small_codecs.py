"""Reduced-size neural codecs for tests that need a real model but not its real size: EnCodec's
architecture (SEANet, LSTM, RVQ; 24 kHz, hop 320, the real bitrates) with 4 base filters and a
32-dimensional latent, at random-init (labelled so). ``--codec=tests.small_codecs:small_encodec``;
with ``GOLDEN_TWEAK=1`` in the environment one weight of its decoder is changed (the golden tests)."""
import os

from codec_conformance.codecs.encodec import EncodecCodec


class SmallEncodec(EncodecCodec):
    def build_architecture(self):
        from encodec import EncodecModel
        from encodec.modules import SEANetDecoder, SEANetEncoder
        from encodec.quantization import ResidualVectorQuantizer
        v = self.variant
        enc = SEANetEncoder(channels=1, dimension=32, n_filters=4, norm=v["norm"], causal=v["causal"], lstm=1)
        dec = SEANetDecoder(channels=1, dimension=32, n_filters=4, norm=v["norm"], causal=v["causal"], lstm=1)
        q = ResidualVectorQuantizer(dimension=32, n_q=self.n_q_max, bins=1024)
        return EncodecModel(enc, dec, q, v["bandwidths"], self.sample_rate, 1, normalize=False, segment=None,
                            name="small-encodec")

    @property
    def model(self):
        m = super().model
        if os.environ.get("GOLDEN_TWEAK") and not getattr(self, "_tweaked", False):
            tweak_one_weight(m)
            self._tweaked = True
        return m


def tweak_one_weight(model) -> None:
    """Add 0.1 % of the layer's largest weight to one weight of the last decoder layer."""
    import torch
    w = model.decoder.model[-1].conv.conv.weight_v
    with torch.no_grad():
        w.view(-1)[0] += 1e-3 * float(w.abs().max())


class SmallEncodec48(EncodecCodec):
    """EnCodec 48 kHz's structure (stereo, non-causal, time group norm, 1 s segments with 1 %
    overlap, each normalised by its own scale) at 4 base filters and a 32-dim latent."""

    def build_architecture(self):
        from encodec import EncodecModel
        from encodec.modules import SEANetDecoder, SEANetEncoder
        from encodec.quantization import ResidualVectorQuantizer
        v = self.variant
        kw = dict(channels=2, dimension=32, n_filters=4, norm=v["norm"], causal=v["causal"], lstm=1)
        q = ResidualVectorQuantizer(dimension=32, n_q=self.n_q_max, bins=1024)
        return EncodecModel(SEANetEncoder(**kw), SEANetDecoder(**kw), q, v["bandwidths"], self.sample_rate, 2,
                            normalize=True, segment=1.0, name="small-encodec48")


def small_encodec48(**kw):
    kw.pop("weights", None)
    return SmallEncodec48(weights="random-init", sample_rate=48000, **kw)


def small_encodec(**kw):
    kw.pop("weights", None)
    c = SmallEncodec(weights="random-init", **kw)
    c.weights_fingerprint = "small-random-init-1234"
    return c
