-- One row per customer and forecast origin at which they had bought: what was known of the customer
-- at the origin (the buy-till-you-die summary, the previous window) and what they bought in the
-- backtest horizon after it. Every forecasting method reads its features from here, so only
-- customer-level rows cross into Python.
--
-- A purchase is a distinct purchase invoice; spend is net spend (every invoice's net_value: purchases
-- less the cancellations matched to them, a cancellation invoice on its own day). An invoice belongs
-- to the instant it started; "before the origin" is invoiced_at < origin.
--
-- The origins (one home of the rule): with n = var forecast_backtest_origins and W the days from the
-- data's first valid day to the as-of date, the backtest horizon is h = min(var forecast_horizon_days,
-- floor(W / (n + 2))) days, and origin k is as_of_date - k * h:
--   k = 0          'forecast': the as-of date, the origin of customer_purchase_forecast (no actuals);
--   k = 1 .. n     'backtest': each has its whole horizon [origin, origin + h) inside the data;
--   k = n + 1      'training': only trains the regression of origin n (its outcomes end at origin n).
-- The regression of origin k is trained on origin k + 1's features and outcomes, which end exactly
-- at origin k, so nothing after an origin is used to predict it. The two windows of length h kept
-- before origin n + 1 give the earliest features some history and a previous window.
-- Real data: W = 374, n = 3, so h = 74 days and the backtest origins are 2011-09-27, 2011-07-15 and
-- 2011-05-02 (training 2011-02-17). When W < n + 2 days, h is 0: no origin, and the backtest is skipped.

{%- set n_origins = number_var('forecast_backtest_origins', 1, 24, whole=true) %}

with

customer_invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

customers as (

    select customer_id from {{ ref('customer_rfm') }}

),

data_window as (

    select
        first_invoice_date,
        {{ as_of_date() }} as as_of_date,
        least(
            {{ number_var('forecast_horizon_days', 1, 36500, whole=true) }},
            cast(floor(date_diff('day', first_invoice_date, {{ as_of_date() }}) / ({{ n_origins }} + 2)) as integer)
        ) as backtest_horizon_days

    from {{ ref('build_dates') }}

),

origins as (

    select
        origin_index,
        case
            when origin_index = 0 then 'forecast'
            when origin_index <= {{ n_origins }} then 'backtest'
            else 'training'
        end as origin_role,
        as_of_date - cast(origin_index * backtest_horizon_days as integer) as origin_date,
        backtest_horizon_days as horizon_days

    from data_window
    cross join range(0, {{ n_origins }} + 2) as origin_indexes (origin_index)
    where backtest_horizon_days > 0

),

-- Invoices of the customers of customer_rfm, in the order that says which purchase came first.
invoices as (

    select
        customer_invoices.customer_id,
        customer_invoices.invoice_no,
        customer_invoices.invoiced_at,
        cast(customer_invoices.invoiced_at as date) as invoice_date,
        customer_invoices.invoice_type = 'purchase' as is_purchase,
        customer_invoices.net_value

    from customer_invoices
    inner join customers
        on customer_invoices.customer_id = customers.customer_id

),

first_purchases as (

    select
        customer_id,
        arg_min(invoice_no, (invoiced_at, invoice_no)) as first_invoice_no,
        min(invoiced_at) as first_purchase_at

    from invoices
    where is_purchase
    group by customer_id

),

-- One row per customer, origin and invoice up to the end of the origin's horizon.
origin_invoices as (

    select
        invoices.*,
        origins.origin_index,
        origins.origin_role,
        origins.origin_date,
        origins.horizon_days,
        invoices.invoiced_at < origins.origin_date as is_before_origin,
        invoices.invoiced_at >= origins.origin_date - origins.horizon_days
        and invoices.invoiced_at < origins.origin_date as is_in_previous_window,
        invoices.invoiced_at >= origins.origin_date as is_in_horizon,
        (invoices.invoiced_at, invoices.invoice_no) > (first_purchases.first_purchase_at, first_purchases.first_invoice_no) as is_after_first_purchase

    from invoices
    inner join first_purchases
        on invoices.customer_id = first_purchases.customer_id
    inner join origins
        on first_purchases.first_purchase_at < origins.origin_date
        and invoices.invoiced_at < origins.origin_date + origins.horizon_days

),

summarised as (

    select
        customer_id,
        origin_index,
        any_value(origin_role) as origin_role,
        origin_date,
        any_value(horizon_days) as horizon_days,
        min(invoice_date) filter (where is_purchase) as first_purchase_date,
        max(invoice_date) filter (where is_purchase and is_before_origin) as last_purchase_date,
        count(distinct invoice_no) filter (where is_purchase and is_before_origin) as purchases,
        sum(net_value) filter (where is_before_origin) as net_spend,
        sum(net_value) filter (where is_before_origin and is_after_first_purchase) as repeat_net_spend,
        count(distinct invoice_no) filter (where is_purchase and is_in_previous_window) as previous_window_purchases,
        sum(net_value) filter (where is_in_previous_window) as previous_window_spend,
        count(distinct invoice_no) filter (where is_purchase and is_in_horizon) as actual_purchases,
        sum(net_value) filter (where is_in_horizon) as actual_spend

    from origin_invoices
    group by customer_id, origin_index, origin_date

)

select
    ---------- ids
    customer_id,
    origin_date,
    origin_role,
    horizon_days,
    first_purchase_date,
    last_purchase_date,

    ---------- BG/NBD inputs (x, t_x, T in days)
    purchases,
    purchases - 1 as repeat_purchases,
    date_diff('day', first_purchase_date, last_purchase_date) as first_to_last_purchase_days,
    date_diff('day', first_purchase_date, origin_date) as observed_days,
    date_diff('day', last_purchase_date, origin_date) as recency_days,

    ---------- spend before the origin; Gamma-Gamma input
    coalesce(net_spend, 0) as net_spend,
    coalesce(repeat_net_spend, 0) as repeat_net_spend,
    cast(case when purchases > 1 then coalesce(repeat_net_spend, 0) / (purchases - 1) end as decimal(18, 3)) as mean_repeat_value,

    ---------- the previous window of the horizon's length
    previous_window_purchases,
    coalesce(previous_window_spend, 0) as previous_window_spend,

    ---------- what happened in [origin, origin + horizon); NULL at the forecast origin
    case when origin_index > 0 then actual_purchases end as actual_purchases,
    case when origin_index > 0 then coalesce(actual_spend, 0) end as actual_spend

from summarised
order by customer_id, origin_date
