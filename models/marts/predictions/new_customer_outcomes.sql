-- One row per customer (of customer_rfm): what happened in the horizon after their first purchase
-- invoice, the target of new_customer_predictions, and which part of its time split they are in.
--
-- The horizon: build_dates.new_customer_horizon_days (var new_customer_horizon_days, 365, or half the
-- data's window when that is shorter: 187 days on the real data).
-- A customer's horizon runs from the first purchase invoice's timestamp for horizon_days days; it is
-- complete when it ends at or before the as-of date (the data holds everything before it).
--   actual_purchases: distinct purchase invoices other than the first, dated in the horizon.
--   actual_spend: their gross value less the matched value of the customer's cancellations dated in the
--     horizon after the first invoice (exact decimals; below 0 when cancellations of the first basket
--     outweigh later purchases). A cancellation after the horizon changes nothing, so the figure of a
--     complete horizon never moves as data arrives.
--   horizon_*: the customer's recency, frequency and monetary as of the horizon's end, computed as
--     customer_rfm computes them over the whole data: the segment their first horizon falls in.
-- Split, by first-purchase date, of the customers whose horizon is complete: 'train' before
-- build_dates.classifier_cutoff_date, 'test' from it; 'open' for a horizon still running (actuals
-- null). Real data: 2011-04-01, the month start two thirds of the way to the last complete horizon.

with

customer_invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

customers as (

    select customer_id from {{ ref('customer_rfm') }}

),

first_purchases as (

    select customer_id, first_invoice_no, first_purchase_at, basket_value
    from {{ ref('first_purchase_features') }}

),

-- The horizon and the split date have one home: build_dates (var new_customer_horizon_days, shortened
-- to half the window; var classifier_cutoff_date, else derived from the complete-horizon window).
split as (

    select
        new_customer_horizon_days as horizon_days,
        classifier_cutoff_date as split_date,
        as_of_date

    from {{ ref('build_dates') }}

),

horizons as (

    select
        first_purchases.*,
        split.horizon_days,
        split.split_date,
        first_purchases.first_purchase_at + to_days(split.horizon_days) as horizon_end_at,
        first_purchases.first_purchase_at + to_days(split.horizon_days) <= cast(split.as_of_date as timestamp)
            as is_horizon_complete

    from first_purchases
    cross join split

),

-- The customer's invoices after the first, dated in the horizon (whole or not yet).
later_invoices as (

    select
        horizons.customer_id,
        horizons.first_purchase_at,
        customer_invoices.invoice_no,
        customer_invoices.invoice_type,
        customer_invoices.invoiced_at,
        customer_invoices.gross_value,
        customer_invoices.cancelled_value

    from horizons
    inner join customer_invoices
        on horizons.customer_id = customer_invoices.customer_id
        and customer_invoices.invoiced_at >= horizons.first_purchase_at
        and customer_invoices.invoiced_at < horizons.horizon_end_at
        and customer_invoices.invoice_no != horizons.first_invoice_no

),

outcomes as (

    select
        customer_id,
        count(distinct invoice_no) filter (where invoice_type = 'purchase') as purchases,
        coalesce(sum(gross_value) filter (where invoice_type = 'purchase'), 0)
        -- A cancellation in the first invoice's minute counts as one before it (first_purchase_features'
        -- has_earlier_cancellation), not as an outcome.
        - coalesce(sum(cancelled_value) filter (
            where invoice_type = 'cancellation' and invoiced_at > first_purchase_at
        ), 0) as spend,
        max(invoiced_at) filter (where invoice_type = 'purchase') as last_purchase_at

    from later_invoices
    group by customer_id

),

final as (

    select
        ---------- ids
        customers.customer_id,
        horizons.first_invoice_no,
        horizons.first_purchase_at,

        ---------- the horizon and the split
        horizons.horizon_days,
        horizons.horizon_end_at,
        horizons.is_horizon_complete,
        case
            when not horizons.is_horizon_complete then 'open'
            when horizons.first_purchase_at < horizons.split_date then 'train'
            else 'test'
        end as split,
        horizons.split_date,

        ---------- outcomes in the horizon (null while it runs)
        case when horizons.is_horizon_complete then coalesce(outcomes.purchases, 0) end as actual_purchases,
        case when horizons.is_horizon_complete then coalesce(outcomes.spend, 0) end as actual_spend,

        ---------- RFM as of the horizon's end (null while it runs)
        case
            when horizons.is_horizon_complete
                then date_diff(
                    'day',
                    cast(coalesce(outcomes.last_purchase_at, horizons.first_purchase_at) as date),
                    cast(horizons.horizon_end_at as date)
                )
        end as horizon_recency_days,
        case when horizons.is_horizon_complete then 1 + coalesce(outcomes.purchases, 0) end as horizon_frequency,
        case when horizons.is_horizon_complete then horizons.basket_value + coalesce(outcomes.spend, 0) end
            as horizon_monetary

    from customers
    inner join horizons
        on customers.customer_id = horizons.customer_id
    left join outcomes
        on customers.customer_id = outcomes.customer_id

)

select * from final
