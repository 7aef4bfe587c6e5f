from tests.helpers import ROOT

# ----------------------------------------------------------------------
# Issue 14: the shipped real corpus, profile sizes for statistical power, bootstrap intervals on
# every record, the paired baseline test with per-metric minimal meaningful differences, and
# calibration margins at least the calibration run's 95 % half-width.


# --------------------------------------------------------------- shipped corpus and profiles
SHIPPED = ROOT / "codec_conformance" / "data" / "shipped"


def test_shipped_data_licences_cover_every_file_and_nothing_non_commercial():
    lines = (SHIPPED / "DATA_LICENSES").read_text().splitlines()
    table = {ln.split("\t")[0]: ln.split("\t") for ln in lines if ln.count("\t") == 3 and not ln.startswith("file")}
    files = {str(p.relative_to(SHIPPED)) for p in SHIPPED.rglob("*.flac")}
    assert files and files == set(table)
    assert all(row[2] in ("CC BY 4.0", "CC0 1.0", "Apache-2.0") for row in table.values())
    text = " ".join(lines).lower()
    assert "ravdess" not in {p.name.lower() for p in SHIPPED.rglob("*")} and "esc-50" not in " ".join(files).lower()
    assert "never shipped" in text
    assert sum(p.stat().st_size for p in SHIPPED.rglob("*")) < 15e6
