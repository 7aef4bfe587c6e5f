"""Implementation: does the codec's code do what its users assume? (issue 25, item 3)

The faults codec users report most are implementation faults, not robustness faults. Per codec x
bitrate, at the codec's own sample rate (no resampler between the test and the codec), on
utterances of the corpus, with the codec called as it is (uncached: ``CodecRunner.raw_roundtrip``):

- batch: N utterances cut to one length, coded as one batch and one at a time (``batch``), and
  N utterances of different lengths zero-padded into one batch, as the runner batches them
  (``batch_padded``): the worst SER of a batched output against its one-at-a-time output
  (identical = 120 dB); for codecs that expose codes also the fraction of identical codes
  (transformers#43377: Mimi's batched codes differ);
- length: the number of samples the codec returns for an input of 1 sample, 10 ms, half a frame
  and an odd length (1 s + 1 sample), against the input's (or the codec's declared
  ``output_samples(n)``); the output must be finite. A codec that refuses an input with a
  ``CodecError`` (the contract's error for input it does not take) is recorded as a declared
  refusal, not a failure; any other exception fails the test naming it
  (descript-audio-codec#67, #37);
- chunked: an utterance coded whole and in consecutive chunks of 0.5, 1 and 2 s (rounded to whole
  code frames where the codec declares ``token_hop``), each chunk alone (what a streaming user
  does): the worst SER of the joined chunks against the whole; for codecs
  with codes also the codes of the whole utterance decoded in blocks of the same duration against
  decoding them whole (descript-audio-codec#39);
- repeat: the same inputs coded twice in this process (``repeat``) and once by a new Python
  process that builds the codec from the run's settings (``fresh_process``: one process per codec
  and run, not per bitrate): the worst SER of the second run against the first (bit-identical =
  120 dB).

Suite key ``implementation`` in thresholds files; condition keys: the kinds above. Each quantity
is declared in ``probes/implementation.py``.
"""
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from codec_conformance.catalogue import SuiteInfo
from codec_conformance.data.audio import resample
from codec_conformance.engine.session import ConformanceSession
from codec_conformance.errors import CodecError
from codec_conformance.plugin.checks import build_record, check, emit
from codec_conformance.probes.implementation import (
    IMPLEMENTATION_QUANTITIES,
    batch_vs_single,
    chunked,
    code_agreement,
    compare_runs,
    decode_in_chunks,
    fit,
    length_text,
    worst_ser,
)
from codec_conformance.results.contract import condition_record

KINDS = ("batch", "batch_padded", "length", "chunked", "chunked_decode", "repeat", "fresh_process")
CHUNKS_S = (0.5, 1.0, 2.0)
LENGTHS = ("1-sample", "10ms", "half-frame", "odd")
CASE_TEXT = {"1-sample": "a 1-sample input", "10ms": "a 10 ms input", "half-frame": "a half-frame input",
             "odd": "an odd-length input"}
BATCH_MODES = ("equal", "padded")


@dataclass(frozen=True)
class Sizes:
    """How much of the corpus each check uses, per profile."""
    batch_items: int         # utterances in the batch
    batch_s: float           # their length (equal) / the longest (padded)
    chunk_items: int         # utterances coded whole and in chunks
    chunk_item_s: float      # their length: longer than the longest chunk
    repeat_items: int        # utterances coded twice / by the fresh process
    repeat_s: float


SIZES = {"smoke": Sizes(4, 1.0, 1, 4.0, 2, 1.0),
         "standard": Sizes(6, 2.0, 3, 4.0, 4, 2.0),
         "paper": Sizes(8, 3.0, 6, 6.0, 6, 3.0)}

SUITE = SuiteInfo(
    name="implementation", label="implementation",
    conditions=lambda: [condition_record(k) for k in KINDS],
    params={"batch_mode": lambda sess: [(m, m) for m in BATCH_MODES],
            "length_input": lambda sess: [(n, n) for n in LENGTHS],
            "chunk_s": lambda sess: [(f"{c:g}s", c) for c in CHUNKS_S]},
    quantities=tuple(IMPLEMENTATION_QUANTITIES.values()),
    cost={"test_batch": 1.0, "test_output_length": 0.2, "test_chunked": 1.0, "test_repeat": 0.5,
          "test_fresh_process": 3.0})


@dataclass
class ImplPoint:
    """The codec point an implementation test measures; signals at the codec's own rate."""
    sess: ConformanceSession
    request: pytest.FixtureRequest
    codec: str
    bitrate: float
    coder: Any

    @property
    def sr(self) -> int:
        return int(self.coder.sample_rate)

    @property
    def sizes(self) -> Sizes:
        return SIZES.get(self.sess.profile.name, SIZES["standard"])

    @property
    def has_codes(self) -> bool:
        return self.sess.runner.token_codec(self.codec) is not None

    def utterances(self, n: int, seconds: float) -> list[tuple[str, np.ndarray]]:
        """(id, signal) of the first ``n`` utterances of the corpus at the codec's rate, each cut
        to ``seconds`` (an utterance that is shorter is repeated to that length)."""
        corpus = self.sess.corpus
        out = []
        want = int(round(seconds * self.sr))
        for u in corpus.items[:n]:
            x = resample(u.audio, corpus.sample_rate, self.sr).astype(np.float32)
            reps = -(-want // max(1, len(x)))
            out.append((u.id, np.tile(x, reps)[:want]))
        return out

    def f(self, batch: np.ndarray) -> np.ndarray:
        """The codec as it is (uncached), [batch, samples] at its rate."""
        return self.sess.runner.raw_roundtrip(self.codec, self.bitrate, batch)

    def reference(self, x: np.ndarray) -> np.ndarray:
        """The whole-utterance output of ``x`` (1-D), computed once per process: the chunked
        checks of every chunk length compare against it."""
        return self.sess.runner.raw_roundtrip(self.codec, self.bitrate, x[None], memo=True)[0]

    def record(self, cond: dict, metric: str, value, finding: str = "", **extra) -> dict:
        """A record; when it fails its limit, ``finding`` (what the number means) is its failure."""
        rec = build_record(self.sess, self.request, codec=self.codec, bitrate=self.bitrate, suite=SUITE.name,
                           condition=cond, metric=metric, value=value, **extra)
        if rec.get("passed") is False and finding and not rec.get("failure"):
            rec["failure"] = finding
        return rec

    def emit(self, recs: list[dict]) -> None:
        emit(self.sess, self.request, self.codec, recs)


@pytest.fixture
def impl_point(conformance: ConformanceSession, request: pytest.FixtureRequest,
               codec_point: tuple[str, float]) -> ImplPoint:
    codec, bitrate = codec_point
    return ImplPoint(conformance, request, codec, bitrate, conformance.runner.codec(codec))


def _items(ids: list[str], values: list[float]) -> dict:
    """``item_ser_db`` of a record: each item's SER (the value is the worst of them, not their mean:
    so not the contract's ``per_item``, whose mean is the value); an item whose SER is undefined (a
    silent utterance) is null, not NaN (a NaN anywhere in a record fails it as non-finite)."""
    return {"ids": ids, "ser_db": [None if v != v else v for v in values]}


def _ser_finding(what: str, value: float) -> str:
    return (f"{what}: worst item SER {value:.1f} dB (identical outputs: 120 dB)" if value == value
            else f"{what}: undefined (silent inputs)")


def test_batch(impl_point, batch_mode):
    p = impl_point
    z = p.sizes
    utts = p.utterances(z.batch_items, z.batch_s)
    if batch_mode == "padded":  # different lengths, longest first: 100 %, 85 %, 70 %, ... of batch_s
        utts = [(i, x[: max(1, int(len(x) * (1 - 0.15 * k)))]) for k, (i, x) in enumerate(utts)]
    kind = "batch" if batch_mode == "equal" else "batch_padded"
    cond = condition_record(kind, batch_items=len(utts))
    signals = [x for _, x in utts]
    worst, per = batch_vs_single(p.f, signals)
    ids = [i for i, _ in utts]
    recs = [p.record(cond, "batch_ser_db", worst, n_items=len(utts), item_ser_db=_items(ids, per),
                     finding=_ser_finding(f"coding {len(utts)} utterances as one batch changes the output against "
                                          "coding each alone", worst))]
    if p.has_codes:
        n = max(len(x) for x in signals)
        together = p.sess.runner.encode_batch(p.codec, p.bitrate, np.stack([fit(x, n) for x in signals]))
        alone = [p.sess.runner.encode_batch(p.codec, p.bitrate, x[None])[0] for x in signals]
        agree = code_agreement(alone, [t[:, : a.shape[-1]] for a, t in zip(alone, together)])
        recs.append(p.record(cond, "batch_code_agreement", agree, n_items=len(utts),
                             finding=f"encoding {len(utts)} utterances as one batch gives other codes than encoding "
                                     f"each alone: {agree:.1%} of the codes agree"))
    p.emit(recs)
    check(recs)


def _length_of(p: ImplPoint, which: str) -> int:
    sr = p.sr
    if which == "1-sample":
        return 1
    if which == "10ms":
        return max(1, int(round(0.010 * sr)))
    if which == "half-frame":  # half a code frame where the codec declares its hop; else 5 ms
        hop = int(getattr(p.coder, "token_hop", 0) or 0)
        return hop // 2 if hop >= 2 else max(1, int(round(0.005 * sr)))
    n = sr + 1  # odd: 1 s + 1 sample (an even rate gives an odd count)
    return n if n % 2 else n + 1


def test_output_length(impl_point, length_input):
    p = impl_point
    n = _length_of(p, length_input)
    (uid, x), = p.utterances(1, n / p.sr + 1e-9)
    x = x[:n]
    declared = getattr(p.coder, "output_samples", None)
    expected = int(declared(n)) if callable(declared) else n
    cond = condition_record("length", input_samples=n, input_case=length_input)  # two cases may share a length
    what = f"{CASE_TEXT[length_input]} ({n} sample{'s' if n != 1 else ''} at {p.sr} Hz)"
    try:
        y = p.f(x[None])
    except CodecError as exc:  # the contract's refusal of an input it does not take: declared, not a crash
        rec = p.record(cond, "length_error_samples", None, gated=False, n_items=1, expected_samples=expected,
                       refused=f"{type(exc).__name__}: {exc}")
        p.emit([rec])
        pytest.skip(f"{p.codec} refuses {what}: {exc}")
    except Exception as exc:  # noqa: BLE001  (a crash on a short or odd input is the finding)
        rec = p.record(cond, "length_error_samples", None, gated=False, n_items=1, expected_samples=expected)
        rec["passed"] = False
        rec["failure"] = (f"the codec crashed on {what}: {type(exc).__name__}: {exc} (refuse such input with a "
                          "CodecError saying what it needs, or code it)")
        p.emit([rec])
        pytest.fail(f"{p.codec} @ {p.bitrate:g} kbps, implementation [length]: {rec['failure']}", pytrace=False)
    got = int(y.shape[-1])
    error = got - expected
    bad = int(np.sum(~np.isfinite(y)))
    rule = "the input's length" if not callable(declared) else f"its declared output_samples({n}) = {expected}"
    rec = p.record(cond, "length_error_samples", error, n_items=1, expected_samples=expected, output_samples=got,
                   non_finite_samples=bad,
                   finding=f"the codec {length_text(error, n)} for {what}; it must return {rule}")
    if bad:
        rec["passed"] = False
        rec["failure"] = "; ".join(filter(None, [rec.get("failure"),
                                                 f"{bad} of {got} output samples are NaN/Inf for {what}"]))
    p.emit([rec])
    if bad:
        pytest.fail(f"{p.codec} @ {p.bitrate:g} kbps, implementation [length]: {rec['failure']}", pytrace=False)
    check([rec])


def test_chunked(impl_point, chunk_s):
    p = impl_point
    z = p.sizes
    utts = p.utterances(z.chunk_items, z.chunk_item_s)
    hop = int(getattr(p.coder, "token_hop", 0) or 0)
    # a streaming user cuts at code frames: chunks of whole frames where the codec declares its hop
    chunk = max(1, int(round(chunk_s * p.sr / hop))) * hop if hop > 0 else int(round(chunk_s * p.sr))
    whole = [p.reference(x) for _, x in utts]
    parts = [chunked(p.f, x, chunk) for _, x in utts]
    worst, per = worst_ser([fit(w, len(x)) for w, (_, x) in zip(whole, utts)], parts)
    ids = [i for i, _ in utts]
    recs = [p.record(condition_record("chunked", chunk_s=chunk_s), "chunked_ser_db", worst, n_items=len(utts),
                     item_ser_db=_items(ids, per), chunk_samples=chunk,
                     finding=_ser_finding(f"coding in {chunk_s:g} s chunks changes the output against coding the "
                                          "whole utterance", worst))]
    if p.has_codes and hop > 0:
        frames = chunk // hop
        codes = [p.sess.runner.codes(p.codec, p.bitrate, x, p.sr) for _, x in utts]  # memoised: once per point
        dec = (lambda c: p.sess.runner.decode(p.codec, p.bitrate, c))
        full = [dec(c[None])[0] for c in codes]
        blocks = [decode_in_chunks(dec, c, frames) for c in codes]
        worst_d, per_d = worst_ser(full, blocks)
        recs.append(p.record(condition_record("chunked_decode", chunk_s=chunk_s), "chunked_decode_ser_db", worst_d,
                             n_items=len(utts), item_ser_db=_items(ids, per_d), frames_per_chunk=frames,
                             finding=_ser_finding(f"decoding the codes in blocks of {frames} frames ({chunk_s:g} s) "
                                                  "changes the audio against decoding them whole", worst_d)))
    p.emit(recs)
    check(recs)


def _repeat_record(p: ImplPoint, kind: str, first, second, what: str) -> dict:
    r = compare_runs(first, second)
    finding = (f"{what} gives a different output for {r.differing} of {len(first)} inputs: worst item SER "
               f"{r.ser_db:.1f} dB (bit-identical: 120 dB)")
    return p.record(condition_record(kind), "repeat_ser_db", r.ser_db, n_items=len(first), identical=r.identical,
                    differing_items=r.differing, digests=[r.first_digest, r.second_digest], finding=finding)


def test_repeat(impl_point):
    p = impl_point
    z = p.sizes
    utts = p.utterances(z.repeat_items, z.repeat_s)
    first = [p.f(x[None])[0] for _, x in utts]
    second = [p.f(x[None])[0] for _, x in utts]
    rec = _repeat_record(p, "repeat", first, second, "coding the same input twice in one process")
    p.emit([rec])
    check([rec])


def test_fresh_process(impl_point):
    p = impl_point
    z = p.sizes
    signals = [x for _, x in p.utterances(z.repeat_items, z.repeat_s)]
    first = [p.f(x[None])[0] for x in signals]
    other = p.sess.runner.fresh_process(p.codec, signals)
    key = next((b for b in other if abs(b - float(p.bitrate)) < 1e-6), None)
    if key is None:
        raise CodecError(f"the fresh process of {p.codec!r} did not code {p.bitrate:g} kbps (it coded "
                         f"{sorted(other)})")
    rec = _repeat_record(p, "fresh_process", first, other[key],
                         "coding the same input in a new Python process (same settings)")
    p.emit([rec])
    check([rec])
