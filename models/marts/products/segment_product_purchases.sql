-- One row per K-means segment and one of its top var segment_top_products products by net spend: the
-- segment's net spend on the product and its lift against the whole customer base, i.e. what the
-- segment buys more (lift > 1) or less (lift < 1) than customers in general. Shares, penetration, rank
-- and lift: macro segment_item_measures, shared with segment_category_purchases.
--
-- Products are read from the lines twice: once for spend per segment and product (a small aggregate),
-- once for the buyers of the top products only. Counting distinct buyers of every product at once held
-- every customer and product pair in memory, which ran out of 4 GB at 100x the real data.

with

-- The lines are read twice (segment_lines below): not materialized, so DuckDB scans the table twice
-- instead of copying its lines first (at 100x: 3.6 s and 2.4 GB of buffers against 1.4 s and 0.4 GB).
netted_lines as not materialized (

    select * from {{ ref('int_invoice_lines_netted') }}

),

-- For the segment totals of segment_item_measures: shares are of the segment's categorised spend.
customer_category_shares as (

    select * from {{ ref('customer_category_shares') }}

),

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

product_categories as (

    select * from {{ ref('product_categories') }}

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

-- Every product a segment bought, so that base spend and ranks count them all. Buyers are counted for
-- the products in some segment's top list only: 0 for the rest, which are in no segment's top rows.
product_items as (

    select
        product_spend.segment_id,
        product_spend.stock_code,
        product_categories.description,
        product_spend.net_spend,
        coalesce(top_product_buyers.buying_customers, 0) as buying_customers

    from product_spend
    inner join product_categories
        on product_spend.stock_code = product_categories.stock_code
    left join top_product_buyers
        on product_spend.segment_id = top_product_buyers.segment_id
        and product_spend.stock_code = top_product_buyers.stock_code

),

{{ segment_item_measures('product_items', 'stock_code', 'description') }}

select * from item_measures
where spend_rank <= {{ number_var('segment_top_products', 1, 1000, whole=true) }}
order by segment_id, spend_rank
