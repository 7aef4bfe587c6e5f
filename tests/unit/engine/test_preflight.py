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


@pytest.mark.parametrize("option", ["report_dir", "thresholds_dir"])
def test_an_empty_folder_option_in_pyproject_is_checked_not_a_crash(tmp_path, option):
    """``report_dir = ""`` (or ``thresholds_dir = ""``) under [tool.codec_conformance] is no path
    (Settings.path gives None): the report folder is then one usage error naming the option, and
    an empty thresholds folder means the packaged thresholds alone, as in the session. Preflight
    used to call .exists() on None (AttributeError, a traceback instead of a usage error)."""
    from codec_conformance.engine.preflight import check_inputs
    from codec_conformance.gate.calibration import write_thresholds
    from codec_conformance.settings import build_settings
    (tmp_path / "pyproject.toml").write_text(f'[tool.codec_conformance]\n{option} = ""\n'
                                             + ('' if option == "report_dir" else 'report_dir = "r"\n'))
    s = build_settings(lambda k: None, tmp_path)
    assert getattr(s, option) == "" and s.path(getattr(s, option)) is None
    if option == "report_dir":
        with pytest.raises(ConformanceError, match="--codec-report-dir is empty; give a path"):
            check_inputs(s)
    else:
        check_inputs(s)  # the packaged thresholds validate
        with pytest.raises(ConformanceError, match="--codec-thresholds-dir is empty; give the folder"):
            write_thresholds({"records": [], "run": {}}, s)
