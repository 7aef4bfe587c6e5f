import numpy as np
import pytest
from tests.helpers import SR, speechlike

# ----------------------------------------------------------------------
# Bad configuration and bad input: one clear usage error up front (exit 4) naming the option or
# file; unreadable corpus files skipped, counted and named; near-silent items undefined, with a
# reason, instead of skewing a curve or erroring every noisy-condition test.

def test_silent_items_keep_their_place_in_per_item_values():
    from codec_conformance.data.corpus import Corpus, Utterance
    from codec_conformance.engine.scorer import score_speech_items
    from codec_conformance.metrics.signal import MelDistance
    items = [Utterance("s0", "a", speechlike(120.0)), Utterance("z", "a", np.zeros(SR, np.float32)),
             Utterance("s1", "b", speechlike(200.0))]
    c = Corpus("t", items)
    res = score_speech_items(MelDistance(), c, [u.audio for u in items])
    assert res.n_items == 3 and res.per_item[1] is None and res.per_item[0] == pytest.approx(0.0, abs=1e-6)
    assert res.n_undefined == 1 and "digital silence" in res.undefined["z"]
