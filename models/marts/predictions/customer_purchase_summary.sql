-- One row per customer and observation period: the buy-till-you-die summary (repeat purchases, recency,
-- age and mean repeat value, in days) that BG/NBD and Gamma-Gamma are fitted on.
--
-- A purchase is a day with at least one purchase invoice (several invoices on one day are one visit);
-- an invoice belongs to the day it started.
-- Period 'full' observes everything before the as-of date; period 'calibration' observes purchases
-- before the forecast calibration end (model build_dates: var forecast_calibration_end_date, else derived
-- from the data's window) and records what happened from then to the as-of date (the
-- holdout) for customers who had bought by then.

with

customer_invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

customers as (

    select customer_id from {{ ref('customer_rfm') }}

),

periods as (

    select 'full' as period, {{ as_of_date() }} as period_end, {{ as_of_date() }} as as_of_date

    union all

    select
        'calibration' as period,
        {{ build_date('forecast_calibration_end_date') }} as period_end,
        {{ as_of_date() }} as as_of_date

),

-- Net value per customer and day: purchases minus the cancellations made that day.
customer_days as (

    select
        customer_invoices.customer_id,
        cast(customer_invoices.invoiced_at as date) as activity_date,
        bool_or(customer_invoices.invoice_type = 'purchase') as is_purchase_day,
        sum(customer_invoices.net_value) as net_value

    from customer_invoices
    inner join customers
        on customer_invoices.customer_id = customers.customer_id
    group by all

),

first_days as (

    select
        customer_id,
        min(activity_date) filter (where is_purchase_day) as first_purchase_date

    from customer_days
    group by customer_id

),

summarised as (

    select
        customer_days.customer_id,
        periods.period,
        periods.period_end,
        any_value(first_days.first_purchase_date) as first_purchase_date,
        count(*) filter (where customer_days.is_purchase_day and customer_days.activity_date < periods.period_end) - 1 as repeat_purchases,
        max(customer_days.activity_date) filter (
            where customer_days.is_purchase_day and customer_days.activity_date < periods.period_end
        ) as last_purchase_date,
        -- Repeat value: everything after the first purchase day, cancellations included, in the period.
        sum(customer_days.net_value) filter (
            where customer_days.activity_date > first_days.first_purchase_date
            and customer_days.activity_date < periods.period_end
        ) as repeat_net_spend,
        count(*) filter (
            where customer_days.is_purchase_day and customer_days.activity_date >= periods.period_end
            and customer_days.activity_date < periods.as_of_date
        ) as holdout_purchases,
        sum(customer_days.net_value) filter (
            where customer_days.activity_date >= periods.period_end
            and customer_days.activity_date < periods.as_of_date
        ) as holdout_net_spend,
        date_diff('day', periods.period_end, any_value(periods.as_of_date)) as holdout_days

    from customer_days
    inner join first_days
        on customer_days.customer_id = first_days.customer_id
    cross join periods
    where first_days.first_purchase_date < periods.period_end
    group by customer_days.customer_id, periods.period, periods.period_end

)

select
    ---------- ids
    customer_id,
    period,
    period_end,
    first_purchase_date,
    last_purchase_date,

    ---------- BG/NBD inputs (days)
    repeat_purchases,
    date_diff('day', first_purchase_date, last_purchase_date) as first_to_last_purchase_days,
    date_diff('day', first_purchase_date, period_end) as observed_days,

    ---------- Gamma-Gamma input
    coalesce(repeat_net_spend, 0) as repeat_net_spend,
    cast(case when repeat_purchases > 0 then coalesce(repeat_net_spend, 0) / repeat_purchases end as decimal(18, 3)) as mean_repeat_value,

    ---------- holdout (period 'calibration'; zero for 'full')
    case when period = 'calibration' then holdout_days else 0 end as holdout_days,
    holdout_purchases,
    coalesce(holdout_net_spend, 0) as holdout_net_spend

from summarised
order by customer_id, period
