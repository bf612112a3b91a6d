-- One row per new-customer method and split ('train': in-sample, 'test': out-of-sample): the errors of
-- the predicted purchases and spend in the horizon after the first invoice, and the Brier score and AUC
-- of the repeat probability. Computed from new_customer_predictions alone (customers whose horizon is
-- complete), so every figure can be traced to customers.
--   aggregate error: (sum predicted - sum actual) / sum actual.
--   AUC: the Mann-Whitney form, (sum of the repeaters' mid-ranks - n1 (n1 + 1) / 2) / (n1 n0), equal
--   probabilities sharing their mean rank; null when the split holds only one kind of customer.

with

predictions as (

    select * from {{ ref('new_customer_predictions') }}
    where split in ('train', 'test')

),

-- Every term summed below is an exact decimal: a sum of doubles depends on the order DuckDB's threads
-- add them in, and the same input must give the same bytes.
ranked as (

    select
        *,
        cast(predicted_purchases - actual_purchases as decimal(38, 10)) as purchases_error,
        cast(predicted_spend - actual_spend as decimal(38, 10)) as spend_error,
        cast(predicted_purchases as decimal(38, 10)) as exact_predicted_purchases,
        cast(predicted_spend as decimal(38, 10)) as exact_predicted_spend,
        cast(actual_spend as decimal(38, 10)) as exact_actual_spend,
        cast(probability_repeat as decimal(38, 10)) as exact_probability_repeat,
        cast(probability_repeat - (actual_purchases > 0)::integer as decimal(38, 10)) as repeat_error,
        actual_purchases > 0 as repeated,
        rank() over (partition by method, split order by probability_repeat)
        + (count(*) over (partition by method, split, probability_repeat) - 1) / 2 as mid_rank

    from predictions

),

evaluation as (

    select
        method,
        split,
        any_value(horizon_days) as horizon_days,
        count(*) as customers,

        ---------- purchases after the first invoice
        avg(actual_purchases) as mean_actual_purchases,
        avg(exact_predicted_purchases)::double as mean_predicted_purchases,
        avg(abs(purchases_error))::double as purchases_mae,
        sqrt(avg(purchases_error * purchases_error)::double) as purchases_rmse,
        (sum(purchases_error) / nullif(sum(actual_purchases), 0))::double as purchases_aggregate_error,

        ---------- net spend
        avg(exact_actual_spend)::double as mean_actual_spend,
        avg(exact_predicted_spend)::double as mean_predicted_spend,
        avg(abs(spend_error))::double as spend_mae,
        sqrt(avg(spend_error * spend_error)::double) as spend_rmse,
        (sum(spend_error) / nullif(sum(exact_actual_spend), 0))::double as spend_aggregate_error,

        ---------- at least one repeat purchase
        avg(repeated::integer) as repeat_rate,
        avg(exact_probability_repeat)::double as mean_probability_repeat,
        avg(repeat_error * repeat_error)::double as repeat_brier_score,
        (
            sum(mid_rank) filter (where repeated)
            - count(*) filter (where repeated) * (count(*) filter (where repeated) + 1) / 2
        ) / nullif(count(*) filter (where repeated) * count(*) filter (where not repeated), 0) as repeat_auc

    from ranked
    group by method, split

)

select * from evaluation
