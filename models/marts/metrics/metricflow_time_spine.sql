-- One row per day from the first to the last invoice day (plus a year, for forecasts): the time spine
-- MetricFlow joins metrics to.

with

bounds as (

    select
        cast(min(invoiced_at) as date) as first_day,
        cast(max(invoiced_at) as date) + interval 365 day as last_day

    from {{ ref('int_invoice_lines_netted') }}

),

days as (

    select cast(range as date) as date_day
    from bounds, range(bounds.first_day, bounds.last_day + interval 1 day, interval 1 day)

)

select * from days
