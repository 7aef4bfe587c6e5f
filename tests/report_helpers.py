"""Results documents for the report's tests (tests/unit/report/ and the headless-browser ones in
tests/integration/): a document with a hostile codec name, a crafted one with a script payload in
every field, noise records on a grid, intervals, and the linearity / token figures' data."""
import json

from codec_conformance.results.contract import make_record

EVIL = "<script>alert(1)</script>"


def doc(tmp_path):
    recs = []
    for snr in (0.0, 10.0):
        for kind in ("white", "ambient"):
            for m, hib, v, o in (("pesq", True, 1.1, 1.3), ("wer", False, 0.5, 0.4), ("mel_distance", False, 1.2, 1.0),
                                 ("eer", False, 0.2, 0.1), ("prosody_corr", True, 0.8, 0.9)):
                r = make_record(codec=EVIL, bitrate_kbps=6.0, suite="noise",
                                condition={"kind": kind, "snr_db": snr, "gain_db": None, "rt60_s": None,
                                           "level_dbfs": None}, metric=m, higher_is_better=hib, value=v, oracle=o,
                                threshold={"kind": "max_delta", "limit": -0.1, "source": "thresholds/x.toml"}
                                if m == "pesq" else None, n_items=6, test_id=f"t::{EVIL}")
                r["passed"] = False if m == "pesq" else None
                recs.append(r)
    recs.append(make_record(codec=EVIL, bitrate_kbps=6.0, suite="additivity",
                            condition={"kind": "mixture", "snr_db": None, "gain_db": None, "rt60_s": None,
                                       "level_dbfs": None, "mixture": "speech_speech"}, metric="ser_db",
                            higher_is_better=True, value=3.0, n_items=6, test_id="t", median=5.0,
                            counterexample={"x": EVIL, "gain_db": 3.0}))
    recs[-1]["passed"] = False  # a failing property test: its shrunk counterexample is shown
    curves = [{"codec": EVIL, "bitrate_kbps": 6.0, "kind": "frequency_response", "level_dbfs": 0.0,
               "x": [20.0, 100.0, 1000.0, 8000.0], "x_unit": "Hz", "y": [-3.0, 0.0, 0.0, -10.0], "y_unit": "dB"},
              {"codec": EVIL, "bitrate_kbps": 6.0, "kind": "homogeneity_gain", "level_dbfs": None,
               "x": [-40.0, 0.0, 12.0], "x_unit": "dB", "y": [-39.0, 0.0, 10.0], "y_unit": "dB"}]
    d = {"schema": "codec-conformance/results/1",
         "run": {"id": "r1", "started": "2026", "finished": None, "argv": [EVIL], "seed": 0, "profile": "smoke",
                 "device": "cpu", "versions": {}, "errors": [{"test_id": EVIL, "when": "call", "message": EVIL}],
                 "evaluators": {"wer": {"name": EVIL, "stand_in": True}},
                 "corpora": {"speech": {"synthetic": True, "description": EVIL, "transcripts": "clean-asr"}}},
         "codecs": [{"name": EVIL, "sample_rate": 16000, "bitrates_kbps": [6.0], "checkpoint": EVIL,
                     "checkpoint_sha256": None, "weights": "random-init", "device": "cpu"}],
         "records": recs, "curves": curves}
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(d))
    return run


# ---------------------------------------------------------------- a crafted results.json
# Three ways to run script if a value reached the page unescaped (text, attribute, event handler);
# each value carries its own field path, so a test can say which field leaked.
PAYLOAD = ("\"'><script>console.error('INJECTED {f}')</script><img src=x onerror=\"console.error('INJECTED {f}')\">"
           "<svg onload=console.error('INJECTED-{f}')>")


def _poison(v, path="", keep=lambda path, v: False):
    """Every leaf value (and the keys of free-form maps) replaced by the payload naming its path,
    except where ``keep(path, value)``."""
    if isinstance(v, dict):
        out = {k: _poison(x, f"{path}.{k}".lstrip("."), keep) for k, x in v.items()}
        if keep(path + "{key}", None):
            return out
        if path.endswith(("condition", "undefined_reasons", "versions", "counterexample")):
            out[PAYLOAD.format(f=path + "{key}")] = PAYLOAD.format(f=path + "{key-value}")
        if path.endswith("evaluators"):
            out[PAYLOAD.format(f=path + "{key}")] = {"name": PAYLOAD.format(f=path + ".name"), "stand_in": True,
                                                      "note": PAYLOAD.format(f=path + ".note")}
        return out
    if isinstance(v, list):
        return [_poison(x, f"{path}[{i}]", keep) for i, x in enumerate(v)]
    return v if keep(path, v) else PAYLOAD.format(f=path)


def crafted(tmp_path, only=None) -> tuple[dict, object]:
    """A results document with the payload in every field; ``only="strings"``: in every string
    field (a file the contract accepts); ``only=ISSUE_FIELDS``: in those fields alone."""
    run = doc(tmp_path)
    d = json.loads((run / "results.json").read_text())
    r = d["records"][0]  # every optional field the report shows
    r.update(n_undefined=2, undefined_reasons={"i1": "silent"}, stand_in=True, failure="why", median=1.0,
             baseline={"value": 1.0, "tolerance": 0.1, "passed": False, "source": "b.json"},
             audio={"item": "i1", "clean": "audio/a.flac", "noisy": "audio/b.flac", "coded": "audio/c.flac"})
    d["codecs"][0].update(precision="fp32", device="cpu")
    d["run"].update(finished="2026", seed=3)
    if only == "strings":
        keep = lambda path, v: not isinstance(v, str)  # noqa: E731
    elif only is not None:
        keep = lambda path, v: path not in only  # noqa: E731
    else:
        keep = lambda path, v: False  # noqa: E731
    d = _poison(d, keep=keep)
    d["schema"] = "codec-conformance/results/1"  # the rest of the file is crafted
    return d, run


UNITS = {"pesq": "MOS-LQO", "stoi": "0-1", "wer": "fraction", "eer": "fraction", "mel_distance": "log10-mel L1"}


def noise(metric, kind, x, value, oracle, *, codec="mycodec", br=6.0, hib=None, unit=None, limit=None,
          passed=None, audio=None, **extra):
    hib = metric in ("pesq", "stoi", "prosody_corr") if hib is None else hib
    cond = {"kind": kind, "snr_db": x if kind in ("white", "ambient") else None,
            "rt60_s": x if kind == "reverb" else None}
    r = make_record(codec=codec, bitrate_kbps=br, suite="noise", condition=cond, metric=metric,
                    higher_is_better=hib, value=value, oracle=oracle, n_items=6,
                    threshold=None if limit is None else {"kind": "max_delta", "limit": limit,
                                                          "source": f"thresholds/{codec}.toml [6.noise.{kind}.{metric}]"},
                    test_id=f"suites/test_noise_robustness.py::test_noise_robustness[{codec}-{br:g}kbps-{kind}-{x}-{metric}]",
                    unit=unit or UNITS.get(metric, ""), audio=audio, **extra)
    r["passed"] = passed
    return r


def results(records, *, curves=(), codecs=None, errors=(), argv=("suites/", "--codec=mycodec"), **run):
    codecs = codecs if codecs is not None else [{"name": "mycodec", "sample_rate": 16000, "bitrates_kbps": [6.0],
                                                 "weights": "none", "device": "cpu"}]
    return {"schema": "codec-conformance/results/1",
            "run": {"id": "r1", "started": "2026-11-29T10:00:00+00:00", "finished": "2026-11-29T10:05:00+00:00",
                    "argv": list(argv), "seed": 0, "profile": "smoke", "device": "cpu",
                    "versions": {"python": "3.11.7", "numpy": "2.0"}, "errors": list(errors), "evaluators": {},
                    "corpora": {}, **run},
            "codecs": codecs, "records": list(records), "curves": list(curves)}


def write(tmp_path, doc, name="run"):
    run = tmp_path / name
    run.mkdir(parents=True, exist_ok=True)
    (run / "results.json").write_text(json.dumps(doc))
    return run


def grid_records(passed=True, shift=0.0):
    """pesq / wer / mel under white and ambient at 0 and 10 dB, reverb at one RT60, and clean."""
    recs = []
    for kind, xs in (("white", (0.0, 10.0)), ("ambient", (0.0, 10.0)), ("reverb", (0.6,)), ("clean", (None,))):
        for x in xs:
            lvl = 0 if x is None else (10 - x) / 10 if kind != "reverb" else 0.5
            recs.append(noise("pesq", kind, x, 3.0 - lvl - shift, 3.1 - lvl, limit=-0.5, passed=passed))
            recs.append(noise("wer", kind, x, 0.1 + 0.3 * lvl + shift, 0.08 + 0.3 * lvl, limit=0.2, passed=passed))
            recs.append(noise("mel_distance", kind, x, 0.8 + lvl, 0.7 + lvl, limit=0.3, passed=passed))
    return recs


# ------------------------------------------------------------------ intervals (issue 14)
def with_ci(recs, skip=lambda r: False, w=0.05):
    """Records with value / oracle / delta intervals (not those ``skip`` picks: null, as a worst case's)."""
    out = []
    for r in recs:
        r = dict(r)
        if not skip(r) and r.get("suite") == "noise":
            v, o = r["value"], r["oracle"]
            r.update(value_ci95=[v - w, v + 2 * w], oracle_ci95=[o - w, o + w], delta_ci95=[v - o - w, v - o + w])
        out.append(r)
    return out


def linearity_and_tokens():
    """Records and curves of the other figures, whose intervals are null (worst cases, single measurements)."""
    add = make_record(codec="mycodec", bitrate_kbps=6.0, suite="additivity",
                      condition={"kind": "mixture", "mixture": "speech_speech"}, metric="ser_db",
                      higher_is_better=True, value=20.0, median=30.0, n_items=6, test_id="t", unit="dB")
    tok = make_record(codec="mycodec", bitrate_kbps=6.0, suite="tokens", condition={"kind": "white", "snr_db": 10.0},
                      metric="token_agreement", higher_is_better=True, value=0.8, n_items=6, test_id="t",
                      unit="fraction", agreement_per_level=[0.9, 0.7, 0.6])
    curves = [{"codec": "mycodec", "bitrate_kbps": 6.0, "kind": "frequency_response", "level_dbfs": 0.0,
               "x": [20.0, 100.0, 1000.0, 8000.0], "y": [-3.0, 0.0, 0.0, -10.0]},
              {"codec": "mycodec", "bitrate_kbps": 6.0, "kind": "homogeneity_gain", "level_dbfs": None,
               "x": [-40.0, 0.0, 12.0], "y": [-39.0, 0.0, 10.0]}]
    return [add, tok], curves

