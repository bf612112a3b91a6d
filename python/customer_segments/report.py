"""One self-contained, offline HTML report built only from the published database.

What BI users see is what the report shows: every figure is read from the published DuckDB file,
opened read-only. Plotly's JavaScript is inlined once (no CDN, nothing fetched when the page opens;
no map traces, which would fetch map tiles). Each section is drawn only when its tables exist, so the
report grows with the project (k selection, algorithm comparison, product categories, prediction and
forecast tables come from later builds) and never fails on an older database.

Usage::

    python -m customer_segments.report [--db customer_segments.duckdb] [--out reports/customer_segments.html]
"""

from __future__ import annotations

import html
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
import plotly.offline
from plotly.subplots import make_subplots

from customer_segments.publish import connect_published, run_reader_cli

DEFAULT_OUT = Path("reports/customer_segments.html")
#: Customers drawn in the 3-D scatter: enough to see the shapes, small enough for any browser.
SCATTER_MAX_CUSTOMERS = 6000
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
        self.tables = {row[0] for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
        self._charts = 0

    def has(self, *tables: str) -> bool:
        return all(table in self.tables for table in tables)

    def df(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def chart(self, figure: go.Figure, height: int = 420) -> str:
        """The figure as an HTML fragment using the page's inlined Plotly; stable ids, same HTML each run."""
        self._charts += 1
        figure.update_layout(height=height, margin={"l": 60, "r": 30, "t": 50, "b": 50}, template="plotly_white")
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


def first_column(frame: pd.DataFrame, *candidates: str) -> str | None:
    """The first of ``candidates`` that is a column of ``frame`` (tables from other builds may vary)."""
    return next((c for c in candidates if c in frame.columns), None)


# ---------------------------------------------------------------- sections on the core tables

def headline(report: Report) -> Section | None:
    if not report.has("customer_rfm", "segment_profiles"):
        return None
    figures = report.df("""
        select
            count(*) as customers,
            sum(monetary) as net_revenue,
            sum(frequency) as orders,
            sum(monetary) / sum(frequency) as average_order_value,
            min(first_purchase_at) as first_purchase_at,
            max(last_purchase_at) as last_purchase_at,
            count(distinct country) as countries
        from customer_rfm
    """).iloc[0]
    segments = report.df("select count(*) as n, sum(customers) as customers from segment_profiles").iloc[0]
    cards = [
        ("Customers", f"{int(figures.customers):,}"),
        ("Net revenue", f"£{float(figures.net_revenue):,.0f}"),
        ("Orders", f"{int(figures.orders):,}"),
        ("Average order value", f"£{float(figures.average_order_value):,.2f}"),
        ("Segments", f"{int(segments.n)} ({int(segments.customers):,} customers with net spend > 0)"),
        ("Countries", f"{int(figures.countries)}"),
        ("Period", f"{figures.first_purchase_at:%d %b %Y} – {figures.last_purchase_at:%d %b %Y}"),
    ]
    if report.has("line_accounting"):
        lines = report.df("select sum(input_lines) as total, sum(input_lines) filter (where is_kept) as kept "
                          "from line_accounting").iloc[0]
        cards.append(("Input lines", f"{int(lines.total):,} ({int(lines.kept) / int(lines.total):.1%} used)"))
    body = "".join(f"<div class='card'><div class='label'>{html.escape(label)}</div>"
                   f"<div class='value'>{html.escape(value)}</div></div>" for label, value in cards)
    return Section("Headline figures", parts=[f"<div class='cards'>{body}</div>"])


def segment_sizes(report: Report) -> Section | None:
    if not report.has("segment_profiles"):
        return None
    profiles = report.df("select segment_name, share_of_customers, share_of_net_revenue "
                         "from segment_profiles order by segment_id")
    figure = go.Figure([
        go.Bar(name="Share of customers", x=profiles.segment_name, y=profiles.share_of_customers,
               marker_color="#999999", texttemplate="%{y:.0%}", textposition="outside"),
        go.Bar(name="Share of net revenue", x=profiles.segment_name, y=profiles.share_of_net_revenue.astype(float),
               marker_color="#0072B2", texttemplate="%{y:.0%}", textposition="outside"),
    ])
    figure.update_layout(barmode="group", yaxis_tickformat=".0%", title="Segment sizes and revenue shares")
    return Section("Segment sizes and revenue",
                   "How many customers each segment holds, and how much of the net revenue they bring.",
                   [report.chart(figure)])


def segment_profiles(report: Report) -> Section | None:
    if not report.has("segment_profiles"):
        return None
    profiles = report.df("""
        select
            segment_id as "Id",
            segment_name as "Segment",
            segment_label as "Where the centroid sits",
            customers as "Customers",
            cast(round(net_revenue) as bigint) as "Net revenue (£)",
            median_recency_days as "Median recency (days)",
            median_frequency as "Median orders",
            cast(median_monetary as double) as "Median net spend (£)",
            suggested_actions as "Suggested actions"
        from segment_profiles
        order by segment_id
    """)
    return Section("Segment profiles", "Names and actions come from the segment playbook seed.",
                   [table_html(profiles, float_digits=0)])


def rfm_distributions(report: Report) -> Section | None:
    if not report.has("customer_segments", "segment_profiles"):
        return None
    customers = report.df("""
        select segment_id, segment_name, recency_days, frequency, cast(monetary as double) as monetary
        from customer_segments
        order by segment_id, customer_id
    """)
    colours = report.segment_colours()
    figure = make_subplots(rows=1, cols=3, subplot_titles=(
        "Recency (days since last order)", "Frequency (orders, log scale)", "Net spend (£, log scale)"))
    for name, group in customers.groupby("segment_name", sort=False):
        for col, feature in enumerate(("recency_days", "frequency", "monetary"), start=1):
            figure.add_trace(go.Box(y=group[feature], name=name, marker_color=colours.get(name),
                                    legendgroup=name, showlegend=col == 1, boxpoints=False), row=1, col=col)
    figure.update_yaxes(type="log", row=1, col=2)
    figure.update_yaxes(type="log", row=1, col=3)
    figure.update_xaxes(showticklabels=False)
    return Section("Recency, frequency and monetary by segment",
                   "Box plots of each customer's features (the box holds the middle half of the segment).",
                   [report.chart(figure, height=460)])


def scatter_3d(report: Report) -> Section | None:
    if not report.has("customer_segments", "segment_profiles"):
        return None
    # A fixed-seed sample keeps the page light on big data; below the cap every customer is drawn.
    customers = report.df(f"""
        select customer_id, segment_name, z_recency_days, z_frequency, z_monetary
        from customer_segments
        using sample reservoir({SCATTER_MAX_CUSTOMERS} rows) repeatable (42)
    """).sort_values("customer_id")
    colours = report.segment_colours()
    figure = go.Figure([
        go.Scatter3d(x=group.z_recency_days, y=group.z_frequency, z=group.z_monetary, name=name, mode="markers",
                     marker={"size": 2.5, "color": colours.get(name), "opacity": 0.7},
                     text=group.customer_id.astype(str), hovertemplate="customer %{text}<extra>" + html.escape(name) + "</extra>")
        for name, group in customers.groupby("segment_name", sort=False)
    ])
    figure.update_layout(scene={"xaxis_title": "recency (z)", "yaxis_title": "frequency (z)", "zaxis_title": "net spend (z)"},
                         title="Customers in standardized log R/F/M space", legend={"itemsizing": "constant"})
    return Section("Customers in feature space",
                   f"Each dot is a customer (at most {SCATTER_MAX_CUSTOMERS:,}, a fixed-seed sample), on the "
                   "standardized log features K-means clusters. Drag to rotate.",
                   [report.chart(figure, height=620)])


def country_mix(report: Report) -> Section | None:
    if not report.has("customer_segments", "customer_rfm", "segment_profiles"):
        return None
    mix = report.df("""
        with by_country as (
            select customer_rfm.country, customer_segments.segment_id, customer_segments.segment_name,
                   count(*) as customers
            from customer_segments
            inner join customer_rfm on customer_segments.customer_id = customer_rfm.customer_id
            group by all
        ),
        top_countries as (
            select country from by_country group by country order by sum(customers) desc, country limit 12
        )
        select by_country.*, customers / sum(customers) over (partition by country) as share
        from by_country
        inner join top_countries using (country)
        order by segment_id, country
    """)
    order = mix.groupby("country").customers.sum().sort_values(ascending=False).index.tolist()
    colours = report.segment_colours()
    figure = go.Figure([
        go.Bar(name=name, x=group.country, y=group.share, marker_color=colours.get(name),
               customdata=group.customers, hovertemplate="%{x}: %{y:.0%} (%{customdata} customers)")
        for name, group in mix.groupby("segment_name", sort=False)
    ])
    figure.update_layout(barmode="stack", yaxis_tickformat=".0%", xaxis={"categoryorder": "array", "categoryarray": order},
                         title="Segment mix in the 12 countries with most customers")
    counts = mix.groupby("country", sort=False).customers.sum().reindex(order).reset_index()
    counts.columns = ["Country", "Customers"]
    return Section("Country mix", "Do customers abroad behave differently? Countries ordered by customers.",
                   [report.chart(figure), table_html(counts)])


# ---------------------------------------------------------------- sections on tables of later builds

def k_selection(report: Report) -> Section | None:
    if not report.has("segment_k_selection"):
        return None
    frame = report.df("select * from segment_k_selection order by 1")
    k = first_column(frame, "k", "n_clusters")
    parts = []
    if k:
        metrics = [c for c in ("inertia", "silhouette", "calinski_harabasz", "davies_bouldin") if c in frame.columns]
        if metrics:
            figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics)
            for col, metric in enumerate(metrics, start=1):
                figure.add_trace(go.Scatter(x=frame[k], y=frame[metric], mode="lines+markers", name=metric,
                                            showlegend=False), row=1, col=col)
            chosen = first_column(frame, "is_chosen", "chosen", "is_selected", "selected")
            if chosen:
                for value in frame.loc[frame[chosen].astype(bool), k]:
                    figure.add_vline(x=value, line_dash="dot", line_color="#D55E00")
            figure.update_layout(title="Choosing k: elbow and cluster-quality scores (dotted: chosen k)")
            parts.append(report.chart(figure))
    parts.append(table_html(frame))
    return Section("Choosing the number of segments", "From table segment_k_selection.", parts)


def algorithm_comparison(report: Report) -> Section | None:
    if not report.has("segment_algorithm_comparison"):
        return None
    frame = report.df("select * from segment_algorithm_comparison")
    name = first_column(frame, "algorithm", "method", "model")
    parts = []
    metrics = [c for c in ("silhouette", "adjusted_rand_index", "bootstrap_mean_ari", "stability_ari") if c in frame.columns]
    if name and metrics:
        label = frame[name].astype(str)
        for extra in ("feature_set", "transform"):
            if extra in frame.columns:
                label = label + " · " + frame[extra].astype(str)
        figure = go.Figure([go.Bar(name=m, x=label, y=frame[m]) for m in metrics])
        figure.update_layout(barmode="group", title="Algorithms compared")
        parts.append(report.chart(figure))
    parts.append(table_html(frame))
    return Section("Algorithm comparison", "From table segment_algorithm_comparison.", parts)


def feature_importance(report: Report, table: str, title: str) -> Section | None:
    if not report.has(table):
        return None
    frame = report.df(f"select * from {table}")
    feature = first_column(frame, "feature", "feature_name")
    value = first_column(frame, "importance", "importance_mean", "f_statistic", "anova_f", "score")
    parts = []
    if feature and value:
        group = first_column(frame, "model", "method")
        traces = frame.groupby(group, sort=False) if group else [(value, frame)]
        figure = go.Figure([go.Bar(name=str(key), y=part[feature], x=part[value], orientation="h")
                            for key, part in traces])
        figure.update_layout(barmode="group", title=title, yaxis={"autorange": "reversed"})
        parts.append(report.chart(figure, height=max(320, 28 * frame[feature].nunique() + 120)))
    parts.append(table_html(frame))
    return Section(title, f"From table {table}.", parts)


def segment_purchases(report: Report) -> Section | None:
    if not report.has("segment_purchases"):
        return None
    frame = report.df("select * from segment_purchases")
    segment = first_column(frame, "segment_name", "segment_id")
    item = first_column(frame, "category_name", "category", "item_name", "description", "stock_code")
    lift = first_column(frame, "lift", "spend_lift")
    parts = []
    if segment and item and lift:
        top = (frame.sort_values([segment, lift], ascending=[True, False]).groupby(segment, sort=False).head(5))
        figure = go.Figure([go.Bar(name=str(key), x=part[lift], y=part[item].astype(str), orientation="h")
                            for key, part in top.groupby(segment, sort=False)])
        figure.update_layout(barmode="group", title="What each segment buys more than others (lift, top 5)")
        figure.add_vline(x=1, line_dash="dot")
        parts.append(report.chart(figure, height=max(420, 22 * len(top) + 120)))
    parts.append(table_html(frame))
    return Section("What each segment buys", "From table segment_purchases: lift > 1 means the segment "
                   "spends a larger share on it than the whole customer base.", parts)


def classifier_performance(report: Report) -> Section | None:
    if not report.has("segment_classifier_evaluation"):
        return None
    frame = report.df("select * from segment_classifier_evaluation")
    model = first_column(frame, "model", "model_name")
    split = first_column(frame, "split", "evaluation")
    metrics = [c for c in ("accuracy", "balanced_accuracy") if c in frame.columns]
    parts = []
    if model and metrics:
        summary = frame.groupby([c for c in (model, split) if c], sort=False)[metrics].first().reset_index()
        label = summary[model].astype(str) + (" · " + summary[split].astype(str) if split else "")
        figure = go.Figure([go.Bar(name=m, x=label, y=summary[m]) for m in metrics])
        figure.update_layout(barmode="group", yaxis_range=[0, 1],
                             title="First purchase → segment: accuracy per model and split")
        parts.append(report.chart(figure))
    parts.append(table_html(frame))
    if report.has("segment_classifier_confusion"):
        parts.append("<h3>Confusion</h3>" + table_html(report.df("select * from segment_classifier_confusion")))
    return Section("Predicting the segment from the first purchase",
                   "From table segment_classifier_evaluation (a majority-class baseline is the bar to beat).", parts)


def purchase_forecast(report: Report) -> Section | None:
    if not report.has("customer_purchase_forecast"):
        return None
    columns = {row[0] for row in report.con.execute(
        "select column_name from information_schema.columns where table_name = 'customer_purchase_forecast'").fetchall()}
    wanted = [c for c in ("expected_purchases_365d", "expected_purchases", "expected_spend_365d", "expected_spend",
                          "probability_alive", "clv") if c in columns]
    parts = []
    if wanted and report.has("customer_segments") and "customer_id" in columns:
        averages = ", ".join(f"avg({c}) as {c}" for c in wanted)
        frame = report.df(f"""
            select customer_segments.segment_id, customer_segments.segment_name, count(*) as customers, {averages}
            from customer_purchase_forecast
            inner join customer_segments using (customer_id)
            group by all order by segment_id
        """)
        figure = make_subplots(rows=1, cols=len(wanted), subplot_titles=[f"mean {c}" for c in wanted])
        colours = report.segment_colours()
        for col, metric in enumerate(wanted, start=1):
            figure.add_trace(go.Bar(x=frame.segment_name, y=frame[metric], showlegend=False,
                                    marker_color=[colours.get(n) for n in frame.segment_name]), row=1, col=col)
        figure.update_layout(title="Next 365 days per segment")
        parts += [report.chart(figure), table_html(frame)]
    else:
        parts.append(table_html(report.df("select * from customer_purchase_forecast limit 50")))
    return Section("Purchase forecast", "From table customer_purchase_forecast (BG/NBD and Gamma-Gamma).", parts)


SECTIONS: tuple[Callable[[Report], Section | None], ...] = (
    headline,
    segment_sizes,
    segment_profiles,
    rfm_distributions,
    scatter_3d,
    k_selection,
    algorithm_comparison,
    lambda r: feature_importance(r, "segment_feature_importance", "What separates the segments"),
    country_mix,
    segment_purchases,
    classifier_performance,
    lambda r: feature_importance(r, "segment_classifier_feature_importance",
                                 "What the first purchase tells (permutation importance)"),
    purchase_forecast,
)

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


def render(report: Report, source: str) -> str:
    """The whole page: every section whose tables exist, with Plotly's JavaScript inlined once."""
    sections = [s for s in (make(report) for make in SECTIONS) if s is not None]
    if not sections:
        raise ValueError(f"{source}: no segmentation tables found; build and publish the project first")
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


def write_report(db_path: Path, out_path: Path) -> Path:
    """Read ``db_path`` read-only and write the report to ``out_path`` (directories created)."""
    with connect_published(db_path) as con:
        page = render(Report(con), Path(db_path).name)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    return out_path


def main(argv: list[str] | None = None) -> int:
    return run_reader_cli("Write the offline HTML report from the published database.", DEFAULT_OUT,
                          lambda db, out: f"report written to {write_report(db, out)}", argv)


if __name__ == "__main__":
    sys.exit(main())
