"""The implementation suite end to end (issue 25, item 3): toy codecs with one deliberate
implementation fault each fail the check that is about it, with a message a user understands,
under the shipped default limits; identity and Opus pass under theirs."""
import textwrap

from tests.helpers import latest_results

FAULTY = textwrap.dedent('''
    import time

    import numpy as np
    from codec_conformance.codecs.base import BaseCodec
    from codec_conformance.errors import CodecError

    class Plain(BaseCodec):
        """16-bit rounding: batch-, chunk- and run-independent, length-preserving."""
        name, sample_rate, bitrates_kbps = "plain", 16000, (256.0,)

        def roundtrip_batch(self, batch, bitrate_kbps):
            return (np.round(batch * 32767) / 32767).astype(np.float32)

    class BatchPeak(Plain):
        """Normalises by the batch's peak (an implementation that mixes the items of a batch)."""
        name = "batchpeak"

        def roundtrip_batch(self, batch, bitrate_kbps):
            return (0.5 * batch / max(float(np.max(np.abs(batch))), 1e-9)).astype(np.float32)

    class Dropper(Plain):
        """Loses the last 10 ms (a decoder that drops its last partial frame)."""
        name = "dropper"

        def roundtrip_batch(self, batch, bitrate_kbps):
            return super().roundtrip_batch(batch, bitrate_kbps)[:, :-160]

    class ChunkPeak(Plain):
        """Normalises each input by its own peak: batch-independent, but chunk-length dependent."""
        name = "chunkpeak"

        def roundtrip_batch(self, batch, bitrate_kbps):
            peak = np.maximum(np.max(np.abs(batch), axis=1, keepdims=True), 1e-9)
            return (0.5 * batch / peak).astype(np.float32)

    class Dither(Plain):
        """Adds a random dither of 1 LSB (16 bit), seeded from the clock."""
        name = "dither"

        def roundtrip_batch(self, batch, bitrate_kbps):
            rng = np.random.default_rng(time.time_ns())
            return (batch + rng.uniform(-1, 1, batch.shape) / 32768).astype(np.float32)

    class ShortCrash(Plain):
        """Crashes (IndexError) on inputs shorter than 320 samples."""
        name = "shortcrash"

        def roundtrip_batch(self, batch, bitrate_kbps):
            if batch.shape[1] < 320:
                raise IndexError("frame index out of range")
            return super().roundtrip_batch(batch, bitrate_kbps)

    class ShortRefusal(Plain):
        """Refuses inputs shorter than 320 samples with the contract's CodecError."""
        name = "shortrefusal"

        def roundtrip_batch(self, batch, bitrate_kbps):
            if batch.shape[1] < 320:
                raise CodecError("shortrefusal needs at least 320 samples (20 ms) per input")
            return super().roundtrip_batch(batch, bitrate_kbps)

    def plain(**kw): return Plain()
    def batchpeak(**kw): return BatchPeak()
    def dropper(**kw): return Dropper()
    def chunkpeak(**kw): return ChunkPeak()
    def dither(**kw): return Dither()
    def shortcrash(**kw): return ShortCrash()
    def shortrefusal(**kw): return ShortRefusal()
''')


def _failed(pytester, codec: str) -> dict:
    """(condition kind, metric) -> the failing record of ``codec`` in the newest run."""
    return {(r["condition"]["kind"], r["metric"]): r for r in latest_results(pytester)["records"]
            if r["codec"] == codec and r["suite"] == "implementation" and r.get("passed") is False}


def test_batch_dependent_and_length_dropping_codecs_fail_with_messages_a_user_reads(run_suites, pytester):
    pytester.makepyfile(faulty=FAULTY)
    r = run_suites("--codec=faulty:batchpeak", "--codec=faulty:dropper", "--codec=faulty:plain",
                   "-k", "implementation", "-q", "-p", "no:randomly")
    out = r.stdout.str()
    assert r.ret == 1
    batch = _failed(pytester, "faulty:batchpeak")
    assert {("batch", "batch_ser_db"), ("batch_padded", "batch_ser_db")} <= set(batch)
    assert "coding 4 utterances as one batch changes the output against coding each alone" in out
    drop = _failed(pytester, "faulty:dropper")
    lengths = sorted(x["value"] for (k, _), x in drop.items() if k == "length")  # 160 dropped, or all of a short input
    assert lengths and all(v < 0 for v in lengths) and -160 in lengths
    assert ("the codec drops 160 of 16001 input samples (the output is 15841 samples long) for an odd-length "
            "input (16001 samples at 16000 Hz); it must return the input's length") in out
    # its other faults follow from the lost samples alone: equal-length batches, repeats agree (a padded
    # batch does not: the samples it drops are padding there, its own samples alone)
    assert not ({k for k, _ in drop} & {"batch", "repeat", "fresh_process"})
    assert not _failed(pytester, "faulty:plain")  # the same code without the faults passes
    assert {x["condition"]["kind"] for x in latest_results(pytester)["records"] if x["codec"] == "faulty:plain"} == {
        "batch", "batch_padded", "length", "chunked", "repeat", "fresh_process"}


def test_chunk_dependent_and_nondeterministic_codecs_fail_their_checks(run_suites, pytester):
    pytester.makepyfile(faulty=FAULTY)
    r = run_suites("--codec=faulty:chunkpeak", "--codec=faulty:dither", "-k", "implementation", "-q",
                   "-p", "no:randomly")
    out = r.stdout.str()
    chunk = _failed(pytester, "faulty:chunkpeak")
    assert {k for k, _ in chunk} == {"chunked"}  # batch-independent, deterministic, length-preserving
    assert "coding in 0.5 s chunks changes the output against coding the whole utterance" in out
    dither = _failed(pytester, "faulty:dither")
    assert {("repeat", "repeat_ser_db"), ("fresh_process", "repeat_ser_db")} <= set(dither)
    assert dither[("repeat", "repeat_ser_db")]["identical"] is False
    assert "coding the same input twice in one process gives a different output" in out
    assert "coding the same input in a new Python process (same settings) gives a different output" in out


def test_a_crash_on_short_input_fails_and_a_declared_refusal_is_recorded(run_suites, pytester):
    pytester.makepyfile(faulty=FAULTY)
    r = run_suites("--codec=faulty:shortcrash", "--codec=faulty:shortrefusal", "-k", "implementation and length",
                   "-q", "-p", "no:randomly", "-rs")
    out = r.stdout.str()
    # 1 sample, 10 ms (160), half-frame (5 ms: 80) are shorter than 320 samples; the odd length is not
    r.assert_outcomes(failed=3, skipped=3, passed=2)
    assert "the codec crashed on a 1-sample input (1 sample at 16000 Hz): IndexError: frame index out of range" in out
    assert "faulty:shortrefusal refuses a 10 ms input (160 samples at 16000 Hz)" in out
    refused = [x for x in latest_results(pytester)["records"] if x["codec"] == "faulty:shortrefusal" and x.get("refused")]
    assert len(refused) == 3 and all(x["passed"] is None and x["value"] is None for x in refused)


def test_identity_and_opus_pass_the_implementation_suite(run_suites, pytester):
    r = run_suites("--codec=identity", "--codec=opus", "-k", "implementation", "-q", "-p", "no:randomly")
    assert r.ret == 0, r.stdout.str()
    recs = [x for x in latest_results(pytester)["records"] if x["suite"] == "implementation"]
    assert recs and all(x["passed"] is True for x in recs)
    assert {x["codec"] for x in recs} == {"identity", "opus"}
    # every gated record was judged against a shipped limit
    assert all(x["threshold"] for x in recs)
