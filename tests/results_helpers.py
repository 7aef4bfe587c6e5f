"""Results documents and child processes for the tests of results files (tests/unit/results/,
tests/unit/test_cli.py): a valid document, malformed ones, and a child whose file writes fail."""
import json
import subprocess
import sys
import textwrap

from codec_conformance.results.contract import SCHEMA, make_record
from tests.helpers import child_env


def rec_reliability(metric="pesq", value=3.0, test_id="t::a", br=6.0):
    return make_record(codec="c", bitrate_kbps=br, suite="noise",
                       condition={"kind": "white", "snr_db": 10, "gain_db": None, "rt60_s": None, "level_dbfs": None},
                       metric=metric, higher_is_better=True, value=value, oracle=3.5, n_items=4, test_id=test_id)


def good_doc(**run):
    return {"schema": SCHEMA, "run": {"id": "a", "finished": "2026-01-01T00:00:00+00:00", **run},
            "codecs": [{"name": "c", "sample_rate": 16000, "bitrates_kbps": [6.0]}],
            "records": [rec_reliability(), rec_reliability(metric="stoi")], "curves": []}


MALFORMED = {
    "top-level array": lambda: "[1, 2]",
    "missing keys": lambda: json.dumps({k: v for k, v in good_doc().items() if k != "records"}),
    "record missing a key": lambda: json.dumps(dict(good_doc(), records=[
        {k: v for k, v in rec_reliability().items() if k != "metric"}])),
    "null run": lambda: json.dumps(dict(good_doc(), run=None)),
    "non-list records": lambda: json.dumps(dict(good_doc(), records={"a": 1})),
    "records of non-objects": lambda: json.dumps(dict(good_doc(), records=[1, 2])),
    "400-digit number": lambda: json.dumps(good_doc()).replace('"bitrate_kbps": 6.0',
                                                               '"bitrate_kbps": ' + "9" * 400, 1),
    "Infinity": lambda: json.dumps(good_doc()).replace('"value": 3.0', '"value": Infinity', 1),
    "string value": lambda: json.dumps(good_doc()).replace('"value": 3.0', '"value": "3.0"', 1),
}


def rec_results_cli(metric="pesq", value=3.0, oracle=3.5, hib=True, br=6.0, codec="c"):
    return make_record(codec=codec, bitrate_kbps=br, suite="noise", condition={"kind": "white", "snr_db": 10,
                       "gain_db": None, "rt60_s": None, "level_dbfs": None}, metric=metric,
                       higher_is_better=hib, value=value, oracle=oracle, n_items=4, test_id="t")


def limited(code: str, limit_bytes: int) -> subprocess.CompletedProcess:
    """Run ``code`` in a child whose file writes beyond ``limit_bytes`` fail (EFBIG), like a full disk."""
    pre = textwrap.dedent(f'''
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))
    ''')
    return subprocess.run([sys.executable, "-c", pre + textwrap.dedent(code)], capture_output=True, text=True,
                          env=child_env(), timeout=120)


# a results document and a record for the verdict and the baseline gate
def verdict_doc(records, run_id="r"):
    return {"schema": SCHEMA, "run": {"id": run_id, "finished": "x"}, "codecs": [], "records": records,
            "curves": []}


def rec_verdict(metric="pesq", value=3.0, oracle=3.5, direction="higher", br=6.0, codec="c", **cond):
    cond = {"kind": "white", "snr_db": 10, **cond}
    return make_record(codec=codec, bitrate_kbps=br, suite="noise", condition=cond, metric=metric,
                       direction=direction, value=value, oracle=oracle, n_items=4, test_id="t")
