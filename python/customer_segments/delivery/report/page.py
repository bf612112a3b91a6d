"""The page of the report: sections, the reader of the published tables, HTML tables, charts and the page.

Plotly's JavaScript is inlined once (no CDN, nothing fetched when the page opens); every chart gets a
stable id, so the same database gives the same bytes.
"""

from __future__ import annotations

import html
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from customer_segments.delivery import formats
from customer_segments.settings import sql_identifier

#: One colour per segment id (1-based), colour-blind safe (Okabe-Ito), repeated past eight segments.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass
class Section:
    """A titled part of the report: an introduction, charts and tables (already HTML)."""

    title: str
    intro: str = ""
    parts: list[str] = field(default_factory=list)


class Report:
    """Reads the published database and turns its tables into sections."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        names = [row[0] for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' order by 1").fetchall()]
        self.relations = set(names)
        # A table without rows is a model the build skipped (build_notes says why): its sections are
        # left out like those of an absent table.
        self.tables = {name for name in names
                       if con.execute(f"select exists (select 1 from {sql_identifier(name)})").fetchall()[0][0]}
        #: The tables asked for by has() and not there (absent or empty), since render last cleared it.
        self.lacking: list[str] = []
        self._charts = 0
        self._segments: pd.DataFrame | None = None

    def has(self, *tables: str) -> bool:
        lacking = [table for table in tables if table not in self.tables]
        self.lacking += [table for table in lacking if table not in self.lacking]
        return not lacking

    def why_lacking(self, table: str) -> str:
        return f"{table} empty (skipped by the build)" if table in self.relations else f"{table} not built"

    def df(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def chart(self, figure: go.Figure, height: int = 420) -> str:
        """The figure as an HTML fragment using the page's inlined Plotly; stable ids, same HTML each run."""
        self._charts += 1
        # A title above subplot titles needs room; labels outside bars may reach past the plot area.
        top = 90 if figure.layout.title.text and figure.layout.annotations else 50
        figure.update_layout(height=height, margin={"l": 60, "r": 30, "t": top, "b": 50}, template="plotly_white")
        # Long tick labels (segment and category names) widen the margins instead of being cut off.
        figure.update_xaxes(automargin=True)
        figure.update_yaxes(automargin=True)
        figure.update_traces(cliponaxis=False, selector={"type": "bar"})
        return figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{self._charts}",
                              config=PLOT_CONFIG)

    def segments(self) -> pd.DataFrame:
        """segment_id, segment_name, customers, net_revenue in value order (:data:`VALUE_ORDER`)."""
        if self._segments is None:
            self._segments = self.df(f"""
                select segment_id, segment_name, customers, net_revenue, net_revenue / customers as revenue_per_customer
                from segment_profiles
                order by {VALUE_ORDER}
            """)
        return self._segments

    def segment_names(self) -> list[str]:
        """Segment names in value order."""
        return list(self.segments().segment_name)

    def in_value_order(self, frame: pd.DataFrame, column: str = "segment_id") -> pd.DataFrame:
        """``frame``'s rows with their segments (by id or name in ``column``) in value order, stable within
        a segment; rows of no segment last."""
        key = "segment_id" if column == "segment_id" else "segment_name"
        rank = {value: i for i, value in enumerate(self.segments()[key])}
        return frame.sort_values(column, key=lambda values: values.map(lambda v: rank.get(v, len(rank))),
                                 kind="stable")

    def segment_colours(self) -> dict[str, str]:
        """One colour per segment name (by segment id, so a segment keeps its colour), in value order."""
        return {row.segment_name: PALETTE[(row.segment_id - 1) % len(PALETTE)]
                for row in self.segments().itertuples()}


#: The one rule that orders segments everywhere on the page: net revenue per customer, highest first.
VALUE_ORDER = "net_revenue / customers desc, segment_id"
VALUE_ORDER_TEXT = "Segments are in order of net revenue per customer, highest first."


def cell_text(value: object, is_money: bool, is_count: bool, float_digits: int) -> str:
    """A table cell as a person reads it (:mod:`customer_segments.delivery.formats`)."""
    if formats.missing(value):
        return ""
    if is_money:
        return formats.money(value)
    if is_count or (isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)):
        return formats.count(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return f"{value:,.{float_digits}f}"
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return f"{value:%Y-%m-%d}"  # a date read as a timestamp
    return str(value)


def table_html(frame: pd.DataFrame, max_rows: int = 50, float_digits: int = 3, money: Sequence[str] = ()) -> str:
    """An escaped HTML table of the first ``max_rows`` rows (text from the data is never trusted), in a frame
    that scrolls sideways when the table is wider than the page.

    Money (the columns in ``money`` and those whose title ends in "(£)") shows as ``£1,234.56``; integers,
    and float columns holding whole numbers only (counts read as doubles), as ``1,234``; other floats
    with ``float_digits`` decimals.
    """
    shown = frame.head(max_rows)
    money_columns = {c for c in shown.columns if c in set(money) or str(c).endswith(f"({formats.CURRENCY})")}
    count_columns = {c for c in shown.columns if c not in money_columns and pd.api.types.is_float_dtype(shown[c])
                     and shown[c].notna().any() and (shown[c].dropna() % 1 == 0).all()}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for record in shown.itertuples(index=False):
        cells = [f"<td>{html.escape(cell_text(value, column in money_columns, column in count_columns, float_digits))}</td>"
                 for column, value in zip(shown.columns, record)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class='note'>First {max_rows} of {len(frame):,} rows.</p>" if len(frame) > max_rows else ""
    return f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>{more}"


STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0; color: #222; background: #fafafa; }
header { background: #3b2a6b; color: white; padding: 24px 40px; }
header p { margin: 4px 0 0; opacity: .85; }
header nav { margin-top: 10px; font-size: 13px; display: flex; flex-wrap: wrap; gap: 4px 14px; }
header nav a { color: white; white-space: nowrap; }
main { max-width: 1280px; margin: 0 auto; padding: 8px 40px 40px; box-sizing: border-box; }
section { background: white; border: 1px solid #e4e4e4; border-radius: 8px; padding: 16px 24px; margin: 20px 0;
          min-width: 0; overflow-wrap: break-word; }
.part { margin: 36px 0 0; padding-top: 12px; border-top: 3px solid #3b2a6b; }
.part h1 { color: #3b2a6b; font-size: 24px; margin: 0 0 4px; }
h2 { margin: 4px 0 8px; color: #3b2a6b; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 10px 16px; min-width: 150px; }
.card .label { font-size: 12px; text-transform: uppercase; color: #666; }
.card .value { font-size: 20px; font-weight: 600; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border-bottom: 1px solid #eee; padding: 4px 10px; text-align: left; vertical-align: top; }
td { max-width: 32em; overflow-wrap: normal; }
th { background: #f3f0fa; }
.note { color: #666; font-size: 12px; }
.segment-actions { border-left: 6px solid #999; padding: 4px 0 4px 14px; margin: 14px 0; }
.segment-actions h3 { margin: 0 0 4px; }
code { background: #f3f0fa; padding: 1px 4px; border-radius: 3px; }
"""

#: Nothing may be fetched: inline scripts and styles, and images drawn in the page (heatmaps are data: URIs).
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                           "img-src data: blob:; font-src data:")


def left_out(report: Report, makers: Sequence[Callable[[Report], Section | None]]) -> tuple[list[Section], list[str]]:
    """The sections whose tables exist, and a list item for each section left out for want of a table
    (a prediction model that failed or was not built, a model the build skipped)."""
    sections, missing = [], []
    for make in makers:
        report.lacking = []
        section = make(report)
        if section is not None:
            sections.append(section)
        elif report.lacking:
            missing.append(f"<li>{html.escape(make.__name__.replace('_', ' ').capitalize())}: "
                           f"{html.escape(', '.join(report.why_lacking(t) for t in report.lacking))}</li>")
    return sections, missing


@dataclass(frozen=True)
class Part:
    """Sections under one heading (none for the first part, which opens the page)."""

    title: str
    intro: str
    makers: Sequence[Callable[[Report], Section | None]]


def render(report: Report, source: str, parts: Sequence[Part]) -> str:
    """The whole page: each part's sections whose tables exist, then the list of those left out, with
    Plotly's JavaScript inlined once and a content security policy that lets the page fetch nothing."""
    drawn, missing = [], []
    for part in parts:
        sections, lacking = left_out(report, part.makers)
        drawn.append((part, sections))
        missing += lacking
    if not any(sections for _, sections in drawn):
        raise ValueError(f"{source}: no segmentation tables found; build and publish the project first")
    if missing:
        drawn.append((Part("", "", ()), [Section(
            "Left out of this report", "These sections need tables that this database does not hold or holds "
            "empty (build_notes says why a model was skipped).", [f"<ul>{''.join(missing)}</ul>"])]))
    body, contents, number = [], [], 0
    for part, sections in drawn:
        if part.title and sections:
            body.append(f"<div class='part' id='part-{len(body) + 1}'><h1>{html.escape(part.title)}</h1>"
                        + (f"<p>{html.escape(part.intro)}</p>" if part.intro else "") + "</div>")
        for s in sections:
            number += 1
            contents.append(f"<a href='#section-{number}'>{html.escape(s.title)}</a>")
            body.append(f"<section id='section-{number}'><h2>{html.escape(s.title)}</h2>"
                        + (f"<p>{html.escape(s.intro)}</p>" if s.intro else "") + "".join(s.parts) + "</section>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CONTENT_SECURITY_POLICY}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Customer segments</title>"
        f"<style>{STYLE}</style><script>{plotly.offline.get_plotlyjs()}</script></head><body>"
        "<header><h1>Customer segments</h1>"
        f"<p>Built from the published database {html.escape(source)}. Works offline.</p>"
        f"<nav>{''.join(contents)}</nav></header>"
        f"<main>{''.join(body)}</main></body></html>"
    )
