"""The naive reference for benchmarks/bench_suite.py: the noise-robustness suite's work done as
a plain loop — for every test (condition x metric) degrade the corpus, round-trip every item one
by one and evaluate codec output and oracle, with no cache, no memo and no batching. Evaluator
models are loaded once (as any sane loop would); everything else is redone per test.

    python benchmarks/naive_loop.py --codec opus --profile standard [--weights random-init]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--codec", default="opus")
    ap.add_argument("--profile", default="standard")
    ap.add_argument("--weights", default="pretrained")
    ap.add_argument("--bitrate", default="max")
    a = ap.parse_args(argv)

    from codec_conformance.data import conditions as C
    from codec_conformance.data.audio import fit_length, resample
    from codec_conformance.metrics import build_metric
    from codec_conformance.registry import make_codec
    from codec_conformance.engine.session import ConformanceSession
    from codec_conformance.settings import Settings, select_bitrates

    s = Settings(codecs=[a.codec], rootdir=".", profile=a.profile, weights=a.weights, no_cache=True, bitrate=a.bitrate)
    sess = ConformanceSession(s)  # corpus, noise bank and the condition grid only
    corpus = sess.corpus
    codec = make_codec(a.codec, weights=a.weights)
    metrics = {m: build_metric(m, s) for m in sess.metric_names()}
    t0 = time.perf_counter()
    codec_s = eval_s = 0.0
    n_tests = 0
    for br in select_bitrates(codec.bitrates_kbps, a.bitrate):
        for cond in sess.noise_conditions():
            for m in metrics.values():
                noisy = [C.apply(cond, u.audio, 16000, item_id=u.id, seed=0,
                                 noise_bank=sess.noise_bank if cond.kind == "ambient" else None)
                         for u in corpus.items]
                t1 = time.perf_counter()
                coded = []
                for x in noisy:
                    y = resample(x, 16000, codec.sample_rate)
                    out = np.asarray(codec.roundtrip(y[None], br))[0]
                    coded.append(fit_length(resample(out, codec.sample_rate, 16000), len(x)))
                t2 = time.perf_counter()
                refs = [u.audio for u in corpus.items]
                m.compute(corpus.items, coded, refs, 16000)
                m.compute(corpus.items, noisy, refs, 16000)
                t3 = time.perf_counter()
                codec_s += t2 - t1
                eval_s += t3 - t2
                n_tests += 1
    out = {"wall_s": time.perf_counter() - t0, "codec_s": codec_s, "evaluator_s": eval_s, "tests": n_tests}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
