import sys


# ----------------------------------------------------------------------
# The pytest plugin end to end, in subprocess pytest runs of the packaged suites.


def test_plugin_imports_nothing_heavy():
    import subprocess
    code = "import codec_conformance.plugin.hooks, sys; print(sorted(m for m in ('torch','encodec','scipy','av') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
