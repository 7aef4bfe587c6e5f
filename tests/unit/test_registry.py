
import pytest

from codec_conformance.errors import CodecError
from codec_conformance.registry import codec_names, make_codec

# ----------------------------------------------------------------------


def test_registry_lists_reference_codecs():
    names = codec_names()
    for n in ("identity", "opus", "amrnb", "g722", "mulaw", "mp3", "encodec"):
        assert n in names


def test_unknown_codec_lists_what_exists():
    with pytest.raises(CodecError, match="unknown codec 'nope'.*registered: .*opus"):
        make_codec("nope")


def test_module_factory_spec():
    c = make_codec("codec_conformance.codecs.identity:IdentityCodec")
    assert c.name == "identity"
    with pytest.raises(CodecError, match="has no attribute"):
        make_codec("codec_conformance.codecs.identity:Missing")


# ----------------------------------------------------------------------
# Verdict integrity: the cache never serves a wrong value (keys carry what changes the output,
# entries carry a checksum), a factory's options are never dropped, only real float output is
# measured, and non-finite numbers become nulls with a reason instead of crashing the session.

def test_type_error_inside_an_adapter_is_not_retried_away(usercodecs):
    from codec_conformance.registry import make_codec
    with pytest.raises(TypeError, match="unsupported operand"):
        make_codec("usercodecs:buggy", device="cpu")
