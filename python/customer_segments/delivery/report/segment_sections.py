"""Sections on the segments themselves: what the build read, headline figures, sizes, profiles, R/F/M, customers in feature
space, the country mix and what each segment buys."""

from __future__ import annotations

import html
import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from customer_segments.delivery import formats
from customer_segments.delivery.build_info import build_info_facts, build_info_lines
from customer_segments.delivery.report.page import VALUE_ORDER_TEXT, Report, Section, table_html

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
        ("Customers", formats.count(figures.customers)),
        ("Net revenue", formats.money(figures.net_revenue)),
        ("Orders", formats.count(figures.orders)),
        ("Average order value", formats.money(figures.average_order_value)),
        ("Segments", f"{formats.count(figures.segments)} "
                     f"({formats.count(figures.segmented_customers)} customers with net spend > 0)"),
        ("Countries", formats.count(figures.countries)),
        ("Period", f"{figures.first_purchase_at:%d %b %Y} – {figures.last_purchase_at:%d %b %Y}"),
        ("Input lines", f"{formats.count(figures.input_lines)} ({figures.share_of_input_lines_kept:.1%} used)"),
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
    profiles = report.in_value_order(report.df(
        "select segment_id, segment_name, customers, share_of_customers, net_revenue, share_of_net_revenue "
        "from segment_profiles"))
    figure = go.Figure([
        go.Bar(name="Share of customers", x=profiles.segment_name, y=profiles.share_of_customers,
               marker_color="#999999", texttemplate="%{y:.0%}", textposition="outside"),
        go.Bar(name="Share of net revenue", x=profiles.segment_name, y=profiles.share_of_net_revenue.astype(float),
               marker_color="#0072B2", texttemplate="%{y:.0%}", textposition="outside"),
    ])
    figure.update_layout(barmode="group", yaxis_tickformat=".0%", title="Segment sizes and revenue shares",
                         xaxis_title="segment", yaxis_title="share of all segmented customers / net revenue")
    table = pd.DataFrame({
        "Segment": profiles.segment_name,
        "Customers": profiles.customers,
        "Share of customers": profiles.share_of_customers.map("{:.1%}".format),
        formats.money_title("Net revenue"): profiles.net_revenue,
        "Share of net revenue": profiles.share_of_net_revenue.astype(float).map("{:.1%}".format),
        formats.money_title("Net revenue per customer"): profiles.net_revenue.astype(float) / profiles.customers,
    })
    return Section("Segment sizes and revenue",
                   f"How many customers each segment holds, and how much of the net revenue they bring. {VALUE_ORDER_TEXT}",
                   [report.chart(figure), table_html(table)])


def segment_profiles(report: Report) -> Section | None:
    if not report.has("segment_profiles"):
        return None
    profiles = report.in_value_order(report.df(f"""
        select
            segment_id,
            segment_name as "Segment",
            segment_label as "Where the median member sits",
            customers as "Customers",
            median_recency_days as "Median recency (days)",
            median_frequency as "Median orders",
            cast(median_monetary as double) as "{formats.money_title('Median net spend')}",
            cast(mean_avg_order_value as double) as "{formats.money_title('Mean order value')}",
            segment_id as "Id"
        from segment_profiles
    """)).drop(columns="segment_id")
    for column in ("Median recency (days)", "Median orders"):  # a median of whole numbers: whole or a half
        profiles[column] = profiles[column].map(lambda v: f"{v:,.1f}".removesuffix(".0"))
    return Section("Segment profiles", "The median member of each segment; names and actions come from the segment "
                   f"playbook seed. {VALUE_ORDER_TEXT}", [table_html(profiles, float_digits=1)])


#: The box plots' features: column, panel title, axis title, log axis.
RFM_FEATURES = (("recency_days", "Recency (days since last order)", "recency (days)", False),
                ("frequency", "Frequency (orders, log scale)", "orders", True),
                ("monetary", "Net spend (log scale)", formats.money_title("net spend"), True))


def box_stats(values: pd.Series, log: bool) -> dict[str, float]:
    """Quartiles and Tukey's whiskers of ``values``: the furthest values within 1.5 interquartile ranges of
    the box, measured on the chart's scale (log10 for a log axis), so customers beyond them are outliers."""
    scaled = values.astype(float).map(math.log10) if log else values.astype(float)
    q1, median, q3 = scaled.quantile([0.25, 0.5, 0.75]).tolist()
    reach = 1.5 * (q3 - q1)
    low = scaled[scaled >= q1 - reach].min()
    high = scaled[scaled <= q3 + reach].max()
    back = (lambda v: 10 ** v) if log else (lambda v: v)
    return {"q1": back(q1), "median": back(median), "q3": back(q3), "lowerfence": back(low), "upperfence": back(high)}


def rfm_distributions(report: Report) -> Section | None:
    if not report.has("customer_segments", "segment_profiles"):
        return None
    customers = report.df("""
        select segment_id, segment_name, recency_days, frequency, cast(monetary as double) as monetary
        from customer_segments
        order by segment_id, customer_id
    """)
    colours = report.segment_colours()
    figure = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title, _, _ in RFM_FEATURES])
    for name in report.segment_names():
        group = customers.loc[customers.segment_name == name]
        for col, (feature, _, _, log) in enumerate(RFM_FEATURES, start=1):
            # Only the statistics go to the page (not every customer), with quartile-based whiskers.
            stats = box_stats(group[feature], log)
            figure.add_trace(go.Box(x=[name], name=name, marker_color=colours.get(name), legendgroup=name,
                                    showlegend=False, boxpoints=False, **{k: [v] for k, v in stats.items()}),
                             row=1, col=col)
    for col, (_, _, axis_title, log) in enumerate(RFM_FEATURES, start=1):
        figure.update_yaxes(type="log" if log else "linear", title_text=axis_title, row=1, col=col)
        figure.update_xaxes(title_text="segment", tickangle=-30, row=1, col=col)
    return Section("Recency, frequency and monetary by segment",
                   "Box plots of each segment's customers: the box holds the middle half (first to third quartile, "
                   "line at the median); the whiskers reach the furthest customers within 1.5 times the box's "
                   f"height of it (on the chart's scale), customers beyond are outliers, not drawn. {VALUE_ORDER_TEXT}",
                   [report.chart(figure, height=500)])


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
        for name, group in ((name, customers.loc[customers.segment_name == name]) for name in report.segment_names())
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
        for name, group in ((name, mix.loc[mix.segment_name == name]) for name in report.segment_names())
    ])
    figure.update_layout(barmode="stack", yaxis_tickformat=".0%", xaxis={"categoryorder": "array", "categoryarray": order},
                         xaxis_title="country", yaxis_title="share of the country's customers",
                         legend={"traceorder": "normal"},
                         title=f"Segment mix in the {len(order)} countries with most customers")
    counts = mix.pivot_table(index="country", columns="segment_name", values="customers", aggfunc="sum", sort=False)
    counts = counts.reindex(index=order, columns=list(colours)).fillna(0).astype(int)
    counts.insert(0, "Customers", counts.sum(axis=1))
    counts = counts.reset_index().rename(columns={"country": "Country"})
    return Section("Country mix", "Do customers abroad behave differently? Countries ordered by customers; "
                   f"the table counts each segment's customers. {VALUE_ORDER_TEXT}", [report.chart(figure), table_html(counts)])


def segment_purchases(report: Report) -> Section | None:
    if not report.has("segment_category_purchases", "segment_product_purchases"):
        return None
    categories = report.df("select * from segment_category_purchases order by segment_id, spend_rank, category_id")
    names = [name for name in report.segment_names() if name in set(categories.segment_name)]
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
    figure.update_yaxes(autorange="reversed", title_text="product category")
    figure.update_xaxes(title_text="segment")
    figure.update_layout(title=f"Spend lift per product category (the {len(order)} biggest categories)")
    products = report.df("select * from segment_product_purchases where spend_lift > 1 "
                         "order by segment_id, spend_rank, stock_code")
    top = report.in_value_order(products.sort_values("spend_lift", ascending=False, kind="stable")
                                .groupby("segment_id", sort=False).head(3))
    table = top[["segment_name", "description", "net_spend", "share_of_segment_spend", "segment_penetration",
                 "spend_lift"]].rename(columns={
                     "segment_name": "Segment", "description": "Product", "net_spend": formats.money_title("Net spend"),
                     "share_of_segment_spend": "Share of segment spend", "segment_penetration": "Customers buying it",
                     "spend_lift": "Spend lift"})
    for column in ("Share of segment spend", "Customers buying it"):
        table[column] = table[column].map("{:.1%}".format)
    table["Spend lift"] = table["Spend lift"].map("{:.2f}×".format)
    return Section("What each segment buys",
                   "Spend lift = the share of the segment's money that goes to an item / the same share for all "
                   "customers: above 1× (red) the segment favours it, below 1× (blue) it buys less of it. "
                   + VALUE_ORDER_TEXT,
                   [report.chart(figure, height=max(420, 30 * len(order) + 160)),
                    "<h3>Products each segment favours (among its top products by spend, lift > 1)</h3>"
                    + table_html(table)])

