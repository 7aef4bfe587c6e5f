"""Draw stability (issue 24, item 3): how much the worst homogeneity and additivity SER of a run
moves with the seed, per number of Hypothesis examples. For each codec point, seed and example
count it runs the suites' draws (the same strategies, explicit examples and utterance/pair
choice as suites/test_homogeneity.py and test_additivity.py, on the smoke corpus and noise bank)
and prints the worst SER per seed and its spread (max - min over the seeds). The count to pick
for the smoke profile is the smallest whose spread is small.

    python benchmarks/bench_draw_stability.py [--codec opus:64 --codec mulaw:64] [--counts 6,16] [--seeds 5]
    python benchmarks/bench_draw_stability.py --old     # the old gain draws (floats(-40, 12), no ends)

About 3 minutes on 2 cores for the defaults; --counts 6,10,16,24,32 about 10.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's package, whatever the venv points at


def worst_homogeneity(sess, f, n: int, seed: int, old: bool = False) -> float:
    from hypothesis import given, strategies as st

    from codec_conformance.plugin.properties import (gains_db, hypothesis_settings, normalise_peak, run_property,
                                                     with_gain_ends)
    from codec_conformance.probes.analysis import homogeneity
    from codec_conformance.suites.test_homogeneity import PEAK_DBFS
    items = sess.corpus.speech_items
    sers: list[float] = []
    cfg = SimpleNamespace(profile=SimpleNamespace(hypothesis_examples=n))

    def body(i, gain_db):
        sers.append(homogeneity(f, normalise_peak(items[i].audio, PEAK_DBFS), gain_db).ser_db)

    if old:
        prop = hypothesis_settings(cfg)(given(i=st.integers(0, len(items) - 1), gain_db=st.floats(-40.0, 12.0))(body))
    else:
        prop = hypothesis_settings(cfg)(given(i=st.integers(0, len(items) - 1), gain_db=gains_db())(
            with_gain_ends(len(items))(body)))
    assert run_property(cfg, prop, seed) is None
    return min(sers)


def worst_additivity(sess, f, kind: str, n: int, seed: int) -> float:
    from hypothesis import given, strategies as st

    from codec_conformance.plugin.properties import hypothesis_settings, normalise_peak, run_property
    from codec_conformance.probes.analysis import additivity
    from codec_conformance.suites.test_additivity import second_signal
    items, sr = sess.corpus.speech_items, sess.corpus.sample_rate
    others = [sess.noise_bank.signals[k] for k in sess.noise_bank.names()] if kind == "speech_noise" else None
    sers: list[float] = []
    cfg = SimpleNamespace(profile=SimpleNamespace(hypothesis_examples=n))

    @hypothesis_settings(cfg)
    @given(i=st.integers(0, len(items) - 1), j=st.integers(0, 10_000), rel_level_db=st.floats(-10, 10),
           offset_s=st.floats(0.0, 0.5))
    def prop(i, j, rel_level_db, offset_s):
        x = normalise_peak(items[i].audio, -6.0)
        y, _ = second_signal(items, i, j, others, sess.noise_bank.names() if others else [], len(x))
        sers.append(additivity(f, x, y, rel_level_db, int(offset_s * sr), sr).ser_db)

    assert run_property(cfg, prop, seed) is None
    return min(sers)


def main():
    from codec_conformance.engine.session import ConformanceSession
    from codec_conformance.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codec", action="append", help="NAME:KBPS (default opus:64, mulaw:64)")
    ap.add_argument("--counts", default="6,16")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--old", action="store_true", help="homogeneity with the old draws (floats(-40, 12), no ends)")
    a = ap.parse_args()
    points = [(c.rsplit(":", 1)[0], float(c.rsplit(":", 1)[1])) for c in (a.codec or ["opus:64", "mulaw:64"])]
    counts = [int(c) for c in a.counts.split(",")]
    seeds = range(a.seeds)
    sess = ConformanceSession(Settings(codecs=[c for c, _ in points], rootdir=str(ROOT), no_cache=True, device="cpu"))
    draws = "old draws: floats(-40, 12), no explicit ends" if a.old else \
        "new draws: |gain| >= 1 dB; ends -40 and +12 dB explicit, on every utterance (on top of the count)"
    print(f"worst SER (dB) per seed over the smoke corpus ({len(sess.corpus.speech_items)} utterances); "
          f"homogeneity with the {draws}")
    print(f"{'codec':<9} {'property':<25} {'n':>3}  " + " ".join(f"{'seed ' + str(s):>7}" for s in seeds)
          + f"  {'spread':>6}  {'s':>5}")
    for codec, br in points:
        f = sess.runner.roundtrip_fn(codec, br, sess.corpus.sample_rate)
        props = [("homogeneity", lambda n, s, f=f: worst_homogeneity(sess, f, n, s, a.old))]
        if not a.old:
            props += [(f"additivity {k}", lambda n, s, k=k, f=f: worst_additivity(sess, f, k, n, s))
                      for k in ("speech_speech", "speech_noise")]
        for name, fn in props:
            for n in counts:
                t0 = time.perf_counter()
                w = [fn(n, s) for s in seeds]
                print(f"{codec + '@' + format(br, 'g'):<9} {name:<25} {n:>3}  " + " ".join(f"{v:7.2f}" for v in w)
                      + f"  {max(w) - min(w):6.2f}  {time.perf_counter() - t0:5.1f}", flush=True)


if __name__ == "__main__":
    main()
