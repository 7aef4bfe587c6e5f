"""DNSMOS on fewer windows: speed and agreement with the reference script's window set.

    PYTHONPATH=. python benchmarks/bench_dnsmos_windows.py [MAX_WINDOWS]

On the smoke corpus (shipped LibriSpeech, 4 speakers x 4), clean and white noise at 10 / 0 dB:
prints the windows scored, seconds, the mean OVRL with all windows and with at most MAX_WINDOWS
(default 1), the mean and largest per-item difference, and the all-windows mean's 95 % bootstrap
half-width (the difference should be well inside it).
"""
import sys
import time

import numpy as np

from codec_conformance.data import conditions as C
from codec_conformance.data.shipped import load_shipped_speech
from codec_conformance.gate.statistics import draws
from codec_conformance.metrics.dnsmos import Dnsmos

cap = int(sys.argv[1]) if len(sys.argv) > 1 else 1
corpus = load_shipped_speech(4, 4)
for cond in (C.clean(), C.white(10.0), C.white(0.0)):
    xs = [C.apply(cond, u.audio, 16000, item_id=u.id, seed=0) for u in corpus.items]
    out = {}
    for mw in (None, cap):
        m = Dnsmos()
        m.MAX_WINDOWS = mw
        m.item(None, xs[0], 16000, None)  # load the model before timing
        t0 = time.perf_counter()
        out[mw] = np.array([m.item(None, x, 16000, None) for x in xs])
        out[(mw, "s")] = time.perf_counter() - t0
    full, few = out[None], out[cap]
    boots = [full[i].mean() for i in draws([u.id for u in corpus.items], 2000, 0)]
    hw = (np.quantile(boots, 0.975) - np.quantile(boots, 0.025)) / 2
    print(f"{cond.id:10s} all windows {full.mean():.3f} ({out[(None, 's')]:.1f} s)  <= {cap} window(s) "
          f"{few.mean():.3f} ({out[(cap, 's')]:.1f} s)  mean diff {np.mean(few - full):+.3f}  "
          f"max |diff| {np.max(np.abs(few - full)):.3f}  95% half-width of the mean {hw:.3f}")
