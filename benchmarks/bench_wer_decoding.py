"""Speed and WER of the stand-in Whisper's decoding settings (the CI-time lever left open).

    PYTHONPATH=. python benchmarks/bench_wer_decoding.py

Smoke corpus (shipped LibriSpeech, 4 speakers x 4), stand-in Whisper tiny.en (faster-whisper),
uncoded clean speech and white noise at 10 / 0 dB, packed windows as the suite uses them, no
cache. Settings: the former decoder (beam 5 at temperature 0; where that fails Whisper's checks,
a seeded fallback over temperatures 0.2..1.0 with best_of 5), the same with best_of 1, and beam 1
with best_of 1 (shipped since 2026-11-30). Prints seconds and corpus WER with its 95 % bootstrap
interval (over utterances) per setting; a setting is only a candidate when its WER lies inside the
beam-5 one's interval in every condition (and then every WER limit needs recalibrating: the
values move).
"""
import time

from codec_conformance.data import conditions as C
from codec_conformance.data.shipped import load_shipped_speech
from codec_conformance.gate.statistics import draws, interval, statistic
from codec_conformance.metrics.asr import FasterWhisperAsr, WordErrorRate


def backend(beam_size: int, best_of: int) -> FasterWhisperAsr:
    class Variant(FasterWhisperAsr):
        BEAM_SIZE, BEST_OF = beam_size, best_of
    return Variant()


corpus = load_shipped_speech(4, 4)
idx = draws([u.id for u in corpus.items], 2000, 0)
settings = {"former (beam 5, best_of 5)": (5, 5), "beam 5, best_of 1": (5, 1), "shipped (beam 1, best_of 1)": (1, 1)}
metrics = {name: WordErrorRate(backend=backend(*bb)) for name, bb in settings.items()}
for cond in (C.clean(), C.white(10.0), C.white(0.0)):
    xs = [C.apply(cond, u.audio, 16000, item_id=u.id, seed=0) for u in corpus.items]
    for name, m in metrics.items():
        t0 = time.perf_counter()
        r = m.compute(corpus.items, xs, [u.audio for u in corpus.items], 16000)
        dt = time.perf_counter() - t0
        f = statistic(r)
        ci = interval([f(i) for i in idx])
        print(f"{cond.id:10s} {name:28s} WER {r.value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]  {dt:6.1f} s", flush=True)
