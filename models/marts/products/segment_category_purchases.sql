-- One row per K-means segment and product category: the segment's net spend in the category and its
-- lift against the whole customer base, i.e. what the segment buys more (lift > 1) or less (lift < 1)
-- than customers in general. Shares, penetration, rank and lift: macro segment_item_measures, shared
-- with segment_product_purchases.

with

customer_category_shares as (

    select * from {{ ref('customer_category_shares') }}

),

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

-- customer_category_shares has one row per customer and category, so its rows are the buyers.
-- Customers without a segment (NULL segment_id) are left out, as they are of the segment totals.
category_spend as (

    select
        segment_id,
        category_id,
        any_value(category_name) as category_name,
        sum(net_spend) as net_spend,
        count(*) as buying_customers

    from customer_category_shares
    where segment_id is not null
    group by category_id, segment_id

),

{{ segment_item_measures('category_spend', 'category_id', 'category_name') }}

select * from item_measures
order by segment_id, spend_rank
