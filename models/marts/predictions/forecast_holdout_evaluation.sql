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

),

-- Sums over lists in customer order: a plain sum() of doubles adds them in whatever order the rows
-- arrive, which can change the last bit between two builds.
ordered as (

    select
        method,
        count(*) as customers,
        list(abs(predicted_purchases - actual_purchases) order by customer_id) as purchase_errors,
        list(power(predicted_purchases - actual_purchases, 2) order by customer_id) as squared_errors,
        list(abs(predicted_spend - actual_spend::double) order by customer_id) as spend_errors,
        list(predicted_purchases order by customer_id) as predicted,
        list(actual_purchases::double order by customer_id) as actual,
        list(predicted_purchases * actual_purchases order by customer_id) as cross_products,
        list(predicted_purchases * predicted_purchases order by customer_id) as predicted_squares,
        list(actual_purchases::double * actual_purchases order by customer_id) as actual_squares,
        list(predicted_spend order by customer_id) as predicted_spend,
        sum(actual_spend) as actual_spend

    from methods
    group by method

),

totals as (

    select
        *,
        list_sum(predicted) as predicted_purchases,
        list_sum(actual) as actual_purchases,
        list_sum(predicted_squares) as predicted_square_sum,
        list_sum(actual_squares) as actual_square_sum

    from ordered

)

select
    method,
    customers,
    list_avg(purchase_errors) as purchases_mae,
    sqrt(list_avg(squared_errors)) as purchases_rmse,
    actual_purchases,
    predicted_purchases,
    predicted_purchases / nullif(actual_purchases, 0) - 1 as purchases_aggregate_error,
    list_avg(spend_errors) as spend_mae,
    actual_spend,
    list_sum(predicted_spend) as predicted_spend,
    -- Pearson correlation from the sums.
    (customers * list_sum(cross_products) - predicted_purchases * actual_purchases)
        / sqrt((customers * predicted_square_sum - predicted_purchases ^ 2)
            * (customers * actual_square_sum - actual_purchases ^ 2))
        as purchases_correlation

from totals
order by method
