"""The HTML report: built from the published tables only, sections follow the tables that exist, and
in a real headless Chromium it loads offline with no console error and every chart drawn."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from browser import Browser, find_chromium
from conftest import ROOT
from customer_segments.publish import publish
from customer_segments.report import write_report

pytestmark = pytest.mark.dbt

CORE_SECTIONS = ("Headline figures", "Segment sizes and revenue", "Segment profiles",
                 "Recency, frequency and monetary by segment", "Customers in feature space", "Country mix")
#: Sections drawn from tables that later builds add (issues 3 and 4), with the tables they need.
LATER_SECTIONS = {
    "Choosing the number of segments": "segment_k_selection",
    "Algorithm comparison": "segment_algorithm_comparison",
    "What separates the segments": "segment_feature_importance",
    "What each segment buys": "segment_purchases",
    "Predicting the segment from the first purchase": "segment_classifier_evaluation",
    "What the first purchase tells (permutation importance)": "segment_classifier_feature_importance",
    "Purchase forecast": "customer_purchase_forecast",
}
#: Stand-ins for those tables, shaped as the issues describe them, derived from the real marts.
LATER_TABLES_SQL = """
create table segment_k_selection as
    select k, 1000.0 / k as inertia, 0.3 + 0.02 * (k = 4)::int as silhouette, 900.0 + k as calinski_harabasz,
           0.8 + k / 100 as davies_bouldin, 2000 as silhouette_sample_size, k = 4 as is_chosen,
           case when k = 4 then 'knee of the inertia curve' end as reason
    from range(2, 11) as t(k);
create table segment_algorithm_comparison as
    select * from (values ('kmeans', 'rfm', 'log', 4, 0.34, 0.0, 0.81), ('ward', 'rfm', 'log', 4, 0.31, 0.0, 0.77),
                          ('hdbscan', 'rfm', 'log', 3, 0.12, 0.21, 0.40))
        as t(algorithm, feature_set, transform, n_clusters, silhouette, noise_share, adjusted_rand_index);
create table segment_feature_importance as
    select * from (values ('recency_days', 0.52), ('frequency', 0.31), ('monetary', 0.17)) as t(feature, importance);
create table segment_purchases as
    select segment_id, segment_name, 'category ' || c as category_name, 100.0 * c as net_spend, 0.5 + c / 4 as lift
    from segment_profiles, range(1, 7) as t(c);
create table segment_classifier_evaluation as
    select * from (values ('majority', 'time_split', 0.36, 0.25), ('logistic', 'time_split', 0.52, 0.44),
                          ('hist_gradient_boosting', 'time_split', 0.55, 0.47)) as t(model, split, accuracy, balanced_accuracy);
create table segment_classifier_confusion as
    select 'logistic' as model, a.segment_id as actual_segment_id, p.segment_id as predicted_segment_id, 10 as customers
    from segment_profiles a, segment_profiles p;
create table segment_classifier_feature_importance as
    select * from (values ('logistic', 'basket_value', 0.08), ('logistic', 'country', 0.03)) as t(model, feature, importance_mean);
create table customer_purchase_forecast as
    select customer_id, frequency * 0.4 as expected_purchases_365d, monetary * 0.4 as expected_spend_365d,
           1.0 / (1 + recency_days / 100.0) as probability_alive, monetary * 0.5 as clv
    from customer_segments;
"""

#: After load: each Plotly chart with its traces, SVG layers and (3-D) WebGL canvases.
CHARTS_JS = """(async () => {
  await new Promise(r => setTimeout(r, 300));
  return [...document.querySelectorAll('.js-plotly-plot')].map(c => ({
    id: c.id,
    traces: (c._fullData || []).length,
    svg: c.querySelectorAll('svg.main-svg').length,
    marks: c.querySelectorAll('g.trace').length,
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
    return re.findall(r"<section id='section-\d+'><h2>([^<]+)</h2>", page)


@pytest.fixture(scope="module")
def core_report(published_build, tmp_path_factory) -> Path:
    return write_report(published_build.db_path, tmp_path_factory.mktemp("report") / "customer_segments.html")


@pytest.fixture(scope="module")
def full_report(published_build, tmp_path_factory) -> Path:
    """The report on a published file that also holds the tables of later builds."""
    work = tmp_path_factory.mktemp("report-full")
    working = work / "working.duckdb"
    shutil.copyfile(published_build.db_path, working)
    with duckdb.connect(str(working)) as con:
        con.execute(LATER_TABLES_SQL)
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


def test_core_sections_only_when_their_tables_exist(core_report):
    titles = section_titles(core_report.read_text())
    assert titles == list(CORE_SECTIONS)


def test_later_sections_appear_with_their_tables(full_report):
    titles = section_titles(full_report.read_text())
    assert set(CORE_SECTIONS) | set(LATER_SECTIONS) == set(titles)


def test_report_shows_the_published_figures(core_report, published_build):
    page = core_report.read_text()
    customers, orders = published_build.query("select count(*), sum(frequency) from customer_rfm")[0]
    assert f"<div class='value'>{customers:,}</div>" in page
    assert f"<div class='value'>{orders:,}</div>" in page
    for name, actions in published_build.query("select segment_name, suggested_actions from segment_profiles"):
        assert f"<td>{name}</td>" in page and actions in page


def test_same_database_same_report(core_report, published_build, tmp_path):
    again = write_report(published_build.db_path, tmp_path / "again.html")
    assert again.read_bytes() == core_report.read_bytes()


def test_report_is_self_contained(core_report):
    page = core_report.read_text()
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
    charts, errors, _ = render_in_chromium(page, tmp_path / "real.png")
    assert errors == []
    assert_every_chart_rendered(page, charts)
    keep_for_a_person(tmp_path / "real.png", "test_real_report.png")
