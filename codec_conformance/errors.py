"""Exceptions with messages that name the input and the fix."""


class ConformanceError(Exception):
    """Base class of every error the suite raises on purpose."""


class BadAudioError(ConformanceError, ValueError):
    """Audio that cannot be measured (NaN/Inf, empty, wrong shape)."""


class CodecError(ConformanceError):
    """A codec that cannot be found, built, or that returned something unusable."""


class CheckpointError(ConformanceError):
    """A checkpoint that is missing, corrupted, untrusted or does not fit the model."""


class ThresholdError(ConformanceError, ValueError):
    """A malformed thresholds file; the message names the file and the key."""


class EvaluatorUnavailable(ConformanceError):
    """An evaluator whose model or package is not on this machine; says what to provide."""


class ResultsFormatError(ConformanceError, ValueError):
    """A results file that does not follow the results contract; the message names the file and
    the field (docs/results-contract.md)."""


class RunInUseError(ConformanceError):
    """A run folder locked by another codec-conformance process."""
