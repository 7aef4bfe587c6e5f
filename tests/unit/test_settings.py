import pytest

from codec_conformance.errors import ConformanceError
from codec_conformance.settings import OPTIONS

# ----------------------------------------------------------------------
# Bad configuration and bad input: one clear usage error up front (exit 4) naming the option or
# file; unreadable corpus files skipped, counted and named; near-silent items undefined, with a
# reason, instead of skewing a curve or erroring every noisy-condition test.


def test_option_values_are_typed_at_parse_time():
    from codec_conformance.settings import OPTIONS, build_settings

    def opts(**kw):
        o = {f"codec_{k}": None for k in OPTIONS} | {"codec": ["opus"]} | {f"codec_{k}": v for k, v in kw.items()}
        return lambda k: o.get(k)

    for kw, says in [({"seed": "abc"}, "--codec-seed 'abc': expected an integer"),
                     ({"num_shards": "two"}, "--codec-num-shards 'two': expected an integer"),
                     ({"threshold_margin": "5%"}, "--codec-threshold-margin '5%': expected a number"),
                     ({"threshold_margin": "nan"}, "--codec-threshold-margin nan: expected a finite number >= 0"),
                     ({"device": "gpu"}, "--codec-device 'gpu': use auto, cpu, cuda or cuda:N")]:
        with pytest.raises(ConformanceError) as e:
            build_settings(opts(**kw), ".")
        assert says in str(e.value)


# ----------------------------------------------------------------------
# The options mechanism: one OPTIONS table; values typed and refused at parse time; every option
# also an ini key (pytest.ini, tox.ini, setup.cfg, [tool.pytest.ini_options], -o), with
# [tool.codec_conformance] kept as an alias; defaults printed once in --help.


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


# ----------------------------------------------------------------------
# Issue 14: the shipped real corpus, profile sizes for statistical power, bootstrap intervals on
# every record, the paired baseline test with per-metric minimal meaningful differences, and
# calibration margins at least the calibration run's 95 % half-width.


def test_smoke_profile_has_enough_items_and_speaker_trials_for_eer():
    """Bug: smoke had 3 speakers x 2 utterances: one item flipped EER by 0.17."""
    from codec_conformance.settings import PROFILES
    p = PROFILES["smoke"]
    n = p.n_speakers * p.n_per_speaker
    assert p.n_speakers >= 4 and p.n_per_speaker >= 4
    target_trials = p.n_speakers * p.n_per_speaker * (p.n_per_speaker - 1)  # enrol-test protocol
    assert target_trials >= 40 and n * (n - 1) - target_trials >= 150
    assert PROFILES["standard"].n_speakers * PROFILES["standard"].n_per_speaker > n
