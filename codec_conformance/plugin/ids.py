"""Test ids and the item -> report hand-over, without pytest hooks (the suites' helpers import
this, never the plugin's hooks)."""
from __future__ import annotations

import pytest

# attribute of a test item holding the payloads (records, curves...) its test emitted; the
# plugin's pytest_runtest_makereport moves them onto the report (as Hypothesis' plugin does)
PAYLOADS_ATTR = "codec_conformance_payloads"


def base_nodeid(nodeid: str) -> str:
    """A test id without the ``@<group>`` suffix that xdist's --dist loadgroup appends on workers,
    so shards and --codec-resume agree whatever the distribution mode."""
    head, sep, tail = nodeid.rpartition("]")
    return head + sep + tail.split("@", 1)[0] if sep else nodeid.split("@", 1)[0]


def test_id(nodeid: str) -> str:
    """The id of a suite test whichever way it was collected (``pytest suites/``, ``pytest --pyargs
    codec_conformance.suites``, a path into site-packages): its module's file name and the rest of
    the node id, without xdist's ``@<group>`` suffix. Records, --codec-resume and sharding use it,
    so they carry over between the ways of collecting."""
    path, sep, rest = base_nodeid(nodeid).partition("::")
    return f"{path.rsplit('/', 1)[-1]}{sep}{rest}"


test_id.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever pytest collects


def hand_over(node: pytest.Item, payload: dict) -> None:
    """Keep ``payload`` on the test item; the plugin sends it with the test's report."""
    node.__dict__.setdefault(PAYLOADS_ATTR, []).append(payload)
