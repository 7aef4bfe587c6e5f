"""test_golden: the suite lives in the package (codec_conformance.suites); see test_additivity.py."""
from codec_conformance.suites.test_golden import *  # noqa: F401,F403
