"""Exceptions with messages that name the input and the fix."""
import os
import stat


class ConformanceError(Exception):
    """Base class of every error the suite raises on purpose."""


class BadAudioError(ConformanceError, ValueError):
    """Audio that cannot be measured (NaN/Inf, empty, wrong shape)."""


class CodecError(ConformanceError):
    """A codec that cannot be found, built, or that returned something unusable."""


class CodecTimeout(CodecError):
    """A codec call (build, round trip, encode) that did not return within --codec-timeout."""


class CodecCrash(CodecError):
    """A codec whose worker process died during a call (a segfault, ``os._exit``, out of memory)."""


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


def check_regular_file(path: "str | os.PathLike[str]", error: type[Exception], want: str = "a file") -> None:
    """Raise ``error`` naming ``path`` when it exists and is not a regular file: reading a FIFO
    blocks until something writes to it and a device such as ``/dev/zero`` never ends, so they are
    refused before they are opened. A missing path is left to the caller (its own message)."""
    try:
        mode = os.stat(path).st_mode  # follows links: a link to /dev/zero is /dev/zero
    except OSError:
        return
    if stat.S_ISREG(mode):
        return
    kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
            "a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    raise error(f"{os.fspath(path)}: is {kind}, not a regular file (reading it could block or never end); "
                f"give {want}")
