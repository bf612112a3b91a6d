"""One self-contained, offline HTML report built only from the published database.

What BI users see is what the report shows: every figure is read from the published DuckDB file,
opened read-only. Plotly's JavaScript is inlined once (no CDN, nothing fetched when the page opens;
no map traces, which would fetch map tiles). Each section is drawn only when its tables exist (k selection,
algorithm comparison, product categories, predictions and the forecast each need their marts), so the
report never fails on a database built by an older version of the project.

Usage::

    python -m customer_segments.delivery.report [--db customer_segments.duckdb] [--out reports/customer_segments.html]
"""

from __future__ import annotations

import html
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
import plotly.offline
from plotly.subplots import make_subplots

from customer_segments.delivery.published import connect_published, run_reader_cli

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
    if report.has("segment_by_country"):
        mix = report.df("""
            with top_countries as (
                select country from segment_by_country
                group by country order by max(country_customers) desc, country limit 12
            )
            select country, segment_id, segment_name, customers, share_of_country_customers as share,
                   lift_vs_all_customers as lift
            from segment_by_country
            inner join top_countries using (country)
            order by segment_id, country
        """)
    else:  # an older build: the same mix from the core tables
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
            select by_country.*, customers / sum(customers) over (partition by country) as share, null as lift
            from by_country
            inner join top_countries using (country)
            order by segment_id, country
        """)
    order = mix.groupby("country").customers.sum().sort_values(ascending=False, kind="stable").index.tolist()
    colours = report.segment_colours()
    figure = go.Figure([
        go.Bar(name=name, x=group.country, y=group.share, marker_color=colours.get(name),
               customdata=group[["customers", "lift"]],
               hovertemplate="%{x}: %{y:.0%} (%{customdata[0]} customers)")
        for name, group in mix.groupby("segment_name", sort=False)
    ])
    figure.update_layout(barmode="stack", yaxis_tickformat=".0%", xaxis={"categoryorder": "array", "categoryarray": order},
                         legend={"traceorder": "normal"},
                         title=f"Segment mix in the {len(order)} countries with most customers")
    counts = mix.pivot_table(index="country", columns="segment_name", values="customers", aggfunc="sum", sort=False)
    counts = counts.reindex(index=order, columns=list(colours)).fillna(0).astype(int)
    counts.insert(0, "Customers", counts.sum(axis=1))
    counts = counts.reset_index().rename(columns={"country": "Country"})
    return Section("Country mix", "Do customers abroad behave differently? Countries ordered by customers; "
                   "the table counts each segment's customers.", [report.chart(figure), table_html(counts)])


# ---------------------------------------------------------------- sections on the segmentation, product and prediction marts

def k_selection(report: Report) -> Section | None:
    if not report.has("segment_k_selection"):
        return None
    frame = report.df("select * from segment_k_selection order by k")
    chosen = frame.loc[frame.is_chosen].iloc[0]
    panels = (("inertia", "Inertia (elbow)"), ("silhouette", "Silhouette ↑"),
              ("calinski_harabasz", "Calinski-Harabasz ↑"), ("davies_bouldin", "Davies-Bouldin ↓"),
              ("bootstrap_mean_ari", "Bootstrap stability (ARI) ↑"), ("smallest_cluster_share", "Smallest segment share"))
    figure = make_subplots(rows=2, cols=3, subplot_titles=[title for _, title in panels],
                           horizontal_spacing=0.08, vertical_spacing=0.16)
    for i, (metric, title) in enumerate(panels):
        row, col = divmod(i, 3)
        error = ({"type": "data", "array": frame.bootstrap_sd_ari, "visible": True}
                 if metric == "bootstrap_mean_ari" else None)
        figure.add_trace(go.Scatter(x=frame.k, y=frame[metric], mode="lines+markers", name=title, showlegend=False,
                                    error_y=error, line_color="#0072B2",
                                    hovertemplate="k=%{x}: %{y:.3f}<extra></extra>"), row=row + 1, col=col + 1)
        figure.add_trace(go.Scatter(x=[chosen.k], y=[chosen[metric]], mode="markers", showlegend=False,
                                    marker={"size": 12, "color": "#D55E00", "symbol": "diamond"},
                                    hovertemplate=f"chosen k={chosen.k}: %{{y:.3f}}<extra></extra>"),
                         row=row + 1, col=col + 1)
    figure.update_xaxes(dtick=1, title_text="k", row=2)
    figure.update_yaxes(tickformat=".0%", row=2, col=3)
    figure.update_layout(title=f"Choosing k: chosen k = {chosen.k} (orange diamond), elbow at k = {chosen.elbow_k}")
    table = frame[["k", "inertia", "silhouette", "calinski_harabasz", "davies_bouldin", "bootstrap_mean_ari",
                   "smallest_cluster_share", "cluster_sizes", "is_chosen"]]
    how = "by the selection rule" if chosen.chosen_by == "rule" else "by var n_segments"
    return Section("Choosing the number of segments",
                   f"K-means on {chosen.features} ({chosen['transform']}) of {int(chosen.customers):,} customers. "
                   f"k = {chosen.k} was chosen {how}: {chosen.selection_reason}.",
                   [report.chart(figure, height=560), table_html(table)])


def algorithm_comparison(report: Report) -> Section | None:
    if not report.has("segment_algorithm_comparison"):
        return None
    frame = report.df("select * from segment_algorithm_comparison order by not is_production, algorithm")
    label = frame.algorithm + " (" + frame.n_clusters.astype(str) + " clusters)"
    metrics = [("silhouette", "Silhouette"), ("bootstrap_mean_ari", "Bootstrap stability (ARI)"),
               ("noise_share", "Noise share"), ("smallest_cluster_share", "Smallest cluster share")]
    if frame.ari_planted_groups.notna().any():  # generated data: agreement with the planted groups
        metrics.insert(1, ("ari_planted_groups", "ARI vs planted groups"))
    colours = ("#0072B2", "#009E73", "#E69F00", "#D55E00", "#999999")
    figure = go.Figure([
        go.Bar(name=title, x=label, y=frame[metric], marker_color=colour, texttemplate="%{y:.2f}",
               textposition="outside", hovertemplate=title + " %{x}: %{y:.3f}<extra></extra>")
        for (metric, title), colour in zip(metrics, colours)
    ])
    figure.update_layout(barmode="group", yaxis_range=[0, 1.1],
                         title=f"Algorithms on the same features (k = {frame.k.iloc[0]} where the method takes one)")
    table = frame[["algorithm", "is_production", "parameters", "n_clusters", "noise_share", "silhouette",
                   "calinski_harabasz", "davies_bouldin", "ari_planted_groups", "bootstrap_mean_ari",
                   "bootstrap_sd_ari", "cluster_sizes"]].dropna(axis=1, how="all")
    parts = [report.chart(figure), table_html(table)]
    if report.has("segment_feature_set_comparison"):
        sets = report.df("""
            select rank, feature_set, transform, features, silhouette, ari_planted_groups, bootstrap_mean_ari,
                   smallest_cluster_share, verdict, is_best, is_production
            from segment_feature_set_comparison order by rank
        """).dropna(axis=1, how="all")
        parts.append("<h3>Feature sets and transforms (K-means, same k)</h3>"
                     "<p class='note'>Silhouettes are measured in each configuration's own space, so they do not "
                     "compare across transforms; the rank puts usable configurations first.</p>" + table_html(sets))
    return Section("Algorithm comparison",
                   "The production K-means next to Ward, a Gaussian mixture and two density methods. "
                   "Stability: agreement of refits on fixed-seed subsamples (1 = the same segments every time).",
                   parts)


def segment_drivers(report: Report) -> Section | None:
    if not report.has("segment_feature_importance", "segment_profiles"):
        return None
    frame = report.df("""
        select importance.*, profiles.segment_name
        from segment_feature_importance as importance
        inner join segment_profiles as profiles using (segment_id)
        order by segment_id, feature
    """)
    features = list(dict.fromkeys(frame.sort_values("anova_f", ascending=False, kind="stable").feature))
    names = list(dict.fromkeys(frame.segment_name))
    effect = frame.pivot(index="segment_name", columns="feature", values="effect_size").reindex(index=names, columns=features)
    limit = float(effect.abs().max().max()) or 1.0
    figure = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.2,
                           subplot_titles=("Effect size per segment (Cohen's d vs other customers)",
                                           "How much each feature separates all segments"))
    figure.add_trace(go.Heatmap(z=effect.values, x=features, y=names, zmin=-limit, zmax=limit, colorscale="RdBu_r",
                                text=effect.map(lambda v: f"{v:+.2f}").values, texttemplate="%{text}",
                                colorbar={"title": "d", "x": 0.5, "len": 0.9},
                                hovertemplate="%{y} · %{x}: d = %{z:.2f}<extra></extra>"), row=1, col=1)
    overall = frame.drop_duplicates("feature").set_index("feature").reindex(features)
    for column, title, colour in (("eta_squared", "η² (variance explained)", "#0072B2"),
                                  ("surrogate_tree_importance", "surrogate tree importance", "#E69F00")):
        figure.add_trace(go.Bar(x=features, y=overall[column], name=title, marker_color=colour,
                                texttemplate="%{y:.2f}", textposition="outside"), row=1, col=2)
    figure.update_yaxes(autorange="reversed", row=1, col=1)
    figure.update_yaxes(range=[0, 1.15], row=1, col=2)
    figure.update_layout(barmode="group", legend={"orientation": "h", "x": 0.62, "y": -0.15})
    drivers = frame.loc[frame.is_top_driver].sort_values("segment_id")
    lines = "".join(
        f"<li><b>{html.escape(row.segment_name)}</b>: {html.escape(row.feature)} "
        f"{'higher' if row.effect_size > 0 else 'lower'} than other customers (d = {row.effect_size:+.2f})</li>"
        for row in drivers.itertuples())
    fidelity = overall.surrogate_tree_fidelity.iloc[0]
    return Section("What separates the segments",
                   "Red: the segment's customers have higher values than the others, blue: lower (for recency, "
                   f"higher = longer ago). A depth-{int(overall.surrogate_tree_depth.iloc[0])} decision tree "
                   f"reproduces {fidelity:.0%} of the segment assignments.",
                   [report.chart(figure, height=max(380, 60 * len(names) + 160)),
                    f"<p>What drives each segment most:</p><ul>{lines}</ul>"])


def segment_purchases(report: Report) -> Section | None:
    if not report.has("segment_purchases"):
        return None
    frame = report.df("select * from segment_purchases order by segment_id, item_type, spend_rank, item_key")
    names = list(dict.fromkeys(frame.segment_name))
    categories = frame.loc[frame.item_type == "category"]
    # Categories that matter to someone: the biggest by spend, at most 15, in order of base spend.
    order = (categories.groupby("item_name").share_of_base_spend.first()
             .sort_values(ascending=False, kind="stable").head(15).index.tolist())
    lift = categories.pivot(index="item_name", columns="segment_name", values="spend_lift").reindex(index=order, columns=names)
    share = categories.pivot(index="item_name", columns="segment_name",
                             values="share_of_segment_spend").reindex(index=order, columns=names)
    log_lift = lift.map(lambda v: float("nan") if pd.isna(v) or v <= 0 else math.log2(v))
    limit = max(float(log_lift.abs().max().max()), 0.5)
    figure = go.Figure(go.Heatmap(
        z=log_lift.values, x=names, y=order, zmin=-limit, zmax=limit, colorscale="RdBu_r", customdata=share.values,
        text=lift.map(lambda v: "" if pd.isna(v) else f"{v:.2f}×").values, texttemplate="%{text}",
        colorbar={"title": "lift", "tickvals": [-1, 0, 1], "ticktext": ["½×", "1×", "2×"]},
        hovertemplate="%{x} · %{y}<br>spend lift %{text}, %{customdata:.1%} of the segment's spend<extra></extra>"))
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(title=f"Spend lift per product category (the {len(order)} biggest categories)",
                         margin={"l": 240})
    products = frame.loc[(frame.item_type == "product") & (frame.spend_lift > 1)]
    top = (products.sort_values(["segment_id", "spend_lift"], ascending=[True, False], kind="stable")
           .groupby("segment_id", sort=False).head(3))
    table = top[["segment_name", "item_name", "net_spend", "share_of_segment_spend", "segment_penetration",
                 "spend_lift"]].rename(columns={
                     "segment_name": "Segment", "item_name": "Product", "net_spend": "Net spend (£)",
                     "share_of_segment_spend": "Share of segment spend", "segment_penetration": "Customers buying it",
                     "spend_lift": "Spend lift"})
    table["Net spend (£)"] = table["Net spend (£)"].astype(float).round().astype(int)
    return Section("What each segment buys",
                   "Spend lift = the share of the segment's money that goes to an item / the same share for all "
                   "customers: above 1× (red) the segment favours it, below 1× (blue) it buys less of it.",
                   [report.chart(figure, height=max(420, 30 * len(order) + 160)),
                    "<h3>Products each segment favours (among its top products by spend, lift > 1)</h3>"
                    + table_html(table)])


def classifier_performance(report: Report) -> Section | None:
    if not report.has("segment_classifier_evaluation"):
        return None
    overall = report.df("""
        select model_name, evaluation, split, cast(customers as bigint) as customers, accuracy, balanced_accuracy,
               macro_f1
        from segment_classifier_evaluation
        where metric_scope = 'overall'
        order by model_name = 'majority_baseline' desc, model_name, evaluation desc, split
    """)
    where = {("time_split", "test"): "time split · later customers", ("cross_validation", "test"): "5-fold cross-validation",
             ("time_split", "train"): "time split · training (in-sample)"}
    overall["where"] = [where.get((e, s), f"{e} · {s}") for e, s in zip(overall.evaluation, overall.split)]
    colours = {"majority_baseline": "#999999", "logistic_regression": "#0072B2", "hist_gradient_boosting": "#E69F00"}
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Balanced accuracy", "Macro F1"))
    for col, metric in enumerate(("balanced_accuracy", "macro_f1"), start=1):
        for model, part in overall.groupby("model_name", sort=False):
            figure.add_trace(go.Bar(name=model, x=part["where"], y=part[metric], legendgroup=model, showlegend=col == 1,
                                    marker_color=colours.get(model), texttemplate="%{y:.2f}", textposition="outside",
                                    customdata=part.customers,
                                    hovertemplate=model + " · %{x}: %{y:.3f} (%{customdata} customers)<extra></extra>"),
                             row=1, col=col)
    figure.update_yaxes(range=[0, 1.1])
    figure.update_layout(barmode="group", title="Segment predicted from the first purchase, against the majority baseline (grey)",
                         legend={"orientation": "h", "y": -0.15})
    parts = [report.chart(figure, height=460), table_html(overall.drop(columns="where"))]
    if report.has("segment_classifier_confusion"):
        parts.append(confusion_matrices(report, overall))
    return Section("Predicting the segment from the first purchase",
                   "Can a customer's segment be told from their first invoice alone? Each classifier is compared "
                   "with always predicting the most common segment; the time-split test customers (first purchase "
                   "after the cutoff) are the honest estimate for new customers.", parts)


def confusion_matrices(report: Report, overall: pd.DataFrame) -> str:
    """Heatmaps of actual vs predicted segment for the best classifier (the saved one when there is one)."""
    if report.has("segment_classifier_model"):
        model = report.df("select model_name from segment_classifier_model").model_name.iloc[0]
    else:
        honest = overall.loc[(overall.model_name != "majority_baseline") & (overall.split == "test")]
        model = honest.sort_values("balanced_accuracy", ascending=False, kind="stable").model_name.iloc[0]
    frame = report.df(f"""
        select evaluation, actual_segment_id, actual_segment_name, predicted_segment_id, predicted_segment_name,
               customers, share_of_actual_segment
        from segment_classifier_confusion
        where model_name = '{model.replace("'", "''")}' and split = 'test'
        order by evaluation, actual_segment_id, predicted_segment_id
    """)
    evaluations = list(dict.fromkeys(frame.evaluation))
    figure = make_subplots(rows=1, cols=len(evaluations), horizontal_spacing=0.2,
                           subplot_titles=[f"{where}: {int(frame.loc[frame.evaluation == e].customers.sum()):,} customers"
                                           for e, where in ((e, e.replace("_", " ")) for e in evaluations)])
    for col, evaluation in enumerate(evaluations, start=1):
        part = frame.loc[frame.evaluation == evaluation]
        share = part.pivot(index="actual_segment_name", columns="predicted_segment_name", values="share_of_actual_segment")
        count = part.pivot(index="actual_segment_name", columns="predicted_segment_name", values="customers")
        names = list(dict.fromkeys(part.actual_segment_name))
        share, count = share.reindex(index=names, columns=names), count.reindex(index=names, columns=names)
        figure.add_trace(go.Heatmap(z=share.fillna(0).values, x=names, y=names, zmin=0, zmax=1, colorscale="Blues",
                                    showscale=col == 1, colorbar={"title": "share", "tickformat": ".0%"},
                                    text=count.fillna(0).astype(int).values, texttemplate="%{text}",
                                    hovertemplate="actual %{y} → predicted %{x}: %{text} customers (%{z:.0%})<extra></extra>"),
                         row=1, col=col)
        figure.update_xaxes(title_text="predicted", row=1, col=col)
    figure.update_yaxes(autorange="reversed", title_text="actual")
    figure.update_layout(title=f"Confusion matrices of {model} (counts; colour = share of the actual segment)")
    return report.chart(figure, height=460)


def permutation_importance(report: Report) -> Section | None:
    if not report.has("segment_classifier_feature_importance"):
        return None
    frame = report.df("""
        select model_name, feature, importance_mean, importance_std, importance_rank
        from segment_classifier_feature_importance
        where importance_rank <= 12
        order by model_name, importance_rank
    """)
    models = list(dict.fromkeys(frame.model_name))
    figure = make_subplots(rows=1, cols=len(models), subplot_titles=models, horizontal_spacing=0.22)
    for col, model in enumerate(models, start=1):
        part = frame.loc[frame.model_name == model]
        figure.add_trace(go.Bar(x=part.importance_mean, y=part.feature, orientation="h", showlegend=False,
                                marker_color=PALETTE[col - 1],
                                error_x={"type": "data", "array": part.importance_std, "visible": True},
                                hovertemplate="%{y}: %{x:.3f}<extra></extra>"), row=1, col=col)
        figure.update_yaxes(autorange="reversed", row=1, col=col)
        figure.update_xaxes(title_text="drop in balanced accuracy", row=1, col=col)
    figure.update_layout(title="The 12 most important first-purchase features per classifier")
    return Section("What the first purchase tells (permutation importance)",
                   "How much the balanced accuracy on the time-split test customers drops when one feature's values "
                   "are shuffled (mean of 5 repeats, bar = ± one standard deviation). category_share_N is the share "
                   "of the first basket spent in product category N.",
                   [report.chart(figure, height=520)])


def purchase_forecast(report: Report) -> Section | None:
    if not report.has("customer_purchase_forecast", "customer_segments", "segment_profiles"):
        return None
    frame = report.df("""
        select
            segments.segment_id, segments.segment_name, count(*) as customers,
            avg(forecast.expected_purchases) as expected_purchases,
            avg(forecast.expected_spend) as expected_spend,
            avg(forecast.probability_alive) as probability_alive,
            avg(forecast.clv) as clv,
            sum(forecast.expected_spend) as total_expected_spend,
            sum(forecast.clv) as total_clv,
            max(forecast.horizon_days) as horizon_days
        from customer_purchase_forecast as forecast
        inner join customer_segments as segments using (customer_id)
        group by all
        order by segments.segment_id
    """)
    horizon = int(frame.horizon_days.max())
    panels = (("expected_purchases", f"Purchases, next {horizon} days", ".1f"),
              ("expected_spend", f"Spend (£), next {horizon} days", ",.0f"),
              ("probability_alive", "Probability still active", ".1%"), ("clv", "CLV (£, discounted)", ",.0f"))
    colours = report.segment_colours()
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=[title for _, title, _ in panels])
    for col, (metric, title, fmt) in enumerate(panels, start=1):
        figure.add_trace(go.Bar(x=frame.segment_name, y=frame[metric], showlegend=False,
                                marker_color=[colours.get(n) for n in frame.segment_name],
                                texttemplate=f"%{{y:{fmt}}}", textposition="outside",
                                hovertemplate=f"%{{x}}: %{{y:{fmt}}}<extra>{title}</extra>"), row=1, col=col)
    figure.update_yaxes(tickformat=".0%", range=[0, 1.15], row=1, col=3)
    figure.update_xaxes(tickangle=-30)
    figure.update_layout(title="Mean per customer of each segment (BG/NBD purchases, Gamma-Gamma value)")
    table = frame.drop(columns=["segment_id", "horizon_days"]).rename(columns={
        "segment_name": "Segment", "customers": "Customers", "expected_purchases": "Mean purchases",
        "expected_spend": "Mean spend (£)", "probability_alive": "Mean P(active)", "clv": "Mean CLV (£)",
        "total_expected_spend": f"Total spend, next {horizon} days (£)", "total_clv": "Total CLV (£)"})
    parts = [report.chart(figure, height=460), table_html(table, float_digits=2)]
    if report.has("forecast_holdout_evaluation"):
        parts.append(holdout_evaluation(report))
    return Section("Purchase forecast",
                   "Expected purchase days and net spend per customer, the probability that the customer is still "
                   "active, and the discounted customer lifetime value, averaged per segment. BG/NBD counts a "
                   "customer without a repeat purchase as still active, so one-off buyers sit near 100%.", parts)


def holdout_evaluation(report: Report) -> str:
    """The BG/NBD forecast against the naive past-rate baseline on the holdout period."""
    frame = report.df("select * from forecast_holdout_evaluation order by method")
    labels = {"bg_nbd": "BG/NBD + Gamma-Gamma", "naive_past_rate": "naive past rate"}
    frame["label"] = frame.method.map(labels).fillna(frame.method)
    panels = (("purchases_mae", "Purchases: MAE per customer ↓", ".2f"),
              ("purchases_rmse", "Purchases: RMSE per customer ↓", ".2f"),
              ("spend_mae", "Spend: MAE per customer (£) ↓", ",.0f"),
              ("purchases_aggregate_error", "Total purchases: relative error", ".1%"))
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=[title for _, title, _ in panels])
    for col, (metric, title, fmt) in enumerate(panels, start=1):
        figure.add_trace(go.Bar(x=frame.label, y=frame[metric], showlegend=False, texttemplate=f"%{{y:{fmt}}}",
                                textposition="outside", marker_color=["#0072B2" if m == "bg_nbd" else "#999999"
                                                                      for m in frame.method],
                                hovertemplate=f"%{{x}}: %{{y:{fmt}}}<extra>{title}</extra>"), row=1, col=col)
    figure.update_yaxes(tickformat=".0%", row=1, col=4)
    figure.update_layout(title=f"Holdout: {int(frame.customers.iloc[0]):,} customers, BG/NBD (blue) vs the naive "
                               "past-rate forecast (grey)")
    table = frame.drop(columns="label")
    return ("<h3>Does the forecast beat a naive one?</h3><p>Both fitted on the calibration period only and "
            "compared with what the customers then bought in the holdout period.</p>"
            + report.chart(figure, height=420)
            + table_html(table))


SECTIONS: tuple[Callable[[Report], Section | None], ...] = (
    headline,
    segment_sizes,
    segment_profiles,
    rfm_distributions,
    scatter_3d,
    k_selection,
    algorithm_comparison,
    segment_drivers,
    country_mix,
    segment_purchases,
    classifier_performance,
    permutation_importance,
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
