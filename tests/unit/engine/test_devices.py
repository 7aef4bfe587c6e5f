"""The device of a process (--codec-device=auto): CUDA_VISIBLE_DEVICES and Slurm's GPU binding,
one GPU per xdist worker; and each record's ``device`` (its codec's and its evaluator's). No GPU
here: torch's device count is monkeypatched."""
import re
import textwrap

import pytest

from codec_conformance.errors import ResultsFormatError
from codec_conformance.engine import session
from codec_conformance.engine.session import resolve_device, visible_gpus

GPU_VARS = ("CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "GPU_DEVICE_ORDINAL")


@pytest.fixture
def gpus(monkeypatch):
    """``gpus(n, **env)``: torch sees n GPUs; the process environment is exactly ``env``'s GPU variables."""
    def set_(n, **env):
        monkeypatch.setattr(session, "cuda_device_count", lambda: n)
        for var in GPU_VARS:
            monkeypatch.delenv(var, raising=False)
        for var, value in env.items():
            monkeypatch.setenv(var, value)
    return set_


def test_no_binding_every_gpu_one_per_worker(gpus):
    gpus(4)
    assert [resolve_device("auto", w) for w in range(5)] == ["cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:0"]
    gpus(0)
    assert resolve_device("auto", 3) == "cpu"


def test_cuda_visible_devices_torch_renumbers(gpus):
    """CUDA_VISIBLE_DEVICES=2,3: torch sees 2 GPUs, as cuda:0 and cuda:1 (Slurm's ids do not apply)."""
    gpus(2, CUDA_VISIBLE_DEVICES="2,3", SLURM_JOB_GPUS="2,3")
    assert [resolve_device("auto", w) for w in range(3)] == ["cuda:0", "cuda:1", "cuda:0"]
    gpus(0, CUDA_VISIBLE_DEVICES="")  # hidden: the CPU
    assert resolve_device("auto") == "cpu"


@pytest.mark.parametrize("var", ["SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "GPU_DEVICE_ORDINAL"])
def test_slurm_binding_without_cuda_visible_devices(gpus, var):
    """A Slurm task bound to GPU 2 of a 4-GPU node, CUDA_VISIBLE_DEVICES not set: torch sees all 4
    by physical index; the task uses GPU 2, every worker of it, never another job's GPU."""
    gpus(4, **{var: "2"})
    assert [resolve_device("auto", w) for w in range(3)] == ["cuda:2"] * 3
    assert resolve_device("cuda", 1) == "cuda:2"
    gpus(4, **{var: "1,3"})
    assert [resolve_device("auto", w) for w in range(3)] == ["cuda:1", "cuda:3", "cuda:1"]


def test_slurm_binding_order_and_forms(gpus):
    gpus(8, SLURM_STEP_GPUS="5", SLURM_JOB_GPUS="4-7")
    assert resolve_device("auto") == "cuda:5"  # the step's binding before the job's
    gpus(8, SLURM_JOB_GPUS="0,4-6")
    assert [resolve_device("auto", w) for w in range(4)] == ["cuda:0", "cuda:4", "cuda:5", "cuda:6"]
    gpus(2, SLURM_JOB_GPUS="junk")  # not a list of indices: ignored
    assert [resolve_device("auto", w) for w in range(2)] == ["cuda:0", "cuda:1"]
    gpus(2, SLURM_JOB_GPUS="6")  # indices torch cannot see (another numbering): ignored
    assert resolve_device("auto", 1) == "cuda:1"
    gpus(4, SLURM_JOB_GPUS="3")
    assert resolve_device("cuda:1") == "cuda:1"  # an explicit index is taken as given
    assert resolve_device("cpu") == "cpu"


def test_visible_gpus_is_pure():
    assert visible_gpus(4, {}) == [0, 1, 2, 3]
    assert visible_gpus(4, {"SLURM_JOB_GPUS": "3,1,3"}) == [3, 1]
    assert visible_gpus(4, {"CUDA_VISIBLE_DEVICES": "0", "SLURM_JOB_GPUS": "3"}) == [0, 1, 2, 3]
    assert visible_gpus(0, {"SLURM_JOB_GPUS": "0"}) == []


def test_scorer_device_of():
    from codec_conformance.engine.scorer import Scorer
    from codec_conformance.progress import Stages
    from codec_conformance.settings import Settings

    sc = Scorer(Settings(), "cuda:1", cache=None, timing={}, stages=Stages())
    sc._metrics["wer"] = type("M", (), {"device": "cuda:1"})()
    sc._metrics["pesq"] = object()  # a signal metric holds no device
    assert [sc.device_of(m) for m in ("wer", "pesq", "snr_db")] == ["cuda:1", "cpu", "cpu"]


def test_record_device_is_validated():
    from codec_conformance.results.contract import SCHEMA, make_record, validate_results
    rec = make_record(codec="c", bitrate_kbps=8, suite="noise", condition={"kind": "clean"}, metric="pesq",
                      value=1.0, direction="higher", device={"codec": "cuda:0", "evaluator": "cpu"})
    doc = {"schema": SCHEMA, "run": {}, "codecs": [], "records": [rec], "curves": []}
    validate_results(doc)
    for bad, says in (("cpu", "records[0].device must be an object"),
                      ({"codec": "cpu"}, "records[0].device lacks 'evaluator'"),
                      ({"codec": 0, "evaluator": "cpu"}, "records[0].device.codec must be a string")):
        rec["device"] = bad
        with pytest.raises(ResultsFormatError, match=re.escape(says)):
            validate_results(doc)


@pytest.mark.slow  # a pytest run in a subprocess
def test_every_record_says_its_devices(run_suites, pytester):
    from tests.helpers import latest_results
    pytester.makepyfile(mycodecs=textwrap.dedent('''
        import numpy as np
        from codec_conformance.codecs.base import BaseCodec
        class Gain(BaseCodec):
            name, sample_rate, bitrates_kbps = "gain", 16000, (8.0,)
            def roundtrip_one(self, x, br):
                return (0.9 * x).astype(np.float32)
        def gain(**kw): return Gain()
    '''))
    r = run_suites("--codec=mycodecs:gain", "-k", "frequency or (noise and clean and pesq)", "-q")
    assert r.ret in (0, 1), r.stdout.str()[-2000:]
    recs = latest_results(pytester)["records"]
    assert {x["suite"] for x in recs} >= {"frequency_response", "noise"}
    assert all(x["device"] == {"codec": "cpu", "evaluator": "cpu"} for x in recs)
