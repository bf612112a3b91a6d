-- One row per K-means segment and item bought (every product category, and the segment's top products
-- by net spend): the segment's net spend on it and its lift against the whole customer base, i.e. what
-- the segment buys more (lift > 1) or less (lift < 1) than customers in general.

with

netted_lines as (

    select * from {{ ref('int_invoice_lines_netted') }}

),

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

product_categories as (

    select * from {{ ref('product_categories') }}

),

segment_lines as (

    select
        customer_segments.segment_id,
        customer_segments.segment_name,
        netted_lines.customer_id,
        netted_lines.stock_code,
        netted_lines.net_value,
        product_categories.category_id,
        product_categories.category_name,
        product_categories.description as product_description

    from netted_lines
    inner join customer_segments
        on netted_lines.customer_id = customer_segments.customer_id
    inner join product_categories
        on netted_lines.stock_code = product_categories.stock_code

),

segment_totals as (

    select
        segment_id,
        any_value(segment_name) as segment_name,
        sum(net_value) as segment_net_spend,
        count(distinct customer_id) as segment_customers

    from segment_lines
    group by segment_id

),

base_totals as (

    select
        sum(net_value) as base_net_spend,
        count(distinct customer_id) as base_customers

    from segment_lines

),

-- The same measures for both kinds of item: a category (key = category_id) or a product (stock_code).
items as (

    select
        'category' as item_type,
        category_id::varchar as item_key,
        category_name as item_name,
        segment_id,
        customer_id,
        net_value

    from segment_lines

    union all

    select
        'product' as item_type,
        stock_code as item_key,
        product_description as item_name,
        segment_id,
        customer_id,
        net_value

    from segment_lines

),

segment_items as (

    select
        item_type,
        item_key,
        any_value(item_name) as item_name,
        segment_id,
        sum(net_value) as net_spend,
        count(distinct customer_id) as buying_customers

    from items
    group by item_type, item_key, segment_id

),

base_items as (

    select
        item_type,
        item_key,
        sum(net_value) as base_net_spend,
        count(distinct customer_id) as base_buying_customers

    from items
    group by item_type, item_key

),

measured as (

    select
        ---------- ids
        segment_items.segment_id,
        segment_totals.segment_name,
        segment_items.item_type,
        segment_items.item_key,
        segment_items.item_name,

        ---------- spend
        segment_items.net_spend,
        segment_items.net_spend / nullif(segment_totals.segment_net_spend, 0) as share_of_segment_spend,
        base_items.base_net_spend / nullif(base_totals.base_net_spend, 0) as share_of_base_spend,

        ---------- reach
        segment_items.buying_customers,
        segment_items.buying_customers / segment_totals.segment_customers as segment_penetration,
        base_items.base_buying_customers / base_totals.base_customers as base_penetration,

        ---------- rank within the segment and item type, biggest spend first
        row_number() over (
            partition by segment_items.segment_id, segment_items.item_type
            order by segment_items.net_spend desc, segment_items.item_key
        ) as spend_rank

    from segment_items
    inner join segment_totals
        on segment_items.segment_id = segment_totals.segment_id
    inner join base_items
        on segment_items.item_type = base_items.item_type
        and segment_items.item_key = base_items.item_key
    cross join base_totals

)

select
    *,
    -- Lift against the whole base: > 1 means the segment spends a bigger share of its money here.
    share_of_segment_spend / nullif(share_of_base_spend, 0) as spend_lift,
    segment_penetration / nullif(base_penetration, 0) as penetration_lift

from measured
where item_type = 'category'
    or spend_rank <= {{ var('segment_top_products') }}
order by segment_id, item_type, spend_rank
