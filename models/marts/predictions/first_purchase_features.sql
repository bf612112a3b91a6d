-- One row per customer (of customer_rfm): what was known at the end of their first purchase invoice,
-- and nothing later. These are the features the first-purchase segment classifier learns from.
--
-- No leakage: every column comes from the lines of the first purchase invoice, or from lines dated at
-- or before its timestamp. Later invoices, and later cancellations of the first basket, are never read.

{#- One share column per product category. The categories are only known once product_categories is
    built, which dbt does before compiling this model. -#}
{%- set category_ids = [] -%}
{%- if execute -%}
    {%- set category_ids = run_query("select distinct category_id from " ~ ref('product_categories') ~ " order by 1").columns[0].values() -%}
{%- endif %}

with

netted_lines as (

    select * from {{ ref('int_invoice_lines_netted') }}

),

customer_invoices as (

    select * from {{ ref('int_customer_invoices') }}

),

product_categories as (

    select * from {{ ref('product_categories') }}

),

customers as (

    select customer_id from {{ ref('customer_rfm') }}

),

-- The earliest purchase invoice of each customer; two invoices in the same minute go by invoice number.
first_invoices as (

    select
        customer_id,
        invoice_no as first_invoice_no,
        invoiced_at as first_purchase_at

    from customer_invoices
    where invoice_type = 'purchase'
    qualify row_number() over (partition by customer_id order by invoiced_at, invoice_no) = 1

),

-- Every purchase line of the first invoice is in the basket. A code product_categories does not know (in
-- a build, one never sold with a description; when a new customer is scored, a product first sold
-- after the build) counts in the basket value and in no category share.
first_lines as (

    select
        netted_lines.*,
        product_categories.category_id

    from netted_lines
    inner join first_invoices
        on netted_lines.customer_id = first_invoices.customer_id
        and netted_lines.invoice_no = first_invoices.first_invoice_no
    left join product_categories
        on netted_lines.stock_code = product_categories.stock_code
    where netted_lines.line_type = 'purchase'

),

baskets as (

    select
        customer_id,
        -- An invoice has one country; mode() picks one deterministically if the data disagrees.
        mode(country order by country) as country,
        sum(gross_value) as basket_value,
        count(*) as basket_lines,
        count(distinct stock_code) as basket_products,
        sum(quantity) as basket_units,
        max(unit_price) as max_unit_price
        {%- for category_id in category_ids %},
        sum(gross_value) filter (where category_id = {{ category_id }}) as category_value_{{ category_id }}
        {%- endfor %}

    from first_lines
    group by customer_id

),

-- A cancellation dated at or before the first purchase refunds something bought before the data
-- window: a sign of an established customer, and already known when the first basket is placed.
earlier_cancellations as (

    select distinct customer_invoices.customer_id

    from customer_invoices
    inner join first_invoices
        on customer_invoices.customer_id = first_invoices.customer_id
    where customer_invoices.invoice_type = 'cancellation'
        and customer_invoices.invoiced_at <= first_invoices.first_purchase_at

)

select
    ---------- ids
    customers.customer_id,
    first_invoices.first_invoice_no,
    first_invoices.first_purchase_at,

    ---------- where and when
    baskets.country,
    month(first_invoices.first_purchase_at) as purchase_month,
    isodow(first_invoices.first_purchase_at) as purchase_weekday,
    hour(first_invoices.first_purchase_at) as purchase_hour,

    ---------- basket
    baskets.basket_value,
    baskets.basket_lines,
    baskets.basket_products,
    baskets.basket_units,
    baskets.basket_value::double / baskets.basket_units as mean_unit_price,
    baskets.max_unit_price,
    earlier_cancellations.customer_id is not null as has_earlier_cancellation,

    ---------- what was bought: share of the basket value per category
    {%- for category_id in category_ids %}
    coalesce(baskets.category_value_{{ category_id }}, 0) / baskets.basket_value as category_share_{{ category_id }}
    {{- ',' if not loop.last }}
    {%- endfor %}

from customers
inner join first_invoices
    on customers.customer_id = first_invoices.customer_id
inner join baskets
    on customers.customer_id = baskets.customer_id
left join earlier_cancellations
    on customers.customer_id = earlier_cancellations.customer_id
