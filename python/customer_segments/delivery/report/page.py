"""The page of the report: sections, the reader of the published tables, HTML tables, charts and the page.

Plotly's JavaScript is inlined once (no CDN, nothing fetched when the page opens); every chart gets a
stable id, so the same database gives the same bytes.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import plotly.graph_objects as go
import plotly.offline

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
        figure.update_traces(cliponaxis=False, selector={"type": "bar"})
        return figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{self._charts}",
                              config=PLOT_CONFIG)

    def segment_colours(self) -> dict[str, str]:
        names = self.df("select segment_id, segment_name from segment_profiles order by segment_id")
        return {row.segment_name: PALETTE[(row.segment_id - 1) % len(PALETTE)] for row in names.itertuples()}


def table_html(frame: pd.DataFrame, max_rows: int = 50, float_digits: int = 3) -> str:
    """An escaped HTML table of the first ``max_rows`` rows (text from the data is never trusted)."""
    shown = frame.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for record in shown.itertuples(index=False):
        cells = []
        for value in record:
            if isinstance(value, float):
                text = f"{value:,.{float_digits}f}"
            elif isinstance(value, int) and not isinstance(value, bool):
                text = f"{value:,}"
            else:
                text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class='note'>First {max_rows} of {len(frame):,} rows.</p>" if len(frame) > max_rows else ""
    return f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>{more}"


STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0; color: #222; background: #fafafa; }
header { background: #3b2a6b; color: white; padding: 24px 40px; }
header p { margin: 4px 0 0; opacity: .85; }
main { max-width: 1280px; margin: 0 auto; padding: 8px 40px 40px; }
section { background: white; border: 1px solid #e4e4e4; border-radius: 8px; padding: 16px 24px; margin: 20px 0; }
h2 { margin: 4px 0 8px; color: #3b2a6b; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 10px 16px; min-width: 150px; }
.card .label { font-size: 12px; text-transform: uppercase; color: #666; }
.card .value { font-size: 20px; font-weight: 600; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border-bottom: 1px solid #eee; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f3f0fa; }
.note { color: #666; font-size: 12px; }
"""


def left_out(report: Report, makers: Sequence[Callable[[Report], Section | None]]) -> tuple[list[Section], Section | None]:
    """The sections whose tables exist, and one section listing those left out for want of a table
    (a prediction model that failed or was not built, a model the build skipped), None when none was."""
    sections, missing = [], []
    for make in makers:
        report.lacking = []
        section = make(report)
        if section is not None:
            sections.append(section)
        elif report.lacking:
            missing.append(f"<li>{html.escape(make.__name__.replace('_', ' ').capitalize())}: "
                           f"{html.escape(', '.join(report.why_lacking(t) for t in report.lacking))}</li>")
    absent = None if not missing else Section(
        "Left out of this report", "These sections need tables that this database does not hold or holds empty "
        "(build_notes says why a model was skipped).", [f"<ul>{''.join(missing)}</ul>"])
    return sections, absent


def render(report: Report, source: str, makers: Sequence[Callable[[Report], Section | None]]) -> str:
    """The whole page: every section whose tables exist, then the list of those left out, with Plotly's
    JavaScript inlined once."""
    sections, absent = left_out(report, makers)
    if not sections:
        raise ValueError(f"{source}: no segmentation tables found; build and publish the project first")
    sections += [absent] if absent is not None else []
    body = "".join(
        f"<section id='section-{i}'><h2>{html.escape(s.title)}</h2>"
        + (f"<p>{html.escape(s.intro)}</p>" if s.intro else "") + "".join(s.parts) + "</section>"
        for i, s in enumerate(sections, start=1)
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Customer segments</title>"
        f"<style>{STYLE}</style><script>{plotly.offline.get_plotlyjs()}</script></head><body>"
        "<header><h1>Customer segments</h1>"
        f"<p>Built from the published database {html.escape(source)}. Works offline.</p></header>"
        f"<main>{body}</main></body></html>"
    )

