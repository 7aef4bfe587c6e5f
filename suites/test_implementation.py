"""test_implementation: the suite lives in the package (codec_conformance.suites) so that other
repositories run it with `pytest --pyargs codec_conformance.suites --codec=...`."""
from codec_conformance.suites.test_implementation import *  # noqa: F401,F403
