"""WER with utterances packed into Whisper windows vs one window per utterance.

    PYTHONPATH=. python benchmarks/bench_wer_packing.py

Smoke corpus (shipped LibriSpeech, 4 speakers x 4), stand-in Whisper tiny.en (faster-whisper),
clean and white noise at 10 / 0 dB, no cache: seconds and corpus WER with its 95 % bootstrap
interval (over utterances) each way. Packing is kept when the packed WER lies inside the
per-utterance interval.
"""
import time


from codec_conformance.data import conditions as C
from codec_conformance.data.shipped import load_shipped_speech
from codec_conformance.gate.statistics import draws, interval, statistic
from codec_conformance.metrics.asr import WordErrorRate

corpus = load_shipped_speech(4, 4)
packed = WordErrorRate()
_ = packed.backend  # load the model before timing
single = WordErrorRate(backend=packed.backend)
single.PACK_WINDOW_S = 0.0  # every pack holds one utterance: one window each
idx = draws([u.id for u in corpus.items], 2000, 0)
for cond in (C.clean(), C.white(10.0), C.white(0.0)):
    xs = [C.apply(cond, u.audio, 16000, item_id=u.id, seed=0) for u in corpus.items]
    row = []
    for name, m in (("one window per utterance", single), ("packed", packed)):
        t0 = time.perf_counter()
        r = m.compute(corpus.items, xs, [u.audio for u in corpus.items], 16000)
        dt = time.perf_counter() - t0
        f = statistic(r)
        ci = interval([f(i) for i in idx])
        row.append(f"{name}: WER {r.value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] in {dt:.1f} s")
    print(f"{cond.id:10s} " + " | ".join(row))
