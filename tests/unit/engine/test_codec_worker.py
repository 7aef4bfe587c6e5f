"""Codec calls in a worker process (issue 29 item 4): a hang that holds the GIL ends at
--codec-timeout, a crashed worker is one clear error, and a normal codec's results are the same,
bit for bit, wherever it runs."""
import importlib.util
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from codec_conformance.errors import CodecCrash, CodecError, CodecTimeout
from tests.helpers import alive, make_session, sigint_raises, tone, within



def call(s, spec: str, how: str, bitrate: float = 8.0):
    if how == "encode":
        return s.runner.codes(spec, bitrate, tone(), 16000)
    return s.runner.roundtrip_one(spec, bitrate, tone(), 16000)


@pytest.mark.parametrize("factory,how,what", [("gil_build", "roundtrip", r"\(building it\)"),
                                              ("gil_roundtrip", "roundtrip", "at 8 kbps did not"),
                                              ("gil_encode", "encode", r"at 8 kbps \(encode\)")])
def test_a_hang_holding_the_gil_ends_at_the_limit_in_a_worker(tmp_path, usercodecs, factory, how, what):
    """A codec call that holds the GIL forever (catastrophic backtracking in re's C code) in its
    factory, its round trip or its encode ends in about --codec-timeout: its worker process is
    killed, the call raises the timeout naming the codec, and it is not started again at that
    codec and bitrate. In this process (--codec-isolation thread, the only way before) the same
    call never returns: test_thread_isolation_cannot_end_a_hang_holding_the_gil."""
    spec = f"usercodecs:{factory}"
    s = make_session(tmp_path, spec, no_cache=True, timeout=1.0, isolation="process")
    pid = None
    if factory != "gil_build":
        pid = s.runner.codec(spec).pid
        assert pid and alive(pid)
    with within(30):
        t0 = time.perf_counter()
        with pytest.raises(CodecTimeout, match=rf"{what}.*within 1 s \(--codec-timeout\); its worker process was ended"):
            call(s, spec, how)
        first = time.perf_counter() - t0
        t1 = time.perf_counter()
        with pytest.raises(CodecTimeout, match="within 1 s"):
            call(s, spec, how)
        again = time.perf_counter() - t1
    # the limit, plus the worker's start (a fresh interpreter) for the factory; SIGTERM ends it
    assert 1.0 <= first < (6.0 if factory == "gil_build" else 3.0), first
    assert again < 0.5 and s.runner.abandoned == []
    if pid is not None:
        assert not alive(pid)
    s.runner.close()


THREAD_SCRIPT = textwrap.dedent('''
    import sys, time
    from codec_conformance.engine.session import ConformanceSession
    from codec_conformance.errors import CodecTimeout
    from codec_conformance.settings import Settings
    s = ConformanceSession(Settings(codecs=["usercodecs:gil_roundtrip"], rootdir=sys.argv[1], no_cache=True,
                                    timeout=1.0, isolation=sys.argv[2]))
    s.runner.codec("usercodecs:gil_roundtrip")
    t0 = time.perf_counter()
    try:
        s.runner.roundtrip_one("usercodecs:gil_roundtrip", 8.0, [0.0] * 1600, 16000)
    except CodecTimeout as exc:
        print(f"ended after {time.perf_counter() - t0:.1f} s: {exc}", flush=True)
    s.runner.close()
''')


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_thread_isolation_cannot_end_a_hang_holding_the_gil(tmp_path, usercodecs, isolation):
    """Why the worker process: a watchdog thread in the codec's own process cannot end a call
    that holds the GIL; the waiting thread never runs again (the run hangs, Ctrl-C too). In a
    worker the same call ends at the limit."""
    script = tmp_path / "gil.py"
    script.write_text(THREAD_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), isolation], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        out = None
    if isolation == "thread":
        assert out is None, f"the GIL-holding call ended in this process: {out} {err}"
    else:
        assert out is not None and "ended after 1." in out and "its worker process was ended" in out, (out, err)


@pytest.mark.parametrize("factory,how", [("exit_roundtrip", r"exit code 3"),
                                         ("segfault_roundtrip", r"signal 11 \(SIGSEGV\)")])
def test_a_worker_that_dies_is_one_clear_error(tmp_path, usercodecs, factory, how):
    """A codec that ends its process (os._exit, a segfault) is one CodecCrash naming the codec,
    the call and the exit code or signal, not a hang and not a crash of the run; the next call of
    another kind starts a fresh worker (the crashed call is not started again)."""
    spec = f"usercodecs:{factory}"
    s = make_session(tmp_path, spec, no_cache=True, timeout=30.0, isolation="process")
    with within(30):
        with pytest.raises(CodecCrash, match=rf"codec 'greedy' at 8 kbps: its worker process died \({how}\)"):
            call(s, spec, "roundtrip")
        t0 = time.perf_counter()
        with pytest.raises(CodecCrash):
            call(s, spec, "roundtrip")
        assert time.perf_counter() - t0 < 0.5
        assert call(s, spec, "encode").shape == (1, 4)  # a fresh worker
    assert s.runner.codec(spec).starts == 2
    s.runner.close()


def test_a_crash_at_one_bitrate_leaves_the_others(tmp_path, usercodecs):
    spec = "usercodecs:exit_at_16"
    s = make_session(tmp_path, spec, no_cache=True, isolation="process")
    with pytest.raises(CodecCrash, match="at 16 kbps: its worker process died"):
        call(s, spec, "roundtrip", 16.0)
    assert np.array_equal(call(s, spec, "roundtrip", 8.0), tone())
    s.runner.close()


def test_the_codecs_own_errors_come_back_with_their_type_and_the_workers_traceback(tmp_path, usercodecs):
    ck = tmp_path / "corrupt.txt"
    ck.write_text("\x00garbage")
    s = make_session(tmp_path, "usercodecs:ckgain", checkpoint=str(ck), isolation="process")
    from codec_conformance.errors import CheckpointError
    with pytest.raises(CheckpointError, match=rf"checkpoint {ck}: ValueError: could not convert"):
        s.runner.codec("usercodecs:ckgain")
    s = make_session(tmp_path, "usercodecs:buggy", checkpoint=str(ck), isolation="process")
    with pytest.raises(CheckpointError, match="TypeError"):
        s.runner.codec("usercodecs:buggy")
    s = make_session(tmp_path, "usercodecs:raw_int16", no_cache=True, isolation="process")
    with pytest.raises(CodecError, match=r"returned int16 samples.*real floating-point"):
        call(s, "usercodecs:raw_int16", "roundtrip")
    s.runner.close()


@pytest.mark.parametrize("spec,bitrate", [("opus", None), ("ladder:mnru20", None), ("usercodecs:batched", 8.0),
                                          ("ladder:mulaw_tokens", None)])
def test_results_are_the_same_bit_for_bit_with_and_without_the_worker(tmp_path, usercodecs, spec, bitrate):
    """Round trips (batched, one by one), codes, the cache identity and the codec's info are
    identical in this process and in a worker; the worker's outputs fill the same cache entries
    (a later in-process run hits them)."""
    from codec_conformance.plugin.checks import sess_codec_info
    from tests.helpers import speechlike
    signals = [speechlike(f, seconds=s) for f, s in ((120, 0.5), (180, 0.7), (220, 0.3), (150, 0.6))]
    got = {}
    for isolation in ("thread", "process"):
        s = make_session(tmp_path, spec, isolation=isolation, cache_dir=str(tmp_path / isolation))
        br = bitrate or s.runner.bitrates(spec)[-1]
        out = s.runner.roundtrip(spec, br, signals, 16000)
        codes = s.runner.codes(spec, br, signals[0], 16000) if s.runner.token_codec(spec) is not None else None
        got[isolation] = (out, codes, s.runner.codec_identity(spec), sess_codec_info(s, spec),
                          s.runner.codec(spec).sample_rate, getattr(s.runner.codec(spec), "token_hop", None))
        s.runner.close()
    (a, ca, ia, fa, ra, ha), (b, cb, ib, fb, rb, hb) = got["thread"], got["process"]
    assert all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b))
    assert (ca is None and cb is None) or np.array_equal(ca, cb)
    assert (ia, fa, ra, ha) == (ib, fb, rb, hb)
    if ia is not None:  # what the worker wrote, this process reads
        s = make_session(tmp_path, spec, isolation="thread", cache_dir=str(tmp_path / "process"))
        br = bitrate or s.runner.bitrates(spec)[-1]
        hits = s.runner.roundtrip(spec, br, signals, 16000)
        assert s.timing["codec_s"] == 0.0 and all(np.array_equal(x, y) for x, y in zip(hits, b))


def test_the_worker_holds_only_what_the_codec_declares(tmp_path, usercodecs):
    s = make_session(tmp_path, "usercodecs:plain", isolation="process")
    c = s.runner.codec("usercodecs:plain")
    assert c.name == "plain" and c.bitrates_kbps == (8.0,) and s.runner.token_codec("usercodecs:plain") is None
    with pytest.raises(AttributeError, match="'calls': only the declared facts"):
        c.calls  # noqa: B018
    assert getattr(c, "calls", None) is None


def test_close_ends_the_worker_and_the_next_call_starts_one(tmp_path, usercodecs):
    spec = "usercodecs:cached"
    s = make_session(tmp_path, spec, no_cache=True, isolation="process")
    c = s.runner.codec(spec)
    pid = c.pid
    s.runner.close()
    assert not alive(pid) and c.pid is None
    assert np.allclose(call(s, spec, "roundtrip"), 0.9 * tone()) and c.starts == 2 and alive(c.pid)
    s.runner.close()
    assert not alive(pid)


def test_ctrl_c_while_waiting_ends_the_worker_at_once(tmp_path, usercodecs):
    """SIGINT in the parent while a call holds the GIL in the worker: KeyboardInterrupt at once,
    the worker killed (it ignores SIGINT itself)."""
    import signal
    import threading
    spec = "usercodecs:gil_roundtrip"
    s = make_session(tmp_path, spec, no_cache=True, timeout=60.0, isolation="process")
    pid = s.runner.codec(spec).pid
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    with sigint_raises(), pytest.raises(KeyboardInterrupt):
        with within(20):
            call(s, spec, "roundtrip")
    assert time.perf_counter() - t0 < 4.0 and not alive(pid)
    assert ("usercodecs:gil_roundtrip", 8.0, "roundtrip") not in s.runner.hung  # interrupted, not hung


def test_a_backport_at_the_front_of_the_path_does_not_shadow_the_workers_standard_library(tmp_path, usercodecs,
                                                                                           monkeypatch):
    """pytest --pyargs puts site-packages at the front of sys.path; a clean install from the extras
    holds PyPI's ``typing`` 3.x there, and the worker, given the parent's path as it was, imported
    it instead of the standard library's and died at start (exit code 1) for every codec."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "typing.py").write_text("raise ImportError('the PyPI typing backport, not the standard library')\n")
    monkeypatch.syspath_prepend(str(shadow))
    s = make_session(tmp_path, "usercodecs:plain", isolation="process")
    c = s.runner.codec("usercodecs:plain")
    assert c.name == "plain" and alive(c.pid)
    s.runner.close()


def test_the_parents_path_keeps_its_order_before_site_packages(tmp_path, usercodecs, monkeypatch):
    """A venv's site-packages lies under its platstdlib: moved to the front with the standard
    library, it shadowed the parent's PYTHONPATH (descript-audio-codec installs a top-level ``tests``
    package, and ``tests.small_codecs`` could no longer be imported in the worker). A module on the
    parent's path named like one in site-packages must stay the parent's."""
    spec = importlib.util.find_spec("six")
    if spec is None or "site-packages" not in str(spec.origin):
        pytest.skip("needs 'six' installed in site-packages")
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "six.py").write_text("from usercodecs import plain  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(shadow))
    monkeypatch.delitem(sys.modules, "six", raising=False)
    s = make_session(tmp_path, "six:plain", isolation="process")
    c = s.runner.codec("six:plain")
    assert c.name == "plain" and alive(c.pid)
    s.runner.close()
