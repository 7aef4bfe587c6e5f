import sys
import textwrap

import pytest

# ----------------------------------------------------------------------
# The pytest plugin end to end, in subprocess pytest runs of the packaged suites.

CODECS = textwrap.dedent('''
    import numpy as np
    from codec_conformance.codecs.base import BaseCodec

    class Gain(BaseCodec):
        sample_rate, bitrates_kbps = 16000, (8.0, 16.0)
        def __init__(self, name="gain", g=0.9, fail_at=None, interrupt_after=None, **kw):
            self.name, self.g, self.fail_at, self.interrupt_after, self.calls = name, g, fail_at, interrupt_after, 0
        def roundtrip_one(self, x, br):
            self.calls += 1
            if self.interrupt_after is not None and self.calls > self.interrupt_after:
                raise KeyboardInterrupt
            if self.fail_at is not None and br == self.fail_at:
                raise RuntimeError("decoder exploded")
            return (self.g * x).astype(np.float32)

    def gain(**kw): return Gain()
    def quieter(**kw): return Gain(g=0.5)
    def broken16(**kw): return Gain(name="broken", fail_at=16.0)
    def evil(**kw): return Gain(name="<script>alert(1)</script>")
    def interrupting(**kw): return Gain(name="intr", interrupt_after=5)

    class Nan(Gain):
        def roundtrip_one(self, x, br):
            return x * np.nan
    def nan(**kw): return Nan(name="nanny")

    class Short(Gain):
        def roundtrip_one(self, x, br):
            return x[: len(x) // 2]
    def short(**kw): return Short(name="shorty")

    class Dies(Gain):
        def roundtrip_one(self, x, br):
            import os
            if br == 16.0:
                os._exit(3)  # a worker killed mid-test (segfault, OOM killer)
            return x
    def dies(**kw): return Dies(name="dies")
''')


@pytest.fixture
def run(pytester, run_suites):
    pytester.makepyfile(mycodecs=CODECS)
    return run_suites


def test_plugin_imports_nothing_heavy():
    import subprocess
    code = "import codec_conformance.plugin.hooks, sys; print(sorted(m for m in ('torch','encodec','scipy','av') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
