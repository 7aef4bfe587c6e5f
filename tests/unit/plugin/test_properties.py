"""The shared property machinery (plugin/properties.py): the gains the homogeneity and token-gain
properties draw, their explicit ends, and the counterexample a failing property reports."""
import sys
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codec_conformance.plugin.properties import (
    GAIN_ENDS_DB,
    Counterexample,
    counterexample,
    gain_end_items,
    gain_ends,
    gains_db,
    hypothesis_settings,
    run_property,
    with_gain_ends,
)
from codec_conformance.settings import PROFILES


def _draw(n: int, seed: int, fails=lambda i, g: False):
    """Run a gain property (the suites' shape) with ``n`` examples; return (examples, error)."""
    sess = SimpleNamespace(profile=SimpleNamespace(hypothesis_examples=n))
    seen = []

    @hypothesis_settings(sess)
    @given(i=st.integers(0, 15), gain_db=gains_db())
    @with_gain_ends(16)
    def prop(i, gain_db):
        ex = {"i": i, "gain_db": gain_db}
        seen.append(ex)
        if fails(i, gain_db):
            raise Counterexample(f"fails at {gain_db}", ex)

    return seen, run_property(sess, prop, seed)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_gains_are_never_trivial_and_the_ends_come_first_in_every_profile(profile):
    """Issue 24: with floats(-40, 12), 3 of the 6 smoke examples were 0 dB (SER at its cap: they
    test nothing), and the ends of the range were drawn only by chance."""
    n = PROFILES[profile].hypothesis_examples
    for seed in range(3):
        seen, err = _draw(n, seed)
        assert err is None
        gains = [e["gain_db"] for e in seen]
        assert [(e["i"], e["gain_db"]) for e in seen[:32]] == gain_ends(16)
        assert {g for _, g in gain_ends(16)} == set(GAIN_ENDS_DB) == {-40.0, 12.0}
        assert len(gains) == n + 32
        assert all(-40.0 <= g <= 12.0 and abs(g) >= 1.0 for g in gains), gains


def test_gain_strategy_alone_never_draws_a_trivial_gain():
    seen, err = _draw(300, 7)
    gains = [e["gain_db"] for e in seen[32:]]
    assert err is None and len(gains) == 300 and min(abs(g) for g in gains) >= 1.0
    assert -40.0 <= min(gains) < -20 and 12.0 >= max(gains) > 6  # both halves drawn, within range


def test_ends_cover_every_utterance_of_a_small_corpus_and_spread_over_a_large_one():
    assert gain_end_items(3) == [0, 1, 2] and gain_end_items(16) == list(range(16))
    big = gain_end_items(1000)
    assert len(big) == 16 and big[0] == 0 and big[-1] == 999
    assert gain_ends(2) == [(0, -40.0), (1, -40.0), (0, 12.0), (1, 12.0)]


def test_a_failing_end_is_the_counterexample():
    # fails at +12 dB on utterance 3 only; not the last example evaluated, yet the one reported
    seen, err = _draw(6, 0, fails=lambda i, g: (i, g) == (3, 12.0))
    assert isinstance(err, Counterexample) and seen[-1] != {"i": 3, "gain_db": 12.0}
    assert counterexample(err, seen) == {"i": 3, "gain_db": 12.0}
    # fails at -40 dB: Hypothesis draws nothing more, but every end was still evaluated
    seen, err = _draw(6, 0, fails=lambda i, g: g == -40.0)
    assert counterexample(err, seen)["gain_db"] == -40.0
    assert [(e["i"], e["gain_db"]) for e in seen] == gain_ends(16)


def test_two_ends_failing_differently_come_back_as_one_assertion():
    """Explicit examples that fail at different places are grouped by Hypothesis (an
    ExceptionGroup): run_property returns one of them, with its example."""
    sess = SimpleNamespace(profile=SimpleNamespace(hypothesis_examples=6))

    @hypothesis_settings(sess)
    @given(i=st.integers(0, 3), gain_db=gains_db())
    @with_gain_ends(4)
    def prop(i, gain_db):
        if gain_db < 0:
            raise Counterexample("too quiet", {"gain_db": gain_db})
        raise Counterexample("too loud", {"gain_db": gain_db})

    err = run_property(sess, prop, 0)
    assert isinstance(err, Counterexample) and err.example["gain_db"] in GAIN_ENDS_DB


def test_a_failing_draw_is_shrunk_and_reported():
    # the ends pass; the middle of the attenuations fails: Hypothesis finds it and shrinks it
    seen, err = _draw(100, 0, fails=lambda i, g: -30.0 <= g <= -10.0)
    assert err is not None
    counter = counterexample(err, seen)
    assert -30.0 <= counter["gain_db"] <= -10.0 and counter is seen[-1]


# ----------------------------------------------------------------------
# Reproducibility of the evaluators: the same signal scores the same in any fresh process,
# whatever the thread count and whatever was evaluated before (cache hits, shards and xdist layouts
# change both). See docs/reproducibility.md for the measurements behind the fixes.


def test_hypothesis_examples_depend_on_the_seed_only(tmp_path, monkeypatch):
    """Hypothesis also draws literals of the local modules loaded so far: what a process imported
    before (another test's evaluator, an adapter) must not change the examples."""
    import importlib
    from types import SimpleNamespace

    from hypothesis import given
    from hypothesis import strategies as st

    from codec_conformance.plugin.properties import hypothesis_settings, run_property
    sess = SimpleNamespace(profile=SimpleNamespace(hypothesis_examples=100))

    def draw():
        seen = []

        @hypothesis_settings(sess)
        @given(x=st.floats(-10, 10), i=st.integers(0, 10_000))
        def prop(x, i):
            seen.append((x, i))

        assert run_property(sess, prop, 0) is None
        return seen

    first = draw()
    (tmp_path / "cc_repro_literals.py").write_text(
        "FLOATS = [" + ", ".join(f"{k / 7:.6f}" for k in range(-60, 61)) + "]\n"
        "INTS = [" + ", ".join(str(k * 37) for k in range(250)) + "]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        importlib.import_module("cc_repro_literals")
        assert draw() == first
    finally:
        sys.modules.pop("cc_repro_literals", None)
