"""The HTML report: built from the published tables only, sections follow the tables that exist, and
in a real headless Chromium it loads offline with no console error and every chart drawn."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from browser import Browser, find_chromium
from conftest import ROOT
from customer_segments.delivery.file_replacement import publish
from customer_segments.delivery.report import write_report

pytestmark = pytest.mark.dbt

CORE_SECTIONS = ("What this build read", "Headline figures", "Segment sizes and revenue", "Segment profiles",
                 "Recency, frequency and monetary by segment", "Customers in feature space", "Country mix")
#: Sections drawn from the segmentation, product and prediction marts, with the tables each needs.
LATER_SECTIONS: dict[str, tuple[str, ...]] = {
    "Choosing the number of segments": ("segment_k_selection",),
    "Algorithm comparison": ("segment_algorithm_comparison",),
    "What separates the segments": ("segment_feature_importance",),
    "What each segment buys": ("segment_category_purchases", "segment_product_purchases"),
    "A new customer's next purchases from the first invoice": ("new_customer_prediction_evaluation",),
    "Predicting the segment from the first purchase": ("segment_classifier_evaluation",),
    "What the first purchase tells (permutation importance)": ("segment_classifier_feature_importance",),
    "Purchase forecast": ("segment_purchase_forecast",),
    "Segment migration": ("customer_segment_history", "segment_history_summary"),
    "Sizing a campaign": ("campaign_power",),
    "Forecast backtest (model diagnostics)": ("forecast_backtest_evaluation",),
}
#: Model folders whose tables a build of the core alone (lines to segment profiles) does not have.
LATER_MART_FOLDERS = ("segmentation", "products", "predictions", "history", "campaigns")

#: After load: each Plotly chart with its traces, SVG layers and (3-D) WebGL canvases.
CHARTS_JS = """(async () => {
  await new Promise(r => setTimeout(r, 300));
  return [...document.querySelectorAll('.js-plotly-plot')].map(c => ({
    id: c.id,
    traces: (c._fullData || []).length,
    svg: c.querySelectorAll('svg.main-svg').length,
    // SVG traces, plus heatmaps (drawn as an image in a g.hm layer).
    marks: c.querySelectorAll('g.trace').length + c.querySelectorAll('g.hm image').length,
    canvases: [...c.querySelectorAll('canvas')].filter(x => x.width > 0 && x.height > 0).length,
    is3d: !!(c._fullLayout && c._fullLayout.scene),
  }));
})()"""


def keep_for_a_person(screenshot: Path, name: str) -> None:
    """Copy a screenshot to reports/ (git-ignored), where a person can look at what the test saw."""
    (ROOT / "reports").mkdir(exist_ok=True)
    shutil.copyfile(screenshot, ROOT / "reports" / name)
    print(f"screenshot: {ROOT / 'reports' / name}")


def section_titles(page: str) -> list[str]:
    # As a reader sees them: the page escapes the apostrophe of "A new customer's ...".
    return [html.unescape(title) for title in re.findall(r"<section id='section-\d+'><h2>([^<]+)</h2>", page)]


def later_tables() -> list[str]:
    """The tables of the segmentation, product and prediction marts: one per model file in their folders."""
    return sorted(model.stem for folder in LATER_MART_FOLDERS
                  for model in (ROOT / "models" / "marts" / folder).iterdir() if model.suffix in (".sql", ".py"))


@pytest.fixture(scope="module")
def full_report(published_build, tmp_path_factory) -> Path:
    """The report on the published generated build, which holds every mart."""
    return write_report(published_build.db_path, tmp_path_factory.mktemp("report") / "customer_segments.html")


@pytest.fixture(scope="module")
def core_report(published_build, tmp_path_factory) -> Path:
    """The report on a copy of that build without the segmentation, product and prediction tables (as a
    build of the core alone has)."""
    work = tmp_path_factory.mktemp("report-core")
    working = work / "working.duckdb"
    shutil.copyfile(published_build.db_path, working)
    with duckdb.connect(str(working)) as con:
        for table in later_tables():
            con.execute(f"drop table {table}")
    return write_report(publish(working, work / "served.duckdb"), work / "customer_segments.html")


def render_in_chromium(page: Path, screenshot: Path) -> tuple[list[dict], list[str], list[str]]:
    chromium = find_chromium()
    assert chromium, "chromium not installed: `make browser` (Debian: apt-get install chromium) — the report test needs it"
    with Browser(chromium) as browser:
        browser.open(page.resolve().as_uri())
        charts = browser.evaluate(CHARTS_JS)
        browser.screenshot(screenshot)
        return charts, browser.console_errors(), browser.requests()


def assert_every_chart_rendered(page: Path, charts: list[dict]) -> None:
    expected = re.findall(r'<div id="(chart-\d+)"', page.read_text())
    assert expected and [c["id"] for c in charts] == expected
    for chart in charts:
        assert chart["traces"] > 0 and chart["svg"] > 0, chart
        # 2-D charts draw SVG traces; the 3-D scatter draws on a WebGL canvas.
        assert (chart["canvases"] > 0) if chart["is3d"] else (chart["marks"] > 0), chart


def section_bodies(page: str) -> dict[str, str]:
    """Each section's title and HTML."""
    return {html.unescape(title): body for title, body in
            re.findall(r"<section id='section-\d+'><h2>([^<]+)</h2>(.*?)</section>", page, re.DOTALL)}


def plotly_json(text: str) -> str:
    """``text`` as a string in the figures' JSON."""
    return json.dumps(text).replace("/", "\\u002f")


def core_sections(build) -> list[str]:
    """The core sections, with the build notes' section third when the build has notes (the generated
    build has one: its forecast's churn gate withholds P(alive))."""
    notes = build.scalar("select count(*) from build_notes")
    return [*CORE_SECTIONS[:2], *(["What this build skipped"] if notes else []), *CORE_SECTIONS[2:]]


def test_core_sections_only_when_their_tables_exist(core_report, published_build):
    assert {table for tables in LATER_SECTIONS.values() for table in tables} <= set(later_tables())
    page = core_report.read_text()
    titles = section_titles(page)
    assert titles == [*core_sections(published_build), "Left out of this report"]
    # The sections left out are named, with the tables they lack.
    left_out = section_bodies(page)["Left out of this report"]
    assert "<li>Purchase forecast: segment_purchase_forecast not built</li>" in left_out
    assert "<li>K selection: segment_k_selection not built</li>" in left_out
    assert left_out.count("<li>") == len(LATER_SECTIONS)


def test_later_sections_appear_with_their_tables(full_report, published_build):
    page = full_report.read_text()
    titles = section_titles(page)
    assert set(core_sections(published_build)) | set(LATER_SECTIONS) == set(titles) and len(titles) == len(set(titles))
    bodies = section_bodies(page)
    # The page opens with what the build read: the input file first.
    assert titles[0] == "What this build read"
    assert f"<li>input: {html.escape(str(published_build.data_path))} (" in bodies["What this build read"]
    # Every section on these tables draws its charts from their real columns (no raw-table fallback).
    for title in LATER_SECTIONS:
        assert "<div id=\"chart-" in bodies[title], title
    # And shows what the tables say.
    chosen_k, reason = published_build.query("select k, selection_reason from segment_k_selection where is_chosen")[0]
    assert f"chosen k = {chosen_k}" in bodies["Choosing the number of segments"]
    assert html.escape(reason) in bodies["Choosing the number of segments"]
    for (algorithm,) in published_build.query("select algorithm from segment_algorithm_comparison"):
        assert f"<td>{algorithm}</td>" in bodies["Algorithm comparison"]
    for name, feature in published_build.query("""
            select segment_name, feature from segment_feature_importance
            inner join segment_profiles using (segment_id) where is_top_driver"""):
        assert f"<li><b>{html.escape(name)}</b>: {feature} " in bodies["What separates the segments"]
    # The biggest category by the whole base's spend is a row of the lift heatmap (Plotly's JSON escapes '/').
    category = published_build.scalar("select category_name from segment_category_purchases "
                                      "order by share_of_base_spend desc, category_name limit 1")
    assert plotly_json(category) in bodies["What each segment buys"]
    for (model,) in published_build.query("select distinct model_name from segment_classifier_evaluation"):
        assert f"<td>{model}</td>" in bodies["Predicting the segment from the first purchase"]
    for (feature,) in published_build.query("select feature from segment_classifier_feature_importance "
                                            "where importance_rank = 1"):
        assert plotly_json(feature) in bodies["What the first purchase tells (permutation importance)"]
    for method, origin in published_build.query("select method, strftime(origin_date, '%Y-%m-%d') "
                                                "from forecast_backtest_evaluation"):
        assert f"<td>{origin}</td><td>{method}</td>" in bodies["Forecast backtest (model diagnostics)"]


def test_report_shows_the_published_figures(full_report, published_build):
    page = full_report.read_text()
    customers, orders = published_build.query("select count(*), sum(frequency) from customer_rfm")[0]
    assert f"<div class='value'>{customers:,}</div>" in page
    assert f"<div class='value'>{orders:,}</div>" in page
    for name, actions in published_build.query("select segment_name, suggested_actions from segment_profiles"):
        assert f"<td>{name}</td>" in page and actions in page


def test_same_database_same_report(full_report, published_build, tmp_path):
    again = write_report(published_build.db_path, tmp_path / "again.html")
    assert again.read_bytes() == full_report.read_bytes()


def test_report_is_self_contained(full_report):
    page = full_report.read_text()
    # Nothing loaded from elsewhere: no external script, stylesheet, image or frame.
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page, re.IGNORECASE)
    assert "Plotly.newPlot" in page and len(page) > 3_000_000  # plotly.js itself is inlined


@pytest.mark.parametrize("which", ["core_report", "full_report"])
def test_report_renders_in_headless_chromium(which, request, tmp_path):
    page = request.getfixturevalue(which)
    screenshot = tmp_path / f"{which}.png"
    charts, errors, requests = render_in_chromium(page, screenshot)
    assert errors == []
    assert requests == [], "the page must not fetch anything"
    assert_every_chart_rendered(page, charts)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 50_000
    keep_for_a_person(screenshot, f"test_{which}.png")


def test_browser_check_catches_errors_and_network_use(tmp_path):
    """The checks above can fail: a script error, a console.error and a remote fetch are all caught."""
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><div id=\"chart-1\" class=\"js-plotly-plot\"></div>"
                      "<script>console.error('boom'); undefined_function();</script>"
                      "<img src='https://example.invalid/pixel.png'></body></html>")
    charts, errors, requests = render_in_chromium(broken, tmp_path / "broken.png")
    assert any("boom" in e for e in errors) and any("undefined_function" in e for e in errors)
    assert requests == ["https://example.invalid/pixel.png"]
    with pytest.raises(AssertionError):
        assert_every_chart_rendered(broken, charts)


@pytest.mark.real_data
def test_report_on_the_real_data(real_build, tmp_path):
    served = publish(shutil.copyfile(real_build.db_path, tmp_path / "working.duckdb"), tmp_path / "served.duckdb")
    page = write_report(served, tmp_path / "customer_segments.html")
    charts, errors, requests = render_in_chromium(page, tmp_path / "real.png")
    assert errors == []
    assert requests == []
    assert set(section_titles(page.read_text())) == set(CORE_SECTIONS) | set(LATER_SECTIONS)
    assert_every_chart_rendered(page, charts)
    keep_for_a_person(tmp_path / "real.png", "test_real_report.png")
