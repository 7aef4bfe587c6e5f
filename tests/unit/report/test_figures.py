"""The report as a paper author and a CI maintainer read it: figures (vector files, honest scales,
no empty panels), the failing-checks table, a codec that cannot load, the Listen section,
provenance; and in headless Chromium, what a person sees on a failing run, a passing run, a -k
slice and a run whose codec could not be loaded."""
import re

import pytest

from codec_conformance.report import figures as F
from codec_conformance.report import render, write_html
from codec_conformance.report.html import CI_LABEL, CI_WHAT
from codec_conformance.results.contract import make_record
from tests.report_helpers import noise, results, write, grid_records, with_ci, linearity_and_tokens

pytestmark = pytest.mark.filterwarnings("ignore")


# ------------------------------------------------------------------ figures
def visible_axes(fig):
    return [ax for ax in fig.axes if ax.axison]


def test_figures_are_vector_files_sized_for_a_paper(tmp_path):
    run = write(tmp_path, results(grid_records(), curves=[
        {"codec": "mycodec", "bitrate_kbps": 6.0, "kind": "frequency_response", "level_dbfs": 0.0,
         "x": [20.0, 100.0, 1000.0, 8000.0], "y": [-3.0, 0.0, 0.0, -10.0]}]))
    page = write_html(run).read_text()
    figs = run / "figures"
    for stem in ("fig1-noise", "fig2-frequency-response"):
        for ext in ("svg", "pdf"):
            assert (figs / f"{stem}.{ext}").stat().st_size > 1000, (stem, ext)
        assert f"figures/{stem}.pdf" in page  # the HTML links the files
    assert "data:image/svg+xml;base64," in page and "data:image/png" not in page
    pdf = (figs / "fig1-noise.pdf").read_bytes()
    # fonts embedded as TrueType (Type 42): submission checkers reject Type 3 (issue 26, item 8)
    for stem in ("fig1-noise", "fig2-frequency-response"):
        assert b"/Type3" not in (figs / f"{stem}.pdf").read_bytes(), stem
    box = [float(v) for v in re.search(rb"/MediaBox \[ *([\d. ]+)\]", pdf).group(1).split()]
    assert box[2] / 72 <= 7.1 + 1e-6  # a page-wide figure at most: 7.1 in
    from matplotlib.text import Text
    fig = F.fig1(results(grid_records()))
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip()]
    assert sizes and min(sizes) >= 7  # fonts >= 7 pt at the printed size
    assert fig.get_figwidth() in (F.PAGE_IN, F.COLUMN_IN)


def test_one_y_range_per_metric_across_conditions():
    """Old code autoscaled each panel: a 0.002 difference filled an axis."""
    recs = [noise("pesq", "white", 0.0, 1.000, 1.002), noise("pesq", "white", 10.0, 1.001, 1.003),
            noise("pesq", "ambient", 0.0, 2.5, 2.6), noise("pesq", "ambient", 10.0, 3.0, 3.1)]
    fig = F.fig1(results(recs))
    axes = visible_axes(fig)
    assert len(axes) == 2
    assert axes[0].get_ylim() == axes[1].get_ylim()
    lo, hi = axes[0].get_ylim()
    assert lo <= 1.0 and hi >= 3.1
    # alone, a tiny difference still gets the metric's smallest span (PESQ: 0.5), not the whole axis
    ax = visible_axes(F.fig1(results(recs[:2])))[0]
    assert ax.get_ylim()[1] - ax.get_ylim()[0] >= 0.5


def test_single_rt60_is_categorical_and_panels_without_data_are_left_out():
    """Old code drew the whole 3 x 5 grid (empty panels for a -k slice) and one RT60 on a 0.57-0.63 s axis."""
    fig = F.fig1(results([noise("wer", "reverb", 0.6, 0.3, 0.25)]))
    axes = visible_axes(fig)
    assert len(axes) == 1  # one metric, one condition: one panel
    ax = axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.6"]
    assert "%" in ax.get_title() and "WER" in ax.get_title()  # WER in %
    y = ax.lines[0].get_ydata()[0]
    assert y == pytest.approx(30.0)  # 0.3 as 30 %


def test_single_bitrate_additivity_is_categorical():
    rec = make_record(codec="c", bitrate_kbps=64.0, suite="additivity",
                      condition={"kind": "mixture", "mixture": "speech_speech"}, metric="ser_db",
                      higher_is_better=True, value=20.0, median=30.0, n_items=6, test_id="t", unit="dB")
    fig = F.fig2(results([rec]))
    ax = visible_axes(fig)[0]
    assert ax.get_xscale() == "linear" and [t.get_text() for t in ax.get_xticklabels()] == ["64"]
    assert len(fig.axes) == 1  # no homogeneity curve: that panel is left out


def test_frequency_response_band_edges_labelled():
    fig = F.fig3(results([], curves=[{"codec": "c", "bitrate_kbps": 6.0, "kind": "frequency_response",
                                      "level_dbfs": 0.0, "x": [20.0, 100.0, 1000.0, 8000.0],
                                      "y": [-3.0, 0.0, 0.0, -10.0]}]))
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"100 Hz", "2 kHz", "8 kHz"} <= texts
    xs = sorted(l.get_xdata()[0] for l in fig.axes[0].lines if len(l.get_xdata()) == 2)
    assert xs == [100.0, 2000.0, 8000.0]


def test_confidence_intervals_drawn_when_records_carry_them():
    plain = [noise("pesq", "white", 0.0, 2.0, 2.2), noise("pesq", "white", 10.0, 2.5, 2.7)]
    with_ci = [dict(r, value_ci95=[r["value"] - 0.1, r["value"] + 0.1], oracle_ci95=None) for r in plain]
    from matplotlib.collections import LineCollection
    n_plain = len(visible_axes(F.fig1(results(plain)))[0].findobj(LineCollection))
    n_ci = len(visible_axes(F.fig1(results(with_ci)))[0].findobj(LineCollection))
    assert n_plain == 0 and n_ci >= 1  # whiskers only where the record has an interval


# ------------------------------------------------------------------ intervals (issue 14)
def ci_groups(svg: str) -> tuple[int, int]:
    """(whisker groups marked ``class="ci"``, whisker segments: the ``M`` commands of their bar paths)."""
    groups = re.findall(r'<g id="(ci-[^"]+)" class="ci">(.*?)</g>', svg, flags=re.S)
    bars = sum(len(re.findall(r'd="M ', body)) for gid, body in groups if gid.startswith("ci-bars"))
    return len(groups), bars


def captions(page: str) -> dict[str, str]:
    """Figure title -> its caption text."""
    return {m.group(1): re.sub(r"<[^>]+>", "", m.group(2)) for m in re.finditer(
        r"<h2>Figure \d+ — ([^<]*)</h2><figure>.*?<figcaption class='small'>(.*?)</figcaption>", page, flags=re.S)}


def test_every_figure_kind_draws_its_intervals_or_says_it_has_none(tmp_path):
    """Old code: whiskers unmarked in the SVG, a zero-length whisker at points without an interval,
    and captions of the other figures silent about intervals."""
    other, curves = linearity_and_tokens()
    noisy = with_ci(grid_records())
    run = write(tmp_path, results(noisy + other, curves=curves))
    page = write_html(run).read_text()
    figs = run / "figures"
    svgs = {p.stem: p.read_text() for p in figs.glob("*.svg")}
    assert set(svgs) == {"fig1-noise", "fig2-linearity", "fig3-frequency-response", "fig4-tokens"}
    # fig1: one whisker per codec point and per oracle point (3 metrics x 5 noisy conditions, clean not drawn)
    n_points = sum(1 for r in noisy if r["condition"]["kind"] != "clean")
    groups, bars = ci_groups(svgs["fig1-noise"])
    assert groups > 0 and bars == 2 * n_points
    for stem in ("fig2-linearity", "fig3-frequency-response", "fig4-tokens"):
        assert ci_groups(svgs[stem]) == (0, 0), stem  # nothing there carries an interval
    cap = captions(page)
    assert CI_WHAT in cap["noise robustness (codec vs oracle)"]
    for title in ("linearity", "frequency response", "token robustness: agreement of the codes per RVQ level"):
        assert "No interval:" in cap[title], title
    # the legend names the whiskers too (the PDF is read without the caption)
    labels = [t.get_text() for t in F.fig1(results(noisy)).legends[0].get_texts()]
    assert CI_LABEL in labels


def test_points_without_an_interval_get_no_whisker_and_the_caption_says_so(tmp_path):
    """Old code drew a zero-length whisker (a cap on the point) where a record of a series with
    intervals had none, and the caption said only 'where the records carry them'."""
    from matplotlib.collections import LineCollection
    # white noise at 10 dB: null intervals, in a series (and an oracle line) whose other points have one
    recs = with_ci(grid_records(), skip=lambda r: (r["condition"]["kind"], r["condition"]["snr_db"]) == ("white", 10.0))
    fig = F.fig1(results(recs))
    segs = [s for ax in visible_axes(fig) for lc in ax.findobj(LineCollection) for s in lc.get_segments()]
    n_ci = sum(1 for r in recs if r.get("value_ci95")) - 3  # the clean records are not drawn
    assert len(segs) == 2 * n_ci  # codec and oracle: only where an interval exists
    assert all(abs(s[1][1] - s[0][1]) > 0 for s in segs)  # no zero-length whisker
    assert F.ci_caption(fig).endswith("6 of 30 points have no interval (fewer than two items or speakers) and are drawn without.")
    none = results(grid_records())  # a file without intervals
    page = render(none, tmp_path)
    assert "No interval: the records carry none" in captions(page)["noise robustness (codec vs oracle)"]
    d = tmp_path / "none"
    run = write(d, none)
    write_html(run)
    assert ci_groups((run / "figures" / "fig1-noise.svg").read_text()) == (0, 0)


def test_axes_include_the_whiskers_and_keep_the_smallest_span():
    from matplotlib.collections import LineCollection
    wide = noise("pesq", "white", 0.0, 2.0, 2.2, value_ci95=[1.2, 2.9], oracle_ci95=[2.1, 3.6])
    ax = visible_axes(F.fig1(results([wide, noise("pesq", "white", 10.0, 2.5, 2.6)])))[0]
    lo, hi = ax.get_ylim()
    ys = [y for lc in ax.findobj(LineCollection) for s in lc.get_segments() for _, y in s]
    assert ys and lo < min(ys) and max(ys) < hi  # no whisker clipped off the plot
    assert min(ys) == pytest.approx(1.2) and max(ys) == pytest.approx(3.6)  # drawn from lo to hi
    # a tiny difference with tiny intervals still gets PESQ's smallest span, not the whole axis
    tiny = [noise("pesq", "white", x, 1.000, 1.002, value_ci95=[0.999, 1.001], oracle_ci95=[1.001, 1.003])
            for x in (0.0, 10.0)]
    lo, hi = visible_axes(F.fig1(results(tiny)))[0].get_ylim()
    assert hi - lo >= 0.5
    # the clean reference is not drawn: its oracle (PESQ 4.64) does not stretch the noisy panels' axis
    clean = noise("pesq", "clean", None, 3.0, 4.64, value_ci95=[2.7, 3.3], oracle_ci95=[4.64, 4.64])
    lo, hi = visible_axes(F.fig1(results([*tiny, clean])))[0].get_ylim()
    assert hi < 2.0


def test_thresholds_and_baseline_drawn():
    r = noise("pesq", "white", 0.0, 2.0, 2.2, limit=-0.5, passed=True)
    r["baseline"] = {"value": 2.1, "tolerance": 0.1, "passed": True}
    labels = visible_axes(F.fig1(results([r])))[0].get_legend_handles_labels()[1]
    assert "limit (threshold)" in labels and "baseline" in labels


def test_every_fig1_x_axis_is_labelled_from_the_conditions_block():
    """Old code labelled only the bottom row of a column: with reverb below, the SNR panels (white,
    ambient) had no x-axis label."""
    recs = [noise("pesq", k, x, 2.5, 2.6) for k, xs in (("ambient", (0.0, 10.0)), ("white", (0.0, 10.0)),
                                                         ("reverb", (0.3, 0.6))) for x in xs]
    doc = results(recs)
    doc["conditions"] = {"white": {"label": "white", "axis": "snr_db", "axis_label": "SNR re speech (dB)"},
                         "ambient": {"label": "ambient", "axis": "snr_db", "axis_label": "SNR re speech (dB)"},
                         "reverb": {"label": "reverb", "axis": "rt60_s", "axis_label": "RT60 (s)"}}
    ambient, white, reverb = visible_axes(F.fig1(doc))
    assert white.get_xlabel() == "SNR re speech (dB)"  # the SNR axis, named from results.json
    assert reverb.get_xlabel() == "RT60 (s)"
    assert ambient.get_xlabel() == ""  # the same axis as the panel below it: named once, under it


def test_a_limit_far_from_the_data_does_not_stretch_the_axis():
    """Old code widened the axis to every limit tick: a PESQ delta limit judged at an oracle near the
    floor (1.05 - 1.55 = -0.5) stretched the PESQ axis to -0.5, below the quantity's floor (1.04)."""
    far = noise("pesq", "white", 0.0, 1.06, 1.05, limit=-1.55, passed=True)     # limit at -0.5
    near = noise("pesq", "white", 10.0, 1.9, 2.1, limit=-0.5, passed=True)      # limit at 1.6, near the data
    ax = visible_axes(F.fig1(results([far, near])))[0]
    lo, hi = ax.get_ylim()
    assert 0.9 < lo < 1.05 and hi < 2.2  # the data's range, within PESQ's bounds, not stretched to -0.5
    labels = ax.get_legend_handles_labels()[1]
    assert "limit (threshold)" in labels  # the near limit as a tick
    edge = [ln for ln in ax.lines if ln.get_label().startswith("limit beyond the axis")]
    assert edge and list(edge[0].get_ydata()) == [lo] and edge[0].get_marker() == "v"  # the far one at the edge
    # a limit within reach of the data still widens the axis to show it
    close = noise("pesq", "white", 0.0, 2.0, 2.2, limit=-0.7, passed=True)      # limit at 1.5
    lo, _ = visible_axes(F.fig1(results([close, noise("pesq", "white", 10.0, 2.5, 2.6)])))[0].get_ylim()
    assert lo < 1.5


def test_fig2_legend_sits_outside_the_axes():
    """Old code put each panel's legend inside its axes (matplotlib's 'best' place), over a point."""
    recs = [make_record(codec="c", bitrate_kbps=b, suite="additivity",
                        condition={"kind": "mixture", "mixture": mix}, metric="ser_db", higher_is_better=True,
                        value=20.0, median=m, n_items=6, test_id="t", unit="dB")
            for mix, ms in (("speech_speech", (10.0, 20.0, 30.0)), ("speech_noise", (12.0, 22.0, 31.0)))
            for b, m in zip((1.5, 6.0, 24.0), ms)]
    curves = [{"codec": "c", "bitrate_kbps": 6.0, "kind": "homogeneity_gain", "level_dbfs": None,
               "x": [-40.0, 0.0, 12.0], "y": [-39.0, 0.0, 10.0]}]
    fig = F.fig2(results(recs, curves=curves))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in visible_axes(fig):
        leg = ax.get_legend().get_window_extent(renderer)
        assert not leg.overlaps(ax.get_window_extent(renderer))  # nothing of the plot under it
        assert not leg.overlaps(ax.xaxis.label.get_window_extent(renderer))  # nor over the axis label
        assert leg.y0 >= 0  # inside the figure


# ------------------------------------------------------------------ implementation suite
def _impl(metric, kind, value, limit=None, **cond):
    from codec_conformance.catalogue import info
    from codec_conformance.results.contract import condition_record
    q = info(metric)
    r = make_record(codec="mycodec", bitrate_kbps=6.0, suite="implementation", condition=condition_record(kind, **cond),
                    metric=metric, direction=q.direction, value=value, n_items=2, unit=q.unit,
                    threshold=None if limit is None else {"kind": "min_value", "limit": limit, "source": "t [x]"},
                    test_id=f"suites/test_implementation.py::test_x[mycodec-6kbps-{kind}]")
    r["passed"] = None if limit is None else value >= limit
    return r


def test_implementation_figure_has_a_panel_per_quantity_and_the_limits_on_the_value_axis(tmp_path):
    recs = [_impl("chunked_ser_db", "chunked", v, 10.0, chunk_s=c) for c, v in ((0.5, 12.0), (1.0, 20.0), (2.0, 30.0))]
    recs += [_impl("batch_code_agreement", "batch", 0.5, 0.99, batch_items=4),
             _impl("length_error_samples", "length", -160.0, input_samples=16001, input_case="odd")]
    fig = F.fig_implementation(results(recs))
    axes = visible_axes(fig)
    titles = [ax.get_title() for ax in axes]
    assert len(axes) == 3 and any("(%)" in t for t in titles)  # a fraction is shown in %
    codes = axes[[i for i, t in enumerate(titles) if "codes" in t][0]]
    ys = sorted(y for line in codes.get_lines() for y in line.get_ydata())
    assert ys == [50.0, 99.0]  # 0.5 and its limit 0.99, in %
    chunk = axes[[i for i, t in enumerate(titles) if "chunked" in t][0]]
    assert [t.get_text() for t in chunk.get_xticklabels()] == ["chunked 0.5", "chunked 1", "chunked 2"]
    assert F.fig_implementation(results([])) is None
    page = write_html(write(tmp_path, results(recs))).read_text()
    assert "implementation: batch, length, chunks, repeated runs" in page
