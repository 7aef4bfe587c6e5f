"""Frequency response (paper section 6): exponential sine sweeps through the codec at several
peak levels, deconvolved to an impulse response; the smoothed magnitude response on a
log-frequency grid is checked for low-band (<100 Hz) boost, mid-band (100 Hz-2 kHz) ripple and
high-band (>2 kHz) roll-off."""
import pytest

from codec_conformance.catalogue import SuiteInfo
from codec_conformance.engine.session import ConformanceSession
from codec_conformance.plugin.checks import build_record, check, emit
from codec_conformance.probes.analysis import BAND_QUANTITIES, band_summary, frequency_response
from codec_conformance.results.contract import condition_record

SUITE = SuiteInfo(name="frequency_response", label="frequency response",
                  conditions=lambda: [condition_record("sweep")],
                  params={"sweep_level_dbfs": lambda sess: [(f"{x:g}dBFS", x) for x in sess.profile.sweep_levels_dbfs]},
                  quantities=tuple(BAND_QUANTITIES.values()), cost={"test_frequency_response": 1.0})


def test_frequency_response(conformance: ConformanceSession, request: pytest.FixtureRequest,
                            codec_point: tuple[str, float], sweep_level_dbfs: float) -> None:
    codec, bitrate = codec_point
    sess = conformance
    c = sess.runner.codec(codec)
    sr = int(c.sample_rate)
    f = sess.runner.roundtrip_fn(codec, bitrate, sr)  # at the codec's own rate: the sweep covers its whole band
    fr = frequency_response(f, sr, level_dbfs=sweep_level_dbfs, seconds=sess.profile.sweep_seconds)
    summary = band_summary(fr, sr)
    cond = condition_record("sweep", level_dbfs=sweep_level_dbfs)
    recs = [build_record(sess, request, codec=codec, bitrate=bitrate, suite="frequency_response",
                         condition=cond, metric=k, value=v, n_items=1) for k, v in summary.items()]
    curve = {"codec": codec, "bitrate_kbps": bitrate, "kind": "frequency_response",
             "level_dbfs": sweep_level_dbfs, "x": [float(v) for v in fr.freqs_hz], "x_unit": "Hz",
             "y": [float(v) for v in fr.mag_db], "y_unit": "dB"}
    emit(sess, request, codec, recs, [curve])
    check(recs)
