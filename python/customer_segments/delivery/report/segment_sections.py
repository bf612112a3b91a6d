"""Sections on the segments themselves: what the build read, headline figures, sizes, profiles, R/F/M, customers in feature
space, the country mix and what each segment buys."""

from __future__ import annotations

import html
import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from customer_segments.delivery.build_info import build_info_facts, build_info_lines
from customer_segments.delivery.report.page import Report, Section, table_html

#: Customers drawn in the 3-D scatter: enough to see the shapes, small enough for any browser.
SCATTER_MAX_CUSTOMERS = 6000


def build_facts(report: Report) -> Section | None:
    """What the build read (table build_info), first on the page."""
    facts = build_info_facts(report.con)
    if facts is None:
        return None
    items = "".join(f"<li>{html.escape(line)}</li>" for line in build_info_lines(facts))
    return Section("What this build read", parts=[f"<ul class='build-info'>{items}</ul>"])


def headline(report: Report) -> Section | None:
    if not report.has("build_headline"):
        return None
    figures = report.df("select * from build_headline").iloc[0]
    cards = [
        ("Customers", f"{int(figures.customers):,}"),
        ("Net revenue", f"£{float(figures.net_revenue):,.0f}"),
        ("Orders", f"{int(figures.orders):,}"),
        ("Average order value", f"£{float(figures.average_order_value):,.2f}"),
        ("Segments", f"{int(figures.segments)} ({int(figures.segmented_customers):,} customers with net spend > 0)"),
        ("Countries", f"{int(figures.countries)}"),
        ("Period", f"{figures.first_purchase_at:%d %b %Y} – {figures.last_purchase_at:%d %b %Y}"),
        ("Input lines", f"{int(figures.input_lines):,} ({figures.share_of_input_lines_kept:.1%} used)"),
    ]
    body = "".join(f"<div class='card'><div class='label'>{html.escape(label)}</div>"
                   f"<div class='value'>{html.escape(value)}</div></div>" for label, value in cards)
    return Section("Headline figures", parts=[f"<div class='cards'>{body}</div>"])


def build_notes(report: Report) -> Section | None:
    """What the build skipped or reduced because the data could not support it (none on a normal build)."""
    if "build_notes" in report.relations and "build_notes" not in report.tables:
        return None  # built and empty: nothing was skipped, so nothing is left out either
    if not report.has("build_notes"):
        return None
    notes = report.df("select model, note, detail from build_notes order by model, note")
    return Section("What this build skipped", "The data could not support these parts of the build; their "
                   "sections are left out or reduced (table build_notes).", [table_html(notes)])


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
            segment_label as "Where the median member sits",
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
    if not report.has("segment_by_country", "segment_profiles"):
        return None
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


def segment_purchases(report: Report) -> Section | None:
    if not report.has("segment_category_purchases", "segment_product_purchases"):
        return None
    categories = report.df("select * from segment_category_purchases order by segment_id, spend_rank, category_id")
    names = list(dict.fromkeys(categories.segment_name))
    # Categories that matter to someone: the biggest by spend, at most 15, in order of base spend.
    order = (categories.groupby("category_name").share_of_base_spend.first()
             .sort_values(ascending=False, kind="stable").head(15).index.tolist())
    lift = (categories.pivot(index="category_name", columns="segment_name", values="spend_lift")
            .reindex(index=order, columns=names))
    share = categories.pivot(index="category_name", columns="segment_name",
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
    products = report.df("select * from segment_product_purchases where spend_lift > 1 "
                         "order by segment_id, spend_rank, stock_code")
    top = (products.sort_values(["segment_id", "spend_lift"], ascending=[True, False], kind="stable")
           .groupby("segment_id", sort=False).head(3))
    table = top[["segment_name", "description", "net_spend", "share_of_segment_spend", "segment_penetration",
                 "spend_lift"]].rename(columns={
                     "segment_name": "Segment", "description": "Product", "net_spend": "Net spend (£)",
                     "share_of_segment_spend": "Share of segment spend", "segment_penetration": "Customers buying it",
                     "spend_lift": "Spend lift"})
    table["Net spend (£)"] = table["Net spend (£)"].astype(float).round().astype(int)
    return Section("What each segment buys",
                   "Spend lift = the share of the segment's money that goes to an item / the same share for all "
                   "customers: above 1× (red) the segment favours it, below 1× (blue) it buys less of it.",
                   [report.chart(figure, height=max(420, 30 * len(order) + 160)),
                    "<h3>Products each segment favours (among its top products by spend, lift > 1)</h3>"
                    + table_html(table)])

