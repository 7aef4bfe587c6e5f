"""pytest plugin (entry point ``pytest11``): options, parametrisation, result collection.

Imports nothing heavy: no torch, no codec or evaluator library. Heavy objects are built lazily
by :class:`codec_conformance.plugin.session.ConformanceSession`, once per process (xdist worker). Records
travel to the controller inside the test reports (``user_properties``); only the controller
writes ``reports/<run-id>/``. What a process does in the run is its role (``roles.py``:
:class:`Controller` or :class:`Worker`, chosen once in ``pytest_configure``); the hooks delegate.
"""
from __future__ import annotations

import os

import pytest

from .ids import PAYLOADS_ATTR
from .roles import LOAD_ERROR_KEY, PAYLOAD_KEY, Role, make_role
from .settings import BOOL_OPTIONS, OPTIONS, option_type

_STATE_ATTR = "_codec_conformance_state"


def pytest_addhooks(pluginmanager):
    from . import hookspec
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser):
    group = parser.getgroup("codec-conformance", "codec-conformance: speech codec conformance suites")
    group.addoption("--codec", action="append", default=None, metavar="NAME|module:factory",
                    help="codec under test (repeatable): a registered name (see: codec-conformance "
                         "list-codecs) or package.module:factory")
    parser.addini("codec", "codecs under test (--codec), whitespace-separated", type="args", default=None)
    for name, (default, text, *_) in OPTIONS.items():
        flag = "--codec-" + name.replace("_", "-")
        if name in BOOL_OPTIONS:
            group.addoption(flag, action="store_true", default=False, dest="codec_" + name, help=text)
        else:
            group.addoption(flag, default=None, dest="codec_" + name, type=_argparse_type(name),
                            help=f"{text} [default: {default}]")
        # the same option as an ini key (its default is shown once, with the option above)
        parser.addini("codec_" + name, f"same as {flag}", type="bool" if name in BOOL_OPTIONS else None,
                      default=None)


def _argparse_type(name: str):
    """OPTIONS' type of ``name`` for argparse: a bad value is refused while parsing."""
    import argparse

    fn = option_type(name)
    if fn is None:
        return None

    def convert(text):
        try:
            return fn(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = name  # argparse names the type in some messages
    return convert


def state(config) -> Role:
    """This process's role (set in pytest_configure)."""
    return getattr(config, _STATE_ATTR)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "conformance: a codec-conformance suite test")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # workers share the cores (2 workers on 2 cores: one thread each; default threading made
        # an EnCodec call 30x slower). Light: metrics/threads.py imports nothing heavy.
        from ..metrics.threads import cpu_budget
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, str(cpu_budget()))
    setattr(config, _STATE_ATTR, make_role(config))  # chosen once: Controller or Worker


def conf_fixtures() -> tuple[str, ...]:
    """The parameters the plugin provides: the codec point, and each suite's declared ones."""
    from ..catalogue import suites
    return ("codec_point", *(p for s in suites().values() for p in s.params))


def pytest_generate_tests(metafunc):
    names = metafunc.fixturenames
    if not any(n in names for n in conf_fixtures()):
        return
    from ..catalogue import suites
    st = state(metafunc.config)
    sess = st.session()
    try:
        if "codec_point" in names:
            # marks at parametrization, so that -m and xdist's --dist loadgroup (which reads
            # xdist_group during collection) see them: one codec's tests share a worker
            points = [pytest.param((c, b), id=f"{c}-{b:g}kbps",
                                   marks=[pytest.mark.conformance, pytest.mark.xdist_group(c)])
                      for c in st.settings.codecs for b in sess.bitrates(c)]
            metafunc.parametrize("codec_point", points)
        for suite in suites().values():  # each suite's parameters, as its SUITE declares them
            for fixture, values in suite.params.items():
                if fixture in names:
                    pairs = values(sess)
                    metafunc.parametrize(fixture, [v for _, v in pairs], ids=[str(i) for i, _ in pairs])
    except Exception as exc:  # a codec that cannot be built, a bad --codec-bitrate or metric
        msg = str(exc)
        st.collect_error = msg if msg.startswith("codec-conformance") else f"codec-conformance: {msg}"
        for n in conf_fixtures():  # no tests from this module; the run stops after collection
            if n in names and n not in getattr(metafunc, "_calls_params", ()):
                try:
                    metafunc.parametrize(n, [])
                except ValueError:
                    pass


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: plan only what will run
def pytest_collection_modifyitems(session, config, items):
    st = state(config)
    if st.collect_error:
        pytest.exit(st.collect_error, returncode=pytest.ExitCode.USAGE_ERROR)
    fixtures = conf_fixtures()
    st.collection_modifyitems(items, [it for it in items if any(n in getattr(it, "fixturenames", ()) for n in fixtures)])


@pytest.fixture(scope="session")
def conformance(request):
    """The per-worker ConformanceSession (corpus, codecs, evaluators, caches)."""
    return state(request.config).session()


def _codec_of(item) -> str | None:
    cs = getattr(item, "callspec", None)
    point = cs.params.get("codec_point") if cs is not None else None
    return str(point[0]) if isinstance(point, tuple) and point else None


def pytest_runtest_setup(item):
    """A codec that could not be loaded in this process is reported once: its later tests skip."""
    codec = _codec_of(item)
    st = getattr(item.config, _STATE_ATTR, None)
    if codec is not None and st is not None and codec in st.load_failed:
        pytest.skip(f"codec {codec!r} could not be loaded (reported once, above): {st.load_failed[codec]}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Move what the test handed over (ids.hand_over: records, curves) onto its call report, which
    xdist sends to the controller: records travel per test, so they survive a killed worker. A codec
    that could not be loaded (CheckpointError) is said once, without a traceback."""
    report = yield
    if call.when == "call":
        for payload in item.__dict__.pop(PAYLOADS_ATTR, ()):
            report.user_properties.append((PAYLOAD_KEY, payload))
    if call.excinfo is None or call.when not in ("setup", "call"):
        return report
    from ..errors import CheckpointError
    codec = _codec_of(item)
    if codec is None or not call.excinfo.errisinstance(CheckpointError):
        return report
    msg = " ".join(str(call.excinfo.value).split())
    st = getattr(item.config, _STATE_ATTR, None)
    if st is not None:
        st.load_failed[codec] = msg
    report.longrepr = f"codec-conformance: codec {codec!r} could not be loaded: {msg}"  # no traceback
    report.user_properties.append((LOAD_ERROR_KEY, {"codec": codec, "message": msg}))
    return report


@pytest.hookimpl(tryfirst=True)  # before junitxml reads user_properties
def pytest_runtest_logreport(report):
    # on the controller for every report (xdist forwards workers' reports); a worker ignores it
    if _current_role is not None:
        _current_role.logreport(report)


_current_role: Role | None = None  # pytest_runtest_logreport gets no config


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    global _current_role
    _current_role = state(session.config)
    _current_role.sessionstart(session)


def pytest_sessionfinish(session, exitstatus):
    state(session.config).sessionfinish(session, exitstatus)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state(config).terminal_summary(terminalreporter)
