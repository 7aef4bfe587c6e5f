"""The options mechanism: one OPTIONS table; values typed and refused at parse time; every option
also an ini key (pytest.ini, tox.ini, setup.cfg, [tool.pytest.ini_options], -o), with
[tool.codec_conformance] kept as an alias; defaults printed once in --help."""
import json

import pytest

from codec_conformance.cli import main
from codec_conformance.settings import OPTIONS
from tests.helpers import ROOT


@pytest.fixture
def collect(pytester):
    """--collect-only of the packaged suites (no work) and the settings the run used."""
    pytester.makepyfile(conftest='''
import json, os
def pytest_collection_finish(session):
    from codec_conformance.plugin.roles import ROLE
    s = session.config.stash[ROLE].settings
    open(os.path.join(str(session.config.rootpath), "settings.json"), "w").write(
        json.dumps({"codecs": s.codecs, **{k: getattr(s, k) for k in ("profile", "seed", "threshold_margin", "no_cache")}}))
''')

    def _run(*args):
        r = pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider",
                                          "--collect-only", "-q", "-k", "frequency", *args)
        p = pytester.path / "settings.json"
        return r, (json.loads(p.read_text()) if p.is_file() else None)
    return _run


def test_a_bad_value_is_refused_while_parsing(pytester):
    r = pytester.runpytest_subprocess("--codec-num-shards=0")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "argument --codec-num-shards: 0: expected an integer >= 1" in r.stderr.str()
    r = pytester.runpytest_subprocess("--codec-precision=fp8")
    assert "argument --codec-precision: 'fp8': use fp32, fp16 or bf16" in r.stderr.str()


def test_ini_keys_from_pytest_ini_and_dash_o(pytester, collect):
    pytester.makeini("[pytest]\ncodec_profile = standard\ncodec_seed = 3\ncodec = opus\n")
    r, s = collect()
    assert r.ret == 0, r.stderr.str()
    assert s["profile"] == "standard" and s["seed"] == 3 and s["codecs"] == ["opus"]
    r, s = collect("-o", "codec_profile=paper", "--codec-seed=5")  # -o over the file, the flag over both
    assert s["profile"] == "paper" and s["seed"] == 5


def test_ini_keys_in_pyproject_tool_pytest_and_the_alias_table(pytester, collect):
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\ncodec_threshold_margin = "0.5"\ncodec_no_cache = true\n\n'
                               '[tool.codec_conformance]\nseed = 9\nprofile = "standard"\n')
    r, s = collect()
    assert r.ret == 0, r.stderr.str()
    assert s["threshold_margin"] == 0.5 and s["no_cache"] is True
    assert s["seed"] == 9 and s["profile"] == "standard"  # [tool.codec_conformance] still read


def test_a_bad_ini_value_names_the_option(pytester, collect):
    pytester.makeini("[pytest]\ncodec_seed = many\n")
    r, _ = collect()
    assert r.ret == pytest.ExitCode.USAGE_ERROR and "--codec-seed 'many': expected an integer" in r.stderr.str()


def test_defaults_are_printed_once_in_help(pytester):
    out = pytester.runpytest_subprocess("--help").stdout.str()
    assert out.count("[default: smoke]") == 1
    assert "codec_profile" in out and "same as --codec-profile" in out
    for name in OPTIONS:
        assert f"codec_{name}" in out


# ----------------------------------------------------------------------
# pytest's conventions and the CLI's output: --version, compare (regressions first, full names,
# --only-regressions, --html), list-codecs, JUnit properties, the session's start time and the
# command in provenance, the cache provider, the live progress line.


def test_help_has_no_rst_markup(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "``" not in capsys.readouterr().out
    from codec_conformance.settings import OPTIONS
    assert not [k for k, opt in OPTIONS.items() if "`" in opt.help]
    import subprocess
    import sys
    helptext = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True,
                              cwd=ROOT, check=True).stdout
    ours, keep = [], False
    for line in helptext.splitlines():  # our option group and our ini keys, with their wrapped lines
        if line and not line[0].isspace():
            keep = line.startswith("codec-conformance:")
        elif line.startswith("  ") and not line.startswith("   "):
            keep = line.lstrip().startswith(("--codec", "codec_", "codec "))
        if keep:
            ours.append(line)
    text = "\n".join(ours)
    assert "--codec-profile" in text and "codec_profile" in text and "`" not in text
