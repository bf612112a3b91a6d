-- One row per forecasting method and backtest origin: how well the method predicted its customers'
-- purchases and net spend over the horizon after the origin (MAE, RMSE, aggregate error, the count
-- band's coverage), and the rule's score: the method's mean purchases MAE over every origin. The chosen
-- method (is_chosen_method, decided by customer_segments.prediction.backtest.choose_method and carried
-- from forecast_backtest_predictions) has the lowest score among the methods evaluated at every origin.

with

predictions as (

    select * from {{ ref('forecast_backtest_predictions') }}

),

-- Sums over lists in customer order: a plain sum() of doubles adds them in whatever order the rows
-- arrive, which can change the last bit between two builds.
ordered as (

    select
        method,
        origin_date,
        any_value(horizon_days) as horizon_days,
        count(*) as customers,
        bool_or(is_chosen_method) as is_chosen_method,
        list(abs(predicted_purchases - actual_purchases) order by customer_id) as purchase_errors,
        list(power(predicted_purchases - actual_purchases, 2) order by customer_id) as purchase_squares,
        list(abs(predicted_spend - actual_spend) order by customer_id) as spend_errors,
        list(power(predicted_spend - actual_spend, 2) order by customer_id) as spend_squares,
        list(predicted_purchases order by customer_id) as predicted_purchases,
        list(predicted_spend order by customer_id) as predicted_spend,
        list(actual_spend order by customer_id) as actual_spend,
        sum(actual_purchases) as actual_purchases,
        avg(cast(actual_purchases between predicted_purchases_p10 and predicted_purchases_p90 as integer))
            as purchases_band_coverage

    from predictions
    group by method, origin_date

),

measured as (

    select
        method,
        origin_date,
        horizon_days,
        customers,
        list_avg(purchase_errors) as purchases_mae,
        sqrt(list_avg(purchase_squares)) as purchases_rmse,
        actual_purchases,
        list_sum(predicted_purchases) as predicted_purchases,
        list_sum(predicted_purchases) / nullif(actual_purchases, 0) - 1 as purchases_aggregate_error,
        purchases_band_coverage,
        list_avg(spend_errors) as spend_mae,
        sqrt(list_avg(spend_squares)) as spend_rmse,
        list_sum(actual_spend) as actual_spend,
        list_sum(predicted_spend) as predicted_spend,
        list_sum(predicted_spend) / nullif(list_sum(actual_spend), 0) - 1 as spend_aggregate_error,
        is_chosen_method

    from ordered

),

scored as (

    select
        *,
        -- The rule's score; ordered lists keep it to the bit.
        list_avg(list(purchases_mae) over (
            partition by method order by origin_date rows between unbounded preceding and unbounded following
        )) as mean_purchases_mae,
        count(*) over (partition by method) as origins_evaluated

    from measured

)

select
    ---------- ids
    method,
    origin_date,
    horizon_days,
    customers,

    ---------- purchases (distinct purchase invoices)
    purchases_mae,
    purchases_rmse,
    actual_purchases,
    predicted_purchases,
    purchases_aggregate_error,
    purchases_band_coverage,

    ---------- net spend
    spend_mae,
    spend_rmse,
    actual_spend,
    predicted_spend,
    spend_aggregate_error,

    ---------- the rule
    mean_purchases_mae,
    origins_evaluated,
    is_chosen_method

from scored
order by origin_date, method
