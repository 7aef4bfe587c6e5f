"""pytest plugin (entry point ``pytest11``): the options, and the role of this process.

This module holds only what pytest needs before a run exists: the options (generated from
:class:`codec_conformance.settings.Settings`), the hook specifications, and the choice of this
process's role in ``pytest_configure``: a :class:`~codec_conformance.plugin.roles.Controller` or
an xdist :class:`~codec_conformance.plugin.roles.Worker`, registered with the plugin manager (as
pytest-cov and pytest-benchmark register theirs). The role implements the run's hooks and holds
the run's state; nothing is kept in module globals. Imports nothing heavy: no torch, no codec or
evaluator library (those load lazily, once per process, in the engine).
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Callable

import pytest

from ..engine.session import ConformanceSession
from ..metrics.threads import cpu_budget
from ..settings import OPTIONS, Option
from . import hookspec
from .roles import ROLE, make_role


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("codec-conformance", "codec-conformance: speech codec conformance suites")
    group.addoption("--codec", action="append", default=None, metavar="NAME|module:factory",
                    help="codec under test (repeatable): a registered name (see: codec-conformance "
                         "list-codecs) or package.module:factory")
    parser.addini("codec", "codecs under test (--codec), whitespace-separated", type="args", default=None)
    for opt in OPTIONS.values():
        if opt.is_flag:
            group.addoption(opt.flag, action="store_true", default=False, dest="codec_" + opt.name, help=opt.help)
        else:
            group.addoption(opt.flag, default=None, dest="codec_" + opt.name, type=_argparse_type(opt),
                            help=f"{opt.help} [default: {opt.default}]")
        # the same option as an ini key (its default is shown once, with the option above)
        if opt.is_flag:
            parser.addini("codec_" + opt.name, f"same as {opt.flag}", type="bool", default=None)
        else:
            parser.addini("codec_" + opt.name, f"same as {opt.flag}", default=None)


def _argparse_type(opt: Option) -> Callable[[str], Any] | None:
    """The option's type for argparse: a bad value is refused while parsing."""
    fn = opt.type
    if fn is None:
        return None

    def convert(text: str) -> Any:
        try:
            return fn(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = opt.name  # argparse names the type in some messages
    return convert


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a codec-conformance suite test")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # workers share the cores (2 workers on 2 cores: one thread each; default threading made
        # an EnCodec call 30x slower)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, str(cpu_budget()))
    role = make_role(config)  # chosen once: Controller or Worker
    config.stash[ROLE] = role
    config.pluginmanager.register(role, "codec_conformance_role")


@pytest.fixture(scope="session")
def conformance(request: pytest.FixtureRequest) -> ConformanceSession:
    """The per-worker ConformanceSession (corpus, codecs, evaluators, caches)."""
    return request.config.stash[ROLE].session()
