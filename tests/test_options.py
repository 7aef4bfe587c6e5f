"""The options mechanism: one OPTIONS table; values typed and refused at parse time; every option
also an ini key (pytest.ini, tox.ini, setup.cfg, [tool.pytest.ini_options], -o), with
[tool.codec_conformance] kept as an alias; defaults printed once in --help."""
import pytest

from codec_conformance.settings import OPTIONS


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
        import json
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


def test_an_extension_hook_gets_the_final_results(pytester):
    """hookspec.py: pytest_codec_conformance_finished, on the controller, after results.json is final."""
    pytester.makeini("[pytest]\n")
    pytester.makeconftest('''
import json
def pytest_codec_conformance_finished(results, run_dir, config):
    (run_dir / "seen.json").write_text(json.dumps({"n": len(results["records"]), "metrics": sorted(results["metrics"])}))
''')
    r = pytester.runpytest_subprocess("--pyargs", "codec_conformance.suites", "-p", "no:cacheprovider", "--codec=identity",
                                      "-k", "frequency_response and 0dBFS", "-q")
    assert r.ret == 0, r.stdout.str()[-2000:]
    import json
    seen = json.loads((pytester.path / "reports" / "latest" / "seen.json").read_text())
    doc = json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())
    assert seen["n"] == len(doc["records"]) > 0 and "mid_band_ripple_db" in seen["metrics"]


def test_settings_has_one_typed_attribute_per_option_with_its_default():
    """Settings is a dataclass with a named attribute per OPTIONS entry (no __getattr__ over a
    dict): the two cannot drift apart, and a name that is not an option is an AttributeError."""
    import dataclasses

    from codec_conformance.settings import Settings
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    assert set(fields) - {"codecs", "rootdir"} == set(OPTIONS)
    s = Settings()
    assert {name: getattr(s, name) for name in OPTIONS} == {name: opt.default for name, opt in OPTIONS.items()}
    assert all(fields[name].type != "Any" for name in OPTIONS)  # typed, each
    assert "__getattr__" not in vars(Settings)
    with pytest.raises(AttributeError):
        s.not_an_option  # noqa: B018
    assert list(s.to_dict()) == ["codecs", *OPTIONS]
