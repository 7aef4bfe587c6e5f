"""One evaluator over the 16 clean smoke items (shipped LibriSpeech, 4 x 4) in one process, for
whole-process timing of a speed lever against its off switch:

    PYTHONPATH=. python benchmarks/evaluator_lever.py wer single|packed
    PYTHONPATH=. python benchmarks/evaluator_lever.py dnsmos all|one

Prints the metric's value (time the process from outside, e.g. /usr/bin/time, several runs)."""
import sys

from codec_conformance.data.shipped import load_shipped_speech

metric, mode = sys.argv[1], sys.argv[2]
corpus = load_shipped_speech(4, 4)
xs = [u.audio for u in corpus.items]
if metric == "wer":
    from codec_conformance.metrics.asr import WordErrorRate
    m = WordErrorRate()
    if mode == "single":
        m.PACK_WINDOW_S = 0.0  # one Whisper window per utterance
    print(m.compute(corpus.items, xs, xs, 16000).value)
else:
    from codec_conformance.metrics.dnsmos import Dnsmos
    m = Dnsmos()
    m.MAX_WINDOWS = None if mode == "all" else 1
    print(m.compute(corpus.items, xs, xs, 16000).value)
