"""The self-contained HTML report, drawn from ``results.json`` alone (plus the run's audio clips).

It reads only the results file and, for what a metric is (label, unit, direction, the figures'
smallest span, whether it is a column of Fig. 1), the file's ``metrics`` block, falling back to
the catalogue's declaration of that metric for a file written before a key existed
(``declared.py``): no table of metric names.

- ``html.py``: escaping, number formatting, tables, CSS and the sort/filter script;
- ``declared.py``: what a quantity is (the results file's ``metrics`` block, else the catalogue);
- ``limits.py``: a record against its threshold;
- ``figures.py``: the figures (inline SVG, also written as SVG and PDF files);
- ``tables.py`` and ``sections.py``: the page's sections, one function each;
- ``compare.py``: the checkpoint-vs-checkpoint page of ``codec-conformance compare --html``.

No network: figures are inline SVG, audio inline FLAC data URIs. Every value that reaches the
HTML is escaped or formatted from a checked number: a crafted results.json cannot inject markup.
"""
from __future__ import annotations

from pathlib import Path

from ..results.contract import load_results
from ..results.run_folder import atomic_write_text
from . import sections as S
from .html import tail
from .sections import command_text, load_errors


def render(doc: dict, run_dir: Path, figures_dir: Path | None = None) -> str:
    """The report page of the results document ``doc`` (audio clips read from ``run_dir``; figure
    files written into ``figures_dir`` when given)."""
    run, recs = doc["run"], doc["records"]
    out = [*S.verdict(doc), *S.codec_load_errors(run), *S.warnings(doc), *S.verdict_grid(recs),
           *S.failing(doc), *S.test_errors(run), *S.summary(doc), *S.figures(doc, figures_dir),
           *S.listen(recs, run_dir), *S.headroom(doc), *S.could_not_fail_limits(recs), *S.measurements(doc),
           *S.durations(run), *S.catalogue(doc), *S.provenance(doc), *S.run_settings(doc), tail()]
    return "\n".join(out)


def write_html(run_dir: str | Path) -> Path:
    """``RUN_DIR/index.html`` from ``RUN_DIR/results.json`` (figures into ``RUN_DIR/figures/``)."""
    run_dir = Path(run_dir)
    doc = load_results(run_dir)
    p = run_dir / "index.html"
    # same permissions as results.json; no temporary left; figures/ beside it
    atomic_write_text(p, render(doc, run_dir, figures_dir=run_dir / "figures"))
    return p


__all__ = ["render", "write_html", "load_errors", "command_text"]
