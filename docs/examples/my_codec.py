"""A complete codec adapter: uniform PCM quantisation at 16 kHz (a toy "codec" with two
operating points). Run the suites on it from this folder:

    PYTHONPATH=docs/examples pytest --pyargs codec_conformance.suites --codec=my_codec:make_codec

(``tests/integration/test_run.py::test_readme_example_codec_runs`` runs it.)
"""
import numpy as np

from codec_conformance.codecs.base import BaseCodec


class MyCodec(BaseCodec):
    name = "my_codec"
    sample_rate = 16000                 # Hz; the framework resamples to and from it
    bitrates_kbps = (192.0, 256.0)      # 12 and 16 bits per sample at 16 kHz, ascending
    description = "uniform PCM quantiser (example adapter)"

    def cache_identity(self):
        # everything that determines the output: lets the on-disk cache reuse results across runs
        return ("my_codec", 1)

    def roundtrip_one(self, x: np.ndarray, bitrate_kbps: float) -> np.ndarray:
        """One signal (float32, [-1, 1], at sample_rate) in, the decoded signal out: same length,
        time-aligned, float."""
        bits = int(round(bitrate_kbps * 1000 / self.sample_rate))
        step = 2.0 / 2 ** bits
        return (np.round(np.clip(x, -1, 1) / step) * step).astype(np.float32)


def make_codec(**options):
    """The factory ``--codec=my_codec:make_codec`` calls (it receives the --codec-* options its
    signature accepts: checkpoint, config, weights, trust_checkpoint, device)."""
    return MyCodec()
