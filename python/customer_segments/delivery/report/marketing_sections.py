"""Sections a marketer reads first after the headline: how each segment's revenue, orders and active
customers moved month by month (customer_orders), and what to do with each segment, with the export
file that holds its customers and its top customers."""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from customer_segments.delivery import formats
from customer_segments.delivery.exports import CONTROL_STEM, DEFAULT_OUT, file_stem
from customer_segments.delivery.report.page import VALUE_ORDER_TEXT, Report, Section, table_html

#: Top customers listed per segment (by net spend, the order of the export files).
TOP_CUSTOMERS = 5
#: Customers of no segment (net spend not positive), as customer_orders names them.
UNSEGMENTED_COLOUR = "#999999"


def monthly_trend(report: Report) -> Section | None:
    """Net revenue, purchase orders and active customers per calendar month and segment."""
    if not report.has("customer_orders", "segment_profiles"):
        return None
    # The definitions of the MetricFlow metrics net_revenue, orders and customers on the same table.
    months = report.df("""
        select
            invoice_month,
            segment_id,
            segment_name,
            sum(net_value) as net_revenue,
            count(*) filter (where invoice_type = 'purchase') as orders,
            count(distinct customer_id) filter (where invoice_type = 'purchase') as active_customers
        from customer_orders
        group by all
        order by invoice_month, segment_id nulls last
    """)
    last_day = report.df("select max(invoiced_at) as last from customer_orders").last.iloc[0]
    colours = report.segment_colours()
    names = [*report.segment_names(), *sorted(set(months.segment_name) - set(colours))]
    panels = (("net_revenue", formats.money_title("Net revenue"), f"{formats.CURRENCY}%{{y:{formats.PLOTLY_MONEY}}}"),
              ("orders", "Orders (purchase invoices)", f"%{{y:{formats.PLOTLY_COUNT}}}"),
              ("active_customers", "Active customers (with a purchase)", f"%{{y:{formats.PLOTLY_COUNT}}}"))
    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                           subplot_titles=[title for _, title, _ in panels])
    for name in names:
        part = months.loc[months.segment_name == name]
        colour = colours.get(name, UNSEGMENTED_COLOUR)
        for row, (metric, title, value) in enumerate(panels, start=1):
            figure.add_trace(go.Scatter(
                x=part.invoice_month, y=part[metric].astype(float), name=name, legendgroup=name, showlegend=row == 1,
                mode="lines+markers", line={"color": colour, "dash": "solid" if name in colours else "dot"},
                hovertemplate=f"{html.escape(name)}, %{{x|%b %Y}}: {value}<extra>{title}</extra>"), row=row, col=1)
    for row, (_, title, _) in enumerate(panels, start=1):
        figure.update_yaxes(title_text=title.split(" (")[0].lower() if row > 1 else formats.money_title("net revenue"),
                            row=row, col=1)
    figure.update_yaxes(tickprefix=formats.CURRENCY, tickformat=",.0f", row=1, col=1)
    figure.update_yaxes(tickformat=",d", rangemode="tozero", row=2, col=1)
    figure.update_yaxes(tickformat=",d", rangemode="tozero", row=3, col=1)
    figure.update_xaxes(title_text="month", dtick="M1", tickformat="%b %Y", row=3, col=1)
    figure.update_layout(legend={"orientation": "h", "y": -0.12}, hovermode="x unified",
                         title="Per calendar month and segment")
    totals = (months.groupby("invoice_month", sort=True)[["net_revenue", "orders"]].sum()
              .join(report.df("""select invoice_month, count(distinct customer_id) as active_customers
                                 from customer_orders where invoice_type = 'purchase' group by all""")
                    .set_index("invoice_month")).reset_index())
    totals["invoice_month"] = totals.invoice_month.dt.strftime("%b %Y")
    table = totals.rename(columns={"invoice_month": "Month", "net_revenue": formats.money_title("Net revenue"),
                                   "orders": "Orders", "active_customers": "Active customers"})
    return Section("Monthly trend per segment",
                   "Net revenue (cancellations counted in the month they happened), purchase orders and customers "
                   "with a purchase, per calendar month, each customer under the segment they are in now (table "
                   "customer_orders; the same definitions as the MetricFlow metrics net_revenue, orders and "
                   f"customers). The last month holds the data up to {last_day:%d %b %Y}, so it may be a part "
                   f"month. {VALUE_ORDER_TEXT}",
                   [report.chart(figure, height=820), "<h3>All customers per month</h3>"
                    + table_html(table.fillna({"Active customers": 0}), max_rows=60)])


def segment_actions(report: Report) -> Section | None:
    """Per segment in value order: its size and revenue, the suggested actions, the export files that
    hold its customers and its top customers by net spend."""
    if not report.has("segment_profiles", "customer_segments", "customer_rfm"):
        return None
    profiles = report.in_value_order(report.df(
        "select segment_id, segment_name, customers, net_revenue, suggested_actions from segment_profiles"))
    campaign = "campaign_groups" in report.tables
    # The send lists leave the campaign's control group out: so do their top customers here.
    control = ("and customer_segments.customer_id not in (select customer_id from campaign_groups "
               "where campaign_group = 'control')") if campaign else ""
    top = report.df(f"""
        select
            customer_segments.segment_id,
            -- As text: an id is a name, not an amount (no thousands separator).
            cast(customer_segments.customer_id as varchar) as customer_id,
            customer_rfm.country,
            customer_rfm.frequency,
            customer_rfm.monetary,
            cast(customer_rfm.last_purchase_at as date) as last_purchase_date
        from customer_segments
        inner join customer_rfm on customer_segments.customer_id = customer_rfm.customer_id
        where true {control}
        qualify row_number() over (
            partition by customer_segments.segment_id
            order by customer_rfm.monetary desc, customer_segments.customer_id
        ) <= {TOP_CUSTOMERS}
        order by customer_segments.segment_id, customer_rfm.monetary desc, customer_segments.customer_id
    """)
    colours = report.segment_colours()
    blocks = []
    for row in profiles.itertuples():
        stem = file_stem(int(row.segment_id), str(row.segment_name))
        customers = top.loc[top.segment_id == row.segment_id].rename(columns={
            "customer_id": "Customer id (raw customer number)", "country": "Country", "frequency": "Orders",
            "monetary": formats.money_title("Net spend"), "last_purchase_date": "Last purchase"})
        blocks.append(
            f"<div class='segment-actions' style='border-left-color: {colours.get(row.segment_name, '#999')}'>"
            f"<h3>{html.escape(str(row.segment_name))}</h3>"
            f"<p>{formats.count(row.customers)} customers, net revenue {formats.money(row.net_revenue)} "
            f"({formats.money(float(row.net_revenue) / row.customers)} per customer).</p>"
            f"<p><b>What to do:</b> {html.escape(str(row.suggested_actions))}</p>"
            f"<p><b>Export files:</b> <code>{DEFAULT_OUT}/{stem}.csv</code> and <code>{DEFAULT_OUT}/{stem}.parquet</code>"
            + (" (the campaign's treatment group only)" if campaign else "") + "</p>"
            f"<p>Top {TOP_CUSTOMERS} customers by net spend, first in the export file:</p>"
            + table_html(customers.drop(columns="segment_id")) + "</div>")
    held_out = (f" A campaign is set: its control group is held out of every segment file, in "
                f"<code>{DEFAULT_OUT}/{CONTROL_STEM}.csv</code>, and must not be contacted." if campaign else "")
    return Section("What to do with each segment",
                   "The suggested actions come from the segment playbook seed; python -m "
                   "customer_segments.delivery.exports writes each segment's customers to the files named here, "
                   f"largest net spend first. {VALUE_ORDER_TEXT}",
                   ["<p class='note'>Customer ids here are raw customer numbers. The export files hold the same "
                    "ids unless SEGMENTS_EXPORT_HMAC_KEY is set, when they carry HMAC-SHA256 pseudonyms instead "
                    f"(their README.txt says which).{held_out}</p>", *blocks])
