"""Golden vectors (3GPP-style test sequences, issue 25): does the codec still produce what it
produced when its goldens were recorded?

Per codec x bitrate, the fixed input set of :mod:`codec_conformance.engine.golden` (a sweep, a
second of shipped speech, silence) goes through the codec and is compared with the codec's
golden file (``goldens/<codec>.json`` of the project, --codec-goldens-dir; else the ones shipped
with the source tree), written by ``codec-conformance golden --codec NAME``:

- **bit-exact** where the file's key (codec identity and weights, library versions, device class,
  precision) matches this run and the recording found the codec deterministic: token ids equal
  and the decoded float32 PCM's SHA-256 equal (``golden_bit_exact`` must be 1);
- else **within the file's tolerance** on the decoded audio (``golden_snr_db``: the difference at
  least ``tolerance.snr_db`` below the golden signal, or below -60 dBFS), with the key's
  differences said in the records, the failure and a warning.

A codec without goldens (or without them at this bitrate) is skipped, naming the command that
records them: never a pass. A golden file that cannot be used fails the test with one message.
"""
import warnings

import pytest

from codec_conformance.catalogue import MetricInfo, SuiteInfo
from codec_conformance.engine import golden
from codec_conformance.engine.session import ConformanceSession
from codec_conformance.plugin.checks import build_record, check, emit
from codec_conformance.results.contract import condition_record

GOLDEN_BIT_EXACT = MetricInfo("golden_bit_exact", "golden vectors reproduced bit-exactly", "fraction", "higher", 0.01,
                              bounds=(0.0, 1.0))
GOLDEN_SNR_DB = MetricInfo("golden_snr_db", "decoded difference below the golden", "dB", "higher", 1.0,
                           bounds=(-golden.SNR_CAP_DB, golden.SNR_CAP_DB))
GOLDEN_IDENTICAL_CODES = MetricInfo("golden_identical_codes", "token ids equal to the golden's", "fraction", "higher",
                                    0.01, bounds=(0.0, 1.0))
SUITE = SuiteInfo(name="golden", label="golden vectors", conditions=lambda: [condition_record("golden")],
                  quantities=(GOLDEN_BIT_EXACT, GOLDEN_SNR_DB, GOLDEN_IDENTICAL_CODES),
                  calibrated=frozenset(),  # the golden file is the gate: calibration writes no limits
                  cost={"test_golden": 0.5})


class GoldenKeyMismatch(Warning):
    """A golden file recorded under another key (library version, device, precision, weights):
    compared within its tolerance instead of bit-exactly."""


def test_golden(conformance: ConformanceSession, request: pytest.FixtureRequest,
                codec_point: tuple[str, float]) -> None:
    codec, bitrate = codec_point
    sess = conformance
    s = sess.settings
    where = s.path(s.goldens_dir)
    path = golden.find_goldens(where, codec)
    if path is None:
        pytest.skip(f"no golden vectors for codec {codec!r} (looked for {golden.golden_path(where or '.', codec)}): "
                    f"record them with `{golden.record_command(codec)}` (docs/golden.md)")
    try:
        doc = golden.read_goldens(path)
        if golden.entry_for(doc, bitrate) is None:
            have = ", ".join(f"{e['bitrate_kbps']:g}" for e in doc["bitrates"].values())
            pytest.skip(f"the golden vectors of {codec!r} ({path}) have no entry at {bitrate:g} kbps (they have "
                        f"{have}): record it with `{golden.record_command(codec)} --codec-bitrate {bitrate:g}`")
        cmp = golden.compare(sess.runner, codec, bitrate, doc, path)
    except golden.GoldenError as exc:
        pytest.fail(f"golden vectors of {codec!r} cannot be used: {exc}", pytrace=False)
    names = [x.name for x in cmp.signals]
    extra = {"golden_tier": cmp.tier, "golden_file": str(path), "golden_key_mismatch": cmp.why_tolerance or None,
             "golden_notes": {x.name: x.note for x in cmp.signals if x.note} or None}
    cond = condition_record("golden")

    def rec(metric, values):
        return build_record(sess, request, codec=codec, bitrate=bitrate, suite=SUITE.name, condition=cond,
                            metric=metric, value=min(values), n_items=len(values),
                            per_item={"ids": names, "value": values}, **extra)

    recs = [rec("golden_bit_exact", [float(x.bit_exact) for x in cmp.signals]),
            rec("golden_snr_db", [x.snr_db for x in cmp.signals])]
    codes = [x.codes_identical for x in cmp.signals if x.codes_identical is not None]
    if codes:
        recs.append(rec("golden_identical_codes", [float(x.codes_identical or 0.0) for x in cmp.signals]))
    gate = recs[0] if cmp.tier == "bit-exact" else recs[1]  # the record this tier gates on
    limit = 1.0 if cmp.tier == "bit-exact" else cmp.tolerance_snr_db
    gate["threshold"] = {"kind": "min_value", "limit": limit, "source": f"{path} ({cmp.tier})"}
    gate["passed"] = cmp.passed and gate.get("passed") is not False  # a baseline verdict stays
    if not cmp.passed:
        why = "; ".join(cmp.failures())
        if cmp.why_tolerance:
            why += "; compared within the tolerance because " + "; ".join(cmp.why_tolerance)
        gate["failure"] = f"{cmp.tier} comparison with {path} failed: {why}"
    emit(sess, request, codec, recs)
    if cmp.why_tolerance:
        warnings.warn(GoldenKeyMismatch(
            f"{codec} @ {bitrate:g} kbps: golden vectors {path} were recorded under another key, compared within "
            f"the tolerance ({cmp.tolerance_snr_db:g} dB) instead of bit-exactly: " + "; ".join(cmp.why_tolerance)
            + f" (re-record with `{golden.record_command(codec)}` to compare bit-exactly here)"), stacklevel=1)
    check(recs)
