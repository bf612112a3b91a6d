"""Sections on segments over time and on sizing a campaign: the migration between two month-ends the
reader picks (customer_segment_history), the stay rate of each state by month (segment_history_summary)
and the power table (campaign_power)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from customer_segments.delivery import formats
from customer_segments.delivery.report.page import PALETTE, Report, Section, table_html

#: The from-state of a customer without a purchase by the earlier month-end (as in segment_migration).
NEW = "new"


def migration_pairs(report: Report):
    """Customers per (from month-end, to month-end, from-state, to-state) for every pair of month-ends:
    the state at the earlier one ('new' without a purchase by then) against the state at the later one."""
    return report.df(f"""
        with
        months as (select distinct month_end from customer_segment_history),
        pairs as (
            select earlier.month_end as from_month, later.month_end as to_month
            from months as earlier inner join months as later on earlier.month_end < later.month_end
        )
        select
            pairs.from_month,
            pairs.to_month,
            coalesce(earlier.state, '{NEW}') as from_state,
            later.state as to_state,
            count(*) as customers
        from pairs
        inner join customer_segment_history as later on later.month_end = pairs.to_month
        left join customer_segment_history as earlier
            on earlier.customer_id = later.customer_id and earlier.month_end = pairs.from_month
        group by all
        order by all
    """)


def _state_order(report: Report, states) -> list[str]:
    """Segments in value order, then inactive, no net spend, and new last."""
    segments = report.segment_names()
    others = sorted(set(states) - set(segments) - {NEW})
    return [s for s in segments if s in set(states)] + others + ([NEW] if NEW in set(states) else [])


def segment_migration(report: Report) -> Section | None:
    """From-state x to-state between two month-ends, chosen from a menu (first to last shown first)."""
    if not report.has("customer_segment_history", "segment_profiles"):
        return None
    pairs = migration_pairs(report)
    if pairs.empty:
        return None
    order = _state_order(report, set(pairs.from_state) | set(pairs.to_state))
    figure = go.Figure()
    keys = list(pairs[["from_month", "to_month"]].drop_duplicates().itertuples(index=False, name=None))
    first, last = pairs.from_month.min(), pairs.to_month.max()
    shown = keys.index((first, last))
    for i, (from_month, to_month) in enumerate(keys):
        part = pairs.loc[(pairs.from_month == from_month) & (pairs.to_month == to_month)]
        matrix = part.pivot_table(index="from_state", columns="to_state", values="customers", aggfunc="sum",
                                  fill_value=0)
        rows = [s for s in order if s in matrix.index]
        columns = [s for s in order if s in matrix.columns]
        matrix = matrix.loc[rows, columns]
        share = matrix.div(matrix.sum(axis=1), axis=0)
        figure.add_trace(go.Heatmap(z=share.to_numpy(), x=columns, y=rows, customdata=matrix.to_numpy(),
                                    colorscale="Purples", zmin=0, zmax=1, visible=i == shown,
                                    text=[[f"{v:.0%}" for v in row] for row in share.to_numpy()],
                                    texttemplate="%{text}",
                                    hovertemplate="%{y} → %{x}: %{customdata:,} customers (%{z:.1%} of the row)"
                                                  "<extra></extra>"))
    buttons = [{"label": f"{a:%Y-%m-%d} → {b:%Y-%m-%d}", "method": "update",
                "args": [{"visible": [j == i for j in range(len(keys))]},
                         {"title": f"Where the customers of {a:%d %b %Y} were on {b:%d %b %Y}"}]}
               for i, (a, b) in enumerate(keys)]
    figure.update_layout(title=f"Where the customers of {first:%d %b %Y} were on {last:%d %b %Y}",
                         updatemenus=[{"buttons": buttons, "active": shown, "x": 1, "xanchor": "right", "y": 1.15}],
                         xaxis_title="state at the later month-end", yaxis_title="state at the earlier month-end")
    figure.update_yaxes(autorange="reversed")
    return Section("Segment migration",
                   "Each customer's state at two month-ends (pick the pair in the menu): their segment under this "
                   "build's model (the same transform and centroids for every month, so a move is a change in "
                   "behaviour), inactive, no net spend, or new (no purchase by the earlier month-end). A row "
                   "sums to 100% (table customer_segment_history; segment_migration holds consecutive months).",
                   [report.chart(figure, height=560), stay_rate(report)])


def stay_rate(report: Report) -> str:
    """The share of each state's customers still in it a month later, by month-end."""
    if not report.has("segment_history_summary"):
        return ""
    frame = report.df("select month_end, state, segment_id, stay_share from segment_history_summary "
                      "where stay_share is not null order by month_end, state")
    figure = go.Figure()
    for state in _state_order(report, set(frame.state)):
        part = frame.loc[frame.state == state]
        segment_id = part.segment_id.dropna()
        colour = PALETTE[(int(segment_id.iloc[0]) - 1) % len(PALETTE)] if len(segment_id) else "#999999"
        figure.add_trace(go.Scatter(x=part.month_end, y=part.stay_share, name=state, mode="lines+markers",
                                    line={"color": colour, "dash": "solid" if len(segment_id) else "dot"},
                                    hovertemplate=f"{state}, %{{x|%Y-%m-%d}}: %{{y:.1%}}<extra></extra>"))
    figure.update_layout(title="Stay rate: share of a state's customers still in it a month later",
                         yaxis={"tickformat": ".0%", "range": [0, 1.05], "title": "stay rate"},
                         xaxis_title="month-end")
    return "<h3>Stay rate over time</h3>" + report.chart(figure, height=420)


def campaign_sizing(report: Report) -> Section | None:
    """campaign_power: what a campaign split can detect per segment."""
    if not report.has("campaign_power", "segment_profiles"):
        return None
    frame = report.in_value_order(report.df("""
        select power.segment_id, profiles.segment_name, power.* exclude (segment_id)
        from campaign_power as power
        inner join segment_profiles as profiles using (segment_id)
    """)).drop(columns="segment_id")
    colours = report.segment_colours()
    figure = go.Figure()
    figure.add_trace(go.Bar(x=frame.segment_name, y=frame.baseline_repeat_rate, name="baseline repeat-purchase rate",
                            marker_color=[colours.get(n) for n in frame.segment_name],
                            error_y={"type": "data", "array": frame.min_detectable_rate_effect, "visible": True},
                            hovertemplate="%{x}: %{y:.1%} ± %{error_y.array:.1%} detectable<extra></extra>"))
    figure.update_layout(title="Baseline repeat-purchase rate per segment, ± the smallest effect the split "
                               "detects", yaxis={"tickformat": ".0%", "title": "repeat-purchase rate"},
                         xaxis_title="segment", showlegend=False)
    return Section("Sizing a campaign",
                   "Per segment: the treatment and control arms of a campaign split (var campaign_control_share held "
                   "out), the baseline repeat-purchase rate and spend over the last campaign_window_days, the "
                   "smallest effect the split detects at α 0.05 and power 0.8, and the customers a target lift "
                   "needs (table campaign_power).", [report.chart(figure, height=420), table_html(power_table(frame))])


def power_table(frame: pd.DataFrame) -> pd.DataFrame:
    """campaign_power's columns under short names a marketer reads: rates as percentages, money in £."""
    table = pd.DataFrame({"Segment": frame.segment_name, "Customers": frame.customers,
                          "Treatment": frame.treatment_customers, "Control": frame.control_customers,
                          "Window (days)": frame.window_days})
    table["Repeat rate"] = frame.baseline_repeat_rate.map("{:.1%}".format)
    table[formats.money_title("Mean spend")] = frame.baseline_mean_spend
    table[formats.money_title("Spend sd")] = frame.baseline_spend_sd
    table["Detectable rate effect"] = frame.min_detectable_rate_effect.map(
        lambda v: "" if formats.missing(v) else f"± {v:.1%}")
    table[formats.money_title("Detectable spend effect")] = frame.min_detectable_spend_effect
    table["Target lift"] = frame.target_relative_lift.map("{:.0%}".format)
    table["Customers needed"] = frame.customers_needed_for_target_lift
    table["Detects the target"] = frame.can_detect_target_lift.map({True: "yes", False: "no"}).fillna("")
    return table
