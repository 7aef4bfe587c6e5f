

# ----------------------------------------------------------------------
# The catalogue: each metric, condition kind and suite declares itself once, and a package
# outside this repository adds a metric, a condition kind and a codec through entry points alone.


# ------------------------------------------------------------------------------ one entry point
def test_a_suite_test_has_one_id_whichever_way_it_is_collected():
    from codec_conformance.plugin.ids import test_id
    a = test_id("suites/test_additivity.py::test_additivity[opus-24kbps-speech_speech]")
    b = test_id("codec_conformance/suites/test_additivity.py::test_additivity[opus-24kbps-speech_speech]@opus")
    c = test_id("../venv/lib/python3.11/site-packages/codec_conformance/suites/test_additivity.py::"
                "test_additivity[opus-24kbps-speech_speech]")
    assert a == b == c == "test_additivity.py::test_additivity[opus-24kbps-speech_speech]"
