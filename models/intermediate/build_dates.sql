-- One row: the dates this build works with, each from its var when set, else derived from the data's own
-- window, so that no default belongs to one data set. The one home of these dates: SQL models read them
-- through the macro build_date (as_of_date() among them), Python models from this table.
--
-- The window runs from the first valid line's day to the as-of date; a valid line is one read right and
-- plausible (an unparseable line, or one dated 2099, moves no date). A line without a customer, or of
-- postage, is a real sale of its day and counts.
--   as_of_date: var as_of_date (or env SEGMENTS_AS_OF_DATE), else the day after the last valid line's day.
--   new_customer_horizon_days: var new_customer_horizon_days (365), or half the window (whole days,
--     rounded down, at least 1) when that is shorter, so that the first half of the window's first
--     purchases have their whole horizon inside the data.
--   classifier_cutoff_date: its var, else the first day of the month on or before the split point, the
--     day two thirds of the way from the first valid day to the last day a first purchase can have its
--     whole horizon inside the data (as_of_date - new_customer_horizon_days; whole days, rounded down):
--     the time split of the first-purchase models, whose test customers need complete horizons too. The
--     month start keeps a round date a reader recognises and moves little as the data grows by a day;
--     when it is not after the first day (a window inside one month) the split point itself is used, so
--     the date stays inside the data.
-- Real data: 2010-12-01 to as-of 2011-12-10 is 374 days, so the horizon is 187 days; complete horizons
-- start by 2011-06-06, two thirds of the way there is 2011-04-04, so the classifier cutoff is 2011-04-01
-- (2024-04-01 shifted by 13 years).
{%- set as_of_setting = as_of_date_setting() | trim %}
{%- set cutoff_setting = date_setting('classifier_cutoff_date') | trim %}
{%- set horizon_var = number_var('new_customer_horizon_days', 1, 36500, whole=true) %}

with

lines as (

    select * from {{ ref('stg_retail__invoice_lines') }}

),

data_window as (

    select
        cast(min(invoiced_at) as date) as first_invoice_date,
        cast(max(invoiced_at) as date) as last_invoice_date

    from lines
    where line_status not in ('unparseable', 'implausible_date', 'implausible_value')

),

as_of as (

    select
        first_invoice_date,
        last_invoice_date,
        coalesce({{ as_of_setting or 'null' }}, last_invoice_date + 1) as as_of_date,
        {{ 'false' if as_of_setting else 'true' }} as as_of_date_is_derived

    from data_window

),

horizon as (

    select
        *,
        least(
            {{ horizon_var }},
            greatest(1, cast(floor(date_diff('day', first_invoice_date, as_of_date) / 2) as integer))
        ) as new_customer_horizon_days

    from as_of

),

horizon_split as (

    select
        *,
        first_invoice_date + cast(
            floor(2 * date_diff('day', first_invoice_date, as_of_date - new_customer_horizon_days) / 3) as integer
        ) as horizon_split_point_date

    from horizon

)

select
    ---------- the data's window
    first_invoice_date,
    last_invoice_date,
    as_of_date,
    as_of_date_is_derived,

    ---------- split dates and horizon of the predictions
    new_customer_horizon_days,
    coalesce(
        {{ cutoff_setting or 'null' }}, {{ month_start_inside('horizon_split_point_date', 'first_invoice_date') }}
    ) as classifier_cutoff_date,
    {{ 'false' if cutoff_setting else 'true' }} as classifier_cutoff_date_is_derived

from horizon_split
