-- One row per merchandise stock code: its usual description and every description it was sold under,
-- the text the product categories are learned from.

with

-- Read twice below: not materialized, so the staged lines are scanned, not copied (2.2 s -> 1.0 s at 100x).
lines as not materialized (

    select * from {{ ref('stg_retail__invoice_lines') }}
    where stock_code is not null
        and not is_non_merchandise

),

-- Descriptions of real sales only: stock adjustments and zero-price lines carry warehouse notes
-- ('damaged', 'check', 'Unknown') that say nothing about the product.
sale_descriptions as (

    select
        stock_code,
        description,
        count(*) as sale_lines

    from lines
    where description is not null
        and unit_price > 0
        and line_status in ('purchase', 'cancellation', 'missing_customer')
    group by stock_code, description

),

described as (

    select
        stock_code,
        -- The most used wording names the product; ties alphabetically.
        arg_max(description, sale_lines * 1e6 - rank_in_code) as description,
        string_agg(description, ' | ' order by description) as descriptions,
        count(*) as description_variants,
        sum(sale_lines) as sale_lines

    from (
        select
            *,
            row_number() over (partition by stock_code order by description) as rank_in_code
        from sale_descriptions
    ) as ranked
    group by stock_code

),

codes as (

    select distinct stock_code from lines

)

select
    codes.stock_code,
    described.description,
    coalesce(described.descriptions, '') as descriptions,
    coalesce(described.description_variants, 0) as description_variants,
    coalesce(described.sale_lines, 0) as sale_lines

from codes
left join described
    on codes.stock_code = described.stock_code
