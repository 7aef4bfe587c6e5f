"""codec-conformance: a pytest conformance suite for speech codecs.

Importing this package is light (no torch, no codec libraries): the pytest plugin is loaded
for every pytest run of an environment that has it installed.
"""

__version__ = "0.1.0"

from .errors import BadAudioError, CheckpointError, CodecError, ConformanceError, ThresholdError  # noqa: E402

__all__ = ["__version__", "ConformanceError", "BadAudioError", "CodecError", "CheckpointError",
           "ThresholdError"]
