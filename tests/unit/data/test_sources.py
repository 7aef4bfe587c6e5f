"""Corpora by name (codec_conformance/data/sources.py)."""
from codec_conformance.data.sources import NAMED, OPTION_NAMES
from codec_conformance.settings import CORPUS_NAMES, OPTIONS


def test_settings_keep_every_named_corpus_as_a_name():
    """settings.py keeps these words as given on the command line (not made paths of the
    invocation folder); preflight then says which option takes which."""
    assert set(NAMED) == set(CORPUS_NAMES)
    for option, names in OPTION_NAMES.items():
        assert set(names) <= set(OPTIONS[option].words), option
