-- One row per K-means segment: the purchase forecast of its customers (the backtest's chosen method's
-- purchases and spend, CLV, and BG/NBD's P(alive) where it is published) as means per customer and
-- totals, in the doubles the forecast is computed in. The mean P(alive) is over the customers that have
-- one (list_avg skips NULLs): NULL when the churn gate withholds it.

with

customer_purchase_forecast as (

    select * from {{ ref('customer_purchase_forecast') }}

),

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

segmented_forecasts as (

    select
        customer_segments.segment_id,
        customer_segments.segment_name,
        customer_purchase_forecast.customer_id,
        customer_purchase_forecast.expected_purchases,
        customer_purchase_forecast.expected_spend,
        customer_purchase_forecast.probability_alive,
        customer_purchase_forecast.clv,
        customer_purchase_forecast.horizon_days

    from customer_purchase_forecast
    inner join customer_segments
        on customer_purchase_forecast.customer_id = customer_segments.customer_id

),

-- Lists in customer order: a plain avg() or sum() of doubles adds them in whatever order the join
-- delivers rows, which can change the last bit between two builds.
segment_forecasts as (

    select
        segment_id,
        any_value(segment_name) as segment_name,
        count(*) as customers,
        list(expected_purchases order by customer_id) as expected_purchases,
        list(expected_spend order by customer_id) as expected_spend,
        list(probability_alive order by customer_id) as probability_alive,
        list(clv order by customer_id) as clv,
        max(horizon_days) as horizon_days

    from segmented_forecasts
    group by segment_id

)

select
    ---------- ids
    segment_id,
    segment_name,

    ---------- customers with a forecast
    customers,

    ---------- means per customer
    list_avg(expected_purchases) as mean_expected_purchases,
    list_avg(expected_spend) as mean_expected_spend,
    list_avg(probability_alive) as mean_probability_alive,
    list_avg(clv) as mean_clv,

    ---------- totals
    list_sum(expected_spend) as total_expected_spend,
    list_sum(clv) as total_clv,
    horizon_days

from segment_forecasts
order by segment_id
