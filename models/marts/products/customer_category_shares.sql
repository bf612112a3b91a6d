-- One row per customer and product category they bought: net spend in the category, its share of the
-- customer's net spend (what each customer buys) and the customer's K-means segment.
--
-- No count of distinct products per customer and category: it needs every customer x product pair
-- (26 M at 100x the real data) and made this the build's costliest customer-level model (20 s against
-- 9 s at 100x). Analysts who want it count distinct stock codes of int_invoice_lines_netted.

with

netted_lines as (

    select * from {{ ref('int_invoice_lines_netted') }}

),

product_categories as (

    select * from {{ ref('product_categories') }}

),

customers as (

    select customer_id from {{ ref('customer_rfm') }}

),

-- The segment makes the table filterable by segment; depending on customer_segments also lets dbt run
-- the segmentation (on the build's critical path) before this aggregate of the 40 M lines at 100x.
customer_segments as (

    select * from {{ ref('customer_segments') }}

),

category_spend as (

    select
        netted_lines.customer_id,
        product_categories.category_id,
        any_value(product_categories.category_name) as category_name,
        sum(netted_lines.gross_value) as gross_spend,
        sum(netted_lines.net_value) as net_spend,
        sum(netted_lines.quantity) filter (where netted_lines.line_type = 'purchase') as units_purchased

    from netted_lines
    inner join product_categories
        on netted_lines.stock_code = product_categories.stock_code
    group by netted_lines.customer_id, product_categories.category_id

),

-- Totals by a small aggregate rather than a window over the 5 M rows at 100x (2 s less).
customer_totals as (

    select
        customer_id,
        sum(net_spend) as net_spend

    from category_spend
    group by customer_id

)

select
    category_spend.customer_id,
    customer_segments.segment_id,
    category_spend.category_id,
    category_spend.category_name,
    category_spend.gross_spend,
    category_spend.net_spend,
    coalesce(category_spend.units_purchased, 0)::bigint as units_purchased,
    -- Shares only make sense against a positive total; customers who netted to zero or less get NULL.
    case
        when customer_totals.net_spend > 0 then category_spend.net_spend / customer_totals.net_spend
    end as share_of_net_spend

from category_spend
-- Customers of customer_rfm only (someone whose every line is a cancellation has no spend to share),
-- joined on the 5 M category rows at 100x rather than on the 40 M lines.
inner join customers
    on category_spend.customer_id = customers.customer_id
inner join customer_totals
    on category_spend.customer_id = customer_totals.customer_id
left join customer_segments
    on category_spend.customer_id = customer_segments.customer_id
