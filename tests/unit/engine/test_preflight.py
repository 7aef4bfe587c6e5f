import os
from pathlib import Path

import pytest

from codec_conformance.errors import ConformanceError

# ----------------------------------------------------------------------
# Bad configuration and bad input: one clear usage error up front (exit 4) naming the option or
# file; unreadable corpus files skipped, counted and named; near-silent items undefined, with a
# reason, instead of skewing a curve or erroring every noisy-condition test.


def test_report_dir_without_write_permission(tmp_path, monkeypatch):
    """Permissions cannot be taken from root: os.access is made to say no instead."""
    from codec_conformance.engine.preflight import check_report_dir
    from codec_conformance.settings import Settings
    s = Settings(rootdir=str(tmp_path), report_dir="ro/reports")
    (tmp_path / "ro").mkdir()
    check_report_dir(s)  # writable: fine, and nothing created
    assert not (tmp_path / "ro" / "reports").exists()
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != tmp_path / "ro")
    with pytest.raises(ConformanceError, match="--codec-report-dir .*ro/reports: cannot be created, .*ro is not writable"):
        check_report_dir(s)
