-- One row per K-means segment and item bought (every product category, and the segment's top products
-- by net spend): the segment's net spend on it and its lift against the whole customer base, i.e. what
-- the segment buys more (lift > 1) or less (lift < 1) than customers in general.
--
-- Categories come from customer_category_shares (one row per customer and category). Products are read
-- from the lines twice: once for spend per segment and product (a small aggregate), once for the buyers
-- of the top products only. Counting distinct buyers of every product at once held every customer and
-- product pair in memory, which ran out of 4 GB at 100x the real data.

with

-- The lines are read twice (segment_lines below): not materialized, so DuckDB scans the table twice
-- instead of copying its lines first (at 100x: 3.6 s and 2.4 GB of buffers against 1.4 s and 0.4 GB).
netted_lines as not materialized (

    select * from {{ ref('int_invoice_lines_netted') }}

),

customer_category_shares as (

    select * from {{ ref('customer_category_shares') }}

),

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

product_categories as (

    select * from {{ ref('product_categories') }}

),

-- Every customer line of a categorised code is in exactly one customer_category_shares row, which
-- carries the customer's segment (NULL for customers without one).
segment_customer_categories as (

    select
        segment_id,
        customer_id,
        category_id,
        category_name,
        net_spend

    from customer_category_shares
    where segment_id is not null

),

segment_names as (

    select
        segment_id,
        any_value(segment_name) as segment_name

    from customer_segments
    group by segment_id

),

segment_totals as (

    select
        segment_customer_categories.segment_id,
        any_value(segment_names.segment_name) as segment_name,
        sum(segment_customer_categories.net_spend) as segment_net_spend,
        count(distinct segment_customer_categories.customer_id) as segment_customers

    from segment_customer_categories
    inner join segment_names
        on segment_customer_categories.segment_id = segment_names.segment_id
    group by segment_customer_categories.segment_id

),

base_totals as (

    select
        sum(segment_net_spend) as base_net_spend,
        -- A customer is in one segment: the segments' customers add up to the base.
        sum(segment_customers) as base_customers

    from segment_totals

),

category_items as (

    select
        'category' as item_type,
        category_id::varchar as item_key,
        any_value(category_name) as item_name,
        segment_id,
        sum(net_spend) as net_spend,
        count(*) as buying_customers

    from segment_customer_categories
    group by category_id, segment_id

),

segment_lines as not materialized (

    select
        customer_segments.segment_id,
        netted_lines.customer_id,
        netted_lines.stock_code,
        netted_lines.net_value

    from netted_lines
    inner join customer_segments
        on netted_lines.customer_id = customer_segments.customer_id
    semi join product_categories
        on netted_lines.stock_code = product_categories.stock_code

),

product_spend as (

    select
        segment_id,
        stock_code,
        sum(net_value) as net_spend

    from segment_lines
    group by segment_id, stock_code

),

top_products as (

    select distinct stock_code

    from product_spend
    qualify row_number() over (partition by segment_id order by net_spend desc, stock_code)
        <= {{ number_var('segment_top_products', 1, 1000, whole=true) }}

),

-- Buyers of the top products in every segment (the base penetration needs them all).
top_product_buyers as (

    select
        segment_lines.segment_id,
        segment_lines.stock_code,
        count(distinct segment_lines.customer_id) as buying_customers

    from segment_lines
    semi join top_products
        on segment_lines.stock_code = top_products.stock_code
    group by segment_lines.segment_id, segment_lines.stock_code

),

product_items as (

    select
        'product' as item_type,
        product_spend.stock_code as item_key,
        product_categories.description as item_name,
        product_spend.segment_id,
        product_spend.net_spend,
        coalesce(top_product_buyers.buying_customers, 0) as buying_customers

    from product_spend
    inner join product_categories
        on product_spend.stock_code = product_categories.stock_code
    left join top_product_buyers
        on product_spend.segment_id = top_product_buyers.segment_id
        and product_spend.stock_code = top_product_buyers.stock_code

),

segment_items as (

    select * from category_items
    union all
    select * from product_items

),

-- Every segment together; customers add up because each is in one segment.
base_items as (

    select
        item_type,
        item_key,
        sum(net_spend) as base_net_spend,
        sum(buying_customers) as base_buying_customers

    from segment_items
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
    or spend_rank <= {{ number_var('segment_top_products', 1, 1000, whole=true) }}
order by segment_id, item_type, spend_rank
