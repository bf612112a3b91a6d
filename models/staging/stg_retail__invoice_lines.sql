-- One row per distinct input line (exact duplicates kept once and counted), typed, trimmed and flagged.

{%- set read_columns = 'invoice_no, stock_code, description, quantity, invoiced_at, unit_price, customer_id, country, parse_error' %}

with

-- Read by four CTEs below: not materialized, or DuckDB would first copy (and at scale spill) every line.
source as not materialized (

    select * from {{ ref('base_retail__invoice_lines') }}

),

non_merchandise_codes as (

    select * from {{ ref('non_merchandise_codes') }}

),

-- Exact duplicates are identical in every column as read: keep the first, count the copies. Nearly
-- every line is unique, so only lines sharing a 64-bit hash of the whole row are grouped column by column
-- (a hash collision merely sends two different lines to that exact comparison). Grouping all 54 M lines
-- by every column at 100x the real data spilled to disk and took twice as long.
repeated_hashes as (

    select hash({{ read_columns }}) as row_hash

    from source
    group by row_hash
    having count(*) > 1

),

single_lines as (

    select
        {{ read_columns }},
        source_row_id,
        1 as source_line_count

    from source
    anti join repeated_hashes
        on hash({{ read_columns }}) = repeated_hashes.row_hash

),

repeated_lines as (

    select
        {{ read_columns }},
        min(source_row_id) as source_row_id,
        count(*) as source_line_count

    from source
    semi join repeated_hashes
        on hash({{ read_columns }}) = repeated_hashes.row_hash
    group by all

),

deduplicated as (

    select * from single_lines
    union all
    select * from repeated_lines

),

renamed as (

    select
        ---------- ids
        source_row_id as line_id,
        trim(invoice_no) as invoice_no,
        upper(trim(stock_code)) as stock_code,
        customer_id,

        ---------- text
        nullif(trim(description), '') as description,
        nullif(trim(country), '') as country,

        ---------- numerics
        quantity,
        unit_price,
        quantity * unit_price as line_value,

        ---------- timestamps
        invoiced_at,

        ---------- bookkeeping
        source_line_count,
        source_line_count - 1 as duplicate_count,
        parse_error

    from deduplicated

),

-- The code list is tiny and so is the set of distinct codes: classify each code once, not each line.
-- The codes are read from the source, not from `renamed`: a second reader of the deduplicated lines
-- would make DuckDB materialise all of them once more (a third of this model's time at 100x).
stock_code_kinds as (

    select
        distinct_codes.stock_code,
        bool_or(codes.stock_code is not null) as is_non_merchandise

    from (select distinct upper(trim(stock_code)) as stock_code from source) as distinct_codes
    left join non_merchandise_codes as codes
        on (codes.match_type = 'exact' and distinct_codes.stock_code = codes.stock_code)
        or (codes.match_type = 'prefix' and starts_with(distinct_codes.stock_code, codes.stock_code))
    group by distinct_codes.stock_code

),

flagged as (

    select
        renamed.*,

        ---------- flags
        coalesce(starts_with(upper(renamed.invoice_no), {{ cancellation_marker() }}), false) as is_cancellation,
        renamed.duplicate_count > 0 as has_duplicates,
        renamed.customer_id is null as is_missing_customer,
        coalesce(stock_code_kinds.is_non_merchandise, false) as is_non_merchandise,
        coalesce(renamed.unit_price <= 0, false) as is_invalid_price,
        coalesce(renamed.quantity < 0 and not starts_with(upper(renamed.invoice_no), {{ cancellation_marker() }}), false)
            as is_stock_adjustment,
        renamed.parse_error is not null
            or renamed.invoice_no is null
            or renamed.quantity is null
            or renamed.invoiced_at is null
            or renamed.unit_price is null as is_unparseable

    from renamed
    left join stock_code_kinds
        on renamed.stock_code is not distinct from stock_code_kinds.stock_code

),

-- What becomes of the line: the first reason that applies, in this order, or its use.
classified as (

    select
        *,
        case
            when is_unparseable then 'unparseable'
            when is_missing_customer then 'missing_customer'
            when is_non_merchandise then 'non_merchandise'
            when is_stock_adjustment then 'stock_adjustment'
            when is_invalid_price then 'invalid_price'
            when quantity = 0 or (is_cancellation and quantity > 0) then 'invalid_quantity'
            when is_cancellation then 'cancellation'
            else 'purchase'
        end as line_status

    from flagged

)

select * from classified
