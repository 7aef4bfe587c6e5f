"""The conformance suites (pytest modules). Run: pytest --pyargs codec_conformance.suites --codec=NAME"""
