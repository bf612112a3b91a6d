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

ranked as (

    select
        *,
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
        avg(predicted_purchases) as mean_predicted_purchases,
        avg(abs(predicted_purchases - actual_purchases)) as purchases_mae,
        sqrt(avg((predicted_purchases - actual_purchases) ^ 2)) as purchases_rmse,
        (sum(predicted_purchases) - sum(actual_purchases)) / nullif(sum(actual_purchases), 0)
            as purchases_aggregate_error,

        ---------- net spend
        avg(actual_spend) as mean_actual_spend,
        avg(predicted_spend) as mean_predicted_spend,
        avg(abs(predicted_spend - actual_spend)) as spend_mae,
        sqrt(avg((predicted_spend - actual_spend) ^ 2)) as spend_rmse,
        (sum(predicted_spend) - sum(actual_spend)) / nullif(sum(actual_spend), 0) as spend_aggregate_error,

        ---------- at least one repeat purchase
        avg(repeated::integer) as repeat_rate,
        avg(probability_repeat) as mean_probability_repeat,
        avg((probability_repeat - repeated::integer) ^ 2) as repeat_brier_score,
        (
            sum(mid_rank) filter (where repeated)
            - count(*) filter (where repeated) * (count(*) filter (where repeated) + 1) / 2
        ) / nullif(count(*) filter (where repeated) * count(*) filter (where not repeated), 0) as repeat_auc

    from ranked
    group by method, split

)

select * from evaluation
