"""The HTML report: built from the published tables only, sections follow the tables that exist, the
marketer's sections come first and the model diagnostics in an appendix, money and counts read as a person
reads them; in a real headless Chromium at 1280 px it loads offline with no console error, every section and
chart drawn, nothing sticking out sideways and every axis titled."""

from __future__ import annotations

import html
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import plotly.offline
import pytest

from browser import Browser, find_chromium
from conftest import ROOT
from customer_segments.delivery import formats
from customer_segments.delivery.exports import file_stem, write_exports
from customer_segments.delivery.file_replacement import publish
from customer_segments.delivery.report import write_report
from customer_segments.delivery.report.page import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.dbt

#: The sections of the core tables, in page order (the build notes' section goes third when there are notes).
CORE_SECTIONS = ("What this build read", "Headline figures", "Segment sizes and revenue", "Monthly trend per segment",
                 "What to do with each segment", "Segment profiles", "Recency, frequency and monetary by segment",
                 "Country mix", "Customers in feature space")
#: The marketer's part of the full report, in page order (without the build notes' section), before the appendix.
MARKETER_SECTIONS = ("What this build read", "Headline figures", "Segment sizes and revenue",
                     "Monthly trend per segment", "What each segment buys", "What to do with each segment",
                     "Segment profiles", "Recency, frequency and monetary by segment", "Country mix",
                     "Purchase forecast", "Sizing a campaign")
APPENDIX = "Appendix: model diagnostics"
#: Sections made of text and tables only; every other section draws at least one chart.
SECTIONS_WITHOUT_CHARTS = {"What this build read", "Headline figures", "What this build skipped",
                           "What to do with each segment", "Segment profiles", "Left out of this report"}
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
    "Forecast backtest": ("forecast_backtest_evaluation",),
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


#: After load, at the page's width: what sticks out sideways, per section (outside table frames, which scroll
#: on purpose), each chart's axes without a title and its text cut off at the chart's edge.
LAYOUT_JS = """(async () => {
  await new Promise(r => setTimeout(r, 300));
  const inside = (r, box) => r.left >= box.left - 1 && r.right <= box.right + 1;
  const sections = [...document.querySelectorAll('section')].map(s => {
    const box = s.getBoundingClientRect();
    const out = [...s.querySelectorAll('*')]
      .filter(e => !(e.parentElement.closest('.table-wrap') || e.parentElement.closest('.js-plotly-plot')))
      .filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && !inside(r, box); })
      .map(e => `${e.tagName.toLowerCase()}.${e.className}`);
    const tables = [...s.querySelectorAll('table')].map(t => {
      const frame = t.parentElement;
      return {framed: frame.classList.contains('table-wrap') && getComputedStyle(frame).overflowX === 'auto',
              scrolls: frame.scrollWidth > frame.clientWidth};
    });
    const charts = [...s.querySelectorAll('.js-plotly-plot')].map(c => {
      const cbox = c.getBoundingClientRect();
      const layout = c._fullLayout || {};
      // An axis showing tick labels has a title (an axis shared with the one below shows none), drawn as
      // the text of g.g-<axis id>title; a 3-D scene draws its titles in WebGL, so its layout is read.
      const untitled = Object.keys(layout).filter(k => /^[xy]axis\\d*$/.test(k) && layout[k].visible !== false
          && layout[k].showticklabels !== false)
        .filter(k => !(c.querySelector(`.g-${k.replace('axis', '')}title text`) || {}).textContent);
      for (const scene of Object.keys(layout).filter(k => /^scene\\d*$/.test(k)))
        for (const a of ['xaxis', 'yaxis', 'zaxis'])
          if (!(((c.layout[scene] || {})[a] || {}).title || {}).text) untitled.push(`${scene}.${a}`);
      const cut = [...c.querySelectorAll('svg text')].filter(t => t.textContent.trim())
        .filter(t => { const r = t.getBoundingClientRect(); return r.width > 0 && !inside(r, cbox); })
        .map(t => t.textContent);
      return {id: c.id, svg: c.querySelectorAll('svg.main-svg').length, untitled, cut};
    });
    return {title: s.querySelector('h2').textContent, height: box.height, out, tables, charts};
  });
  return {viewport: window.innerWidth, scrollWidth: document.documentElement.scrollWidth, sections,
          parts: [...document.querySelectorAll('.part h1')].map(h => h.textContent)};
})()"""
#: The width the report must fit (a common laptop screen).
PAGE_WIDTH = 1280


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


def render_in_chromium(page: Path, screenshot: Path) -> tuple[list[dict], list[str], list[str], dict]:
    """The page loaded at :data:`PAGE_WIDTH`: its charts, console errors, requests and layout."""
    chromium = find_chromium()
    assert chromium, "chromium not installed: `make browser` (Debian: apt-get install chromium) — the report test needs it"
    with Browser(chromium, width=PAGE_WIDTH) as browser:
        browser.open(page.resolve().as_uri())
        charts = browser.evaluate(CHARTS_JS)
        layout = browser.evaluate(LAYOUT_JS)
        browser.screenshot(screenshot)
        return charts, browser.console_errors(), browser.requests(), layout


def assert_fits_and_drawn(layout: dict, titles: list[str]) -> None:
    """Every section present and drawn, nothing sticking out at the page's width, every table in a frame that
    scrolls sideways, every chart axis titled and no chart text cut off."""
    assert layout["viewport"] == PAGE_WIDTH and layout["scrollWidth"] <= PAGE_WIDTH, layout["scrollWidth"]
    assert [s["title"] for s in layout["sections"]] == titles
    for section in layout["sections"]:
        assert section["height"] > 0 and section["out"] == [], section
        assert all(table["framed"] for table in section["tables"]), section
        if section["title"] not in SECTIONS_WITHOUT_CHARTS:
            assert section["charts"], section["title"]
        for chart in section["charts"]:
            assert chart["svg"] > 0 and chart["untitled"] == [] and chart["cut"] == [], (section["title"], chart)


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
    # Named as a reader knows them: a category share by its category's name.
    for (feature,) in published_build.query("""
            select coalesce('share of basket in ' || categories.category_name, importance.feature)
            from segment_classifier_feature_importance as importance
            left join (select distinct category_id, category_name from product_categories) as categories
                on importance.feature = 'category_share_' || categories.category_id
            where importance.importance_rank = 1"""):
        assert plotly_json(feature) in bodies["What the first purchase tells (permutation importance)"]
    for method, origin in published_build.query("select method, strftime(origin_date, '%Y-%m-%d') "
                                                "from forecast_backtest_evaluation"):
        assert f"<td>{origin}</td><td>{method}</td>" in bodies["Forecast backtest"]


def test_report_shows_the_published_figures(full_report, published_build):
    page = full_report.read_text()
    customers, orders = published_build.query("select count(*), sum(frequency) from customer_rfm")[0]
    assert f"<div class='value'>{customers:,}</div>" in page
    assert f"<div class='value'>{orders:,}</div>" in page
    for name, actions in published_build.query("select segment_name, suggested_actions from segment_profiles"):
        assert f"<td>{name}</td>" in page and actions in page


def test_marketer_sections_first_then_the_appendix(full_report, published_build):
    page = full_report.read_text()
    titles = section_titles(page)
    notes = ["What this build skipped"] if published_build.scalar("select count(*) from build_notes") else []
    marketer = [*MARKETER_SECTIONS[:2], *notes, *MARKETER_SECTIONS[2:]]
    assert titles[:len(marketer)] == marketer
    # The appendix heading stands between the marketer's last section and the first diagnostics section.
    assert page.count("<h1>") == 2 and page.count(f"<h1>{APPENDIX}</h1>") == 1
    heading = page.index(f"<h1>{APPENDIX}</h1>")
    assert page.index(f"<h2>{marketer[-1]}</h2>") < heading < page.index(f"<h2>{titles[len(marketer)]}</h2>")
    assert set(titles[len(marketer):]) == set(LATER_SECTIONS) - set(MARKETER_SECTIONS) | {"Customers in feature space"}
    # The contents at the top link every section.
    assert re.findall(r"<a href='#section-(\d+)'>", page) == [str(i) for i in range(1, len(titles) + 1)]


def money_amounts(text: str) -> list[str]:
    return re.findall(r"-?£[\d,]+(?:\.\d+)?", text)


def test_money_counts_and_segments_as_a_person_reads_them(full_report, published_build):
    page = full_report.read_text()
    bodies = section_bodies(page)
    net_revenue, orders = published_build.query("select net_revenue, orders from build_headline")[0]
    assert f"<div class='value'>{formats.money(net_revenue)}</div>" in bodies["Headline figures"]
    # Money in the marketer's sections: the currency and two decimals; counts without decimals.
    for title in MARKETER_SECTIONS:
        amounts = money_amounts(bodies[title])
        assert all(re.fullmatch(r"-?£\d{1,3}(,\d{3})*\.\d\d", a) for a in amounts), (title, amounts)
        assert not re.search(r"<td>[\d,]+\.0+</td>", bodies[title]), title
    # Segments in value order (net revenue per customer), with their sizes and revenue.
    segments = published_build.query("select segment_name, customers, net_revenue from segment_profiles "
                                     "order by net_revenue / customers desc, segment_id")
    shown = re.findall(r"<tr><td>([^<]+)</td><td>([\d,]+)</td><td>[\d.]+%</td><td>([^<]+)</td>",
                       bodies["Segment sizes and revenue"])
    assert shown == [(html.escape(n), f"{c:,}", formats.money(r)) for n, c, r in segments]
    # The monthly trend adds up to the build's net revenue and orders (cancellations in their month).
    months = re.findall(r"<tr><td>[A-Z][a-z]{2} \d{4}</td><td>(-?£[\d,.]+)</td><td>([\d,]+)</td><td>[\d,]+</td></tr>",
                        bodies["Monthly trend per segment"])
    assert len(months) == published_build.scalar("select count(distinct invoice_month) from customer_orders")
    total = sum(Decimal(m.replace("£", "").replace(",", "")) for m, _ in months)
    assert abs(total - net_revenue) <= Decimal("0.005") * len(months)
    assert sum(int(o.replace(",", "")) for _, o in months) == orders
    # Categories by name, box plots from quartiles (their statistics, not every customer's values).
    assert "category_share_" not in page
    assert '"lowerfence"' in bodies["Recency, frequency and monetary by segment"]


def test_actions_name_each_segments_export_files_and_top_customers(full_report, published_build, tmp_path):
    body = section_bodies(full_report.read_text())["What to do with each segment"]
    written = {path.name for path in write_exports(published_build.db_path, tmp_path, key=None)}
    assert "raw customer numbers" in body and "<th>Customer id (raw customer number)</th>" in body
    blocks = body.split("<div class='segment-actions'")[1:]
    segments = published_build.query("select segment_id, segment_name, suggested_actions from segment_profiles "
                                     "order by net_revenue / customers desc, segment_id")
    assert len(blocks) == len(segments)
    for block, (segment_id, name, actions) in zip(blocks, segments):
        stem = file_stem(segment_id, name)
        assert f"<h3>{html.escape(name)}</h3>" in block and html.escape(actions) in block
        assert f"<code>exports/{stem}.csv</code>" in block and {f"{stem}.csv", f"{stem}.parquet"} <= written
        top = [str(i) for (i,) in published_build.query(
            f"select customer_id from customer_segments inner join customer_rfm using (customer_id) "
            f"where segment_id = {segment_id} order by customer_rfm.monetary desc, customer_id limit 5")]
        assert re.findall(r"<tr><td>(\d+)</td>", block) == top
        exported = pd.read_csv(tmp_path / f"{stem}.csv")
        id_column = next(c for c in exported.columns if c.startswith("customer_id"))
        assert set(top) <= set(exported[id_column].astype(str))


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
    charts, errors, requests, layout = render_in_chromium(page, screenshot)
    assert errors == []
    assert requests == [], "the page must not fetch anything"
    assert_every_chart_rendered(page, charts)
    assert_fits_and_drawn(layout, section_titles(page.read_text()))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 50_000
    keep_for_a_person(screenshot, f"test_{which}.png")


def test_browser_check_catches_errors_and_network_use(tmp_path):
    """The checks above can fail: a script error, a console.error and a remote fetch are all caught."""
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><div id=\"chart-1\" class=\"js-plotly-plot\"></div>"
                      "<script>console.error('boom'); undefined_function();</script>"
                      "<img src='https://example.invalid/pixel.png'></body></html>")
    charts, errors, requests, _ = render_in_chromium(broken, tmp_path / "broken.png")
    assert any("boom" in e for e in errors) and any("undefined_function" in e for e in errors)
    assert requests == ["https://example.invalid/pixel.png"]
    with pytest.raises(AssertionError):
        assert_every_chart_rendered(broken, charts)


def test_layout_checks_catch_what_sticks_out_untitled_axes_and_fetches(tmp_path):
    """The layout checks can fail: a block wider than the page, a table outside a scrolling frame, a chart
    with untitled axes and a label cut off at its edge are all caught, and the report's content security
    policy turns a fetch into a console error."""
    page = tmp_path / "sticks_out.html"
    page.write_text(
        f"<html><head><meta http-equiv='Content-Security-Policy' content=\"{CONTENT_SECURITY_POLICY}\">"
        f"<script>{plotly.offline.get_plotlyjs()}</script></head><body>"
        "<section><h2>Wide</h2><div style='width: 2000px'>wide</div><table><tr><td>bare</td></tr></table></section>"
        "<section><h2>Chart</h2><div id='chart-1' style='width: 600px'></div></section><script>"
        "Plotly.newPlot('chart-1', [{type: 'bar', orientation: 'h', x: [1], y: ['a category name far too long']}],"
        " {margin: {l: 0}, yaxis: {automargin: false}});"
        "fetch('https://example.invalid/data.json').catch(() => null);</script></body></html>")
    _, errors, _, layout = render_in_chromium(page, tmp_path / "sticks_out.png")
    assert any("Content Security Policy" in e and "example.invalid" in e for e in errors), errors
    assert layout["scrollWidth"] > PAGE_WIDTH
    wide, chart = layout["sections"]
    assert wide["out"] == ["div."] and [table["framed"] for table in wide["tables"]] == [False]
    assert chart["charts"][0]["untitled"] == ["xaxis", "yaxis"]
    assert chart["charts"][0]["cut"] == ["a category name far too long"]
    with pytest.raises(AssertionError):
        assert_fits_and_drawn(layout, ["Wide", "Chart"])


@pytest.mark.real_data
def test_report_on_the_real_data(real_build, tmp_path):
    served = publish(shutil.copyfile(real_build.db_path, tmp_path / "working.duckdb"), tmp_path / "served.duckdb")
    page = write_report(served, tmp_path / "customer_segments.html")
    charts, errors, requests, layout = render_in_chromium(page, tmp_path / "real.png")
    assert errors == []
    assert requests == []
    titles = section_titles(page.read_text())
    assert set(titles) == set(CORE_SECTIONS) | set(LATER_SECTIONS)
    assert titles[:len(MARKETER_SECTIONS)] == list(MARKETER_SECTIONS) and layout["parts"] == [APPENDIX]
    assert_every_chart_rendered(page, charts)
    assert_fits_and_drawn(layout, titles)
    keep_for_a_person(tmp_path / "real.png", "test_real_report.png")
