-- One row per customer and product category they bought: net spend in the category and its share of
-- the customer's net spend (what each customer buys).

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

category_spend as (

    select
        netted_lines.customer_id,
        product_categories.category_id,
        any_value(product_categories.category_name) as category_name,
        sum(netted_lines.gross_value) as gross_spend,
        sum(netted_lines.net_value) as net_spend,
        sum(netted_lines.quantity) filter (where netted_lines.line_type = 'purchase') as units_purchased,
        count(distinct netted_lines.stock_code) filter (where netted_lines.line_type = 'purchase') as products_purchased

    from netted_lines
    inner join customers
        on netted_lines.customer_id = customers.customer_id
    inner join product_categories
        on netted_lines.stock_code = product_categories.stock_code
    group by netted_lines.customer_id, product_categories.category_id

)

select
    customer_id,
    category_id,
    category_name,
    gross_spend,
    net_spend,
    coalesce(units_purchased, 0) as units_purchased,
    products_purchased,
    -- Shares only make sense against a positive total; customers who netted to zero or less get NULL.
    case
        when sum(net_spend) over (partition by customer_id) > 0
            then net_spend / sum(net_spend) over (partition by customer_id)
    end as share_of_net_spend

from category_spend
