-- One row per forecasting method (BG/NBD, naive past rate): how well it predicted each customer's
-- purchases and spend in the holdout period, per customer (MAE, RMSE) and in aggregate.

with

holdout as (

    select * from {{ ref('customer_forecast_holdout') }}

),

methods as (

    select
        'bg_nbd' as method,
        customer_id,
        holdout_purchases as actual_purchases,
        predicted_purchases,
        holdout_net_spend as actual_spend,
        predicted_spend

    from holdout

    union all

    select
        'naive_past_rate' as method,
        customer_id,
        holdout_purchases as actual_purchases,
        naive_purchases as predicted_purchases,
        holdout_net_spend as actual_spend,
        naive_spend as predicted_spend

    from holdout

)

select
    method,
    count(*) as customers,
    avg(abs(predicted_purchases - actual_purchases)) as purchases_mae,
    sqrt(avg(power(predicted_purchases - actual_purchases, 2))) as purchases_rmse,
    sum(actual_purchases) as actual_purchases,
    sum(predicted_purchases) as predicted_purchases,
    sum(predicted_purchases) / nullif(sum(actual_purchases), 0) - 1 as purchases_aggregate_error,
    avg(abs(predicted_spend - actual_spend::double)) as spend_mae,
    sum(actual_spend) as actual_spend,
    sum(predicted_spend) as predicted_spend,
    corr(predicted_purchases, actual_purchases) as purchases_correlation

from methods
group by method
order by method
