-- One row per distinct input line (copies that differ only in whitespace, case or number format are one
-- line, kept once and counted; with var identical_lines 'keep' every copy is a line of its own),
-- normalised, flagged, and with what becomes of it and why.

{%- set line_key = 'invoice_no, stock_code, description_key, country, quantity, invoiced_at, unit_price, line_total, customer_id, parse_error, line_copy' %}
{%- set marker = cancellation_marker() %}
{%- set min_invoice_date = date_var('min_invoice_date') %}
{%- set max_invoice_date = max_invoice_date() %}
{%- set as_of_date = as_of_date_setting() | trim %}

with

-- Read twice below: not materialized, or DuckDB would first copy (and at scale spill) every line.
source as not materialized (

    select * from {{ ref('base_retail__invoice_lines') }}

),

non_merchandise_codes as (

    select * from {{ ref('non_merchandise_codes') }}

),

-- The text columns hold few distinct values (tens of thousands against 54 M lines at 100x the real
-- data), so they are normalised once per value here rather than once per line: lower() and a regex
-- on every line, in each of the three reads of `normalised` below, would add about 20 s at 100x.
spellings as (

    select
        stock_code as raw_stock_code,
        description as raw_description,
        country as raw_country,
        count(*) as source_lines

    from source
    group by all

),

-- Codes trimmed and upper-cased (the export mixes `85123a` and `85123A`), text trimmed, empty as NULL.
-- The keys that decide whether two texts are the same also make every run of whitespace one space
-- and fold the case.
spelled as (

    select
        *,
        upper(trim(raw_stock_code)) as stock_code,
        nullif(trim(raw_description), '') as description,
        lower(nullif(trim(regexp_replace(raw_description, '\s+', ' ', 'g')), '')) as description_key,
        nullif(trim(regexp_replace(raw_country, '\s+', ' ', 'g')), '') as country_spelling,
        lower(country_spelling) as country_key

    from spellings

),

-- One spelling per country key, and per product-name key of a code: the most frequent in the data,
-- ties to the smallest text, so that the choice does not depend on row order. Every line shows its
-- country's, so one country is one value downstream; a product name is shown as written unless the
-- copies of one line disagree (see repeated_lines), which leaves the learned product categories alone.
country_names as (

    select
        country_key,
        first(country_spelling order by source_lines desc, country_spelling) as country

    from (select country_key, country_spelling, sum(source_lines) as source_lines from spelled group by all)
    group by country_key

),

description_names as (

    select
        stock_code,
        description_key,
        first(description order by source_lines desc, description) as usual_description

    from (select stock_code, description_key, description, sum(source_lines) as source_lines from spelled group by all)
    group by stock_code, description_key

),

-- The code list is tiny and so is the set of distinct codes: classify each code once, not each line.
stock_code_kinds as (

    select
        distinct_codes.stock_code,
        bool_or(codes.stock_code is not null) as is_non_merchandise

    from (select distinct stock_code from spelled) as distinct_codes
    left join non_merchandise_codes as codes
        on (codes.match_type = 'exact' and distinct_codes.stock_code = codes.stock_code)
        or (codes.match_type = 'prefix' and starts_with(distinct_codes.stock_code, codes.stock_code))
    group by distinct_codes.stock_code

),

-- Each spelling as read -> the values staging compares and shows, named by a 64-bit hash of the
-- spelling: joining the lines on one integer costs a third of joining them on three texts (and with
-- texts DuckDB built its hash table on the 54 M lines). Two spellings sharing a hash stop the build
-- here rather than be mixed up.
line_attributes as (

    select
        case
            when count(*) over (partition by hash(spelled.raw_stock_code, spelled.raw_description, spelled.raw_country)) = 1
                then hash(spelled.raw_stock_code, spelled.raw_description, spelled.raw_country)
            else error('two spellings of stock code, description and country share a 64-bit hash; '
                       || 'stg_retail__invoice_lines cannot tell their lines apart')
        end as spelling_hash,
        spelled.stock_code,
        spelled.description,
        spelled.description_key,
        description_names.usual_description,
        -- An absent country column (NULL from the reader) and a blank country are one spelling.
        coalesce(country_names.country, '(unknown)') as country,
        coalesce(stock_code_kinds.is_non_merchandise, false) as is_non_merchandise

    from spelled
    left join description_names
        on spelled.stock_code is not distinct from description_names.stock_code
        and spelled.description_key is not distinct from description_names.description_key
    left join country_names
        on spelled.country_key is not distinct from country_names.country_key
    left join stock_code_kinds
        on spelled.stock_code is not distinct from stock_code_kinds.stock_code

),

-- Every line in the values staging normalises. Invoice numbers trimmed, the cancellation marker in
-- upper case (`c536379` is `C536379`); numbers and timestamps are typed values already (2.50 = 2.5,
-- 6.0 = 6, `2010-12-01 08:26:00` = `12/1/2010 8:26`).
-- Read by three CTEs below: not materialized, as `source`.
normalised as not materialized (

    select
        source.source_row_id,
        case
            when upper(left(trim(source.invoice_no), length({{ marker }}))) = {{ marker }}
                then {{ marker }} || substr(trim(source.invoice_no), length({{ marker }}) + 1)
            else trim(source.invoice_no)
        end as invoice_no,
        line_attributes.stock_code,
        line_attributes.description_key,
        line_attributes.country,
        source.quantity,
        source.invoiced_at,
        source.unit_price,
        source.line_total,
        source.customer_id,
        source.parse_error,
        -- Part of the line key: NULL when identical lines are one line (var identical_lines 'collapse', the
        -- default: the copies of an export are artefacts), the line's own id when each is a real repeat
        -- order ('keep'), so that no two lines are the same.
        case when {{ keep_identical_lines() }} then source.source_row_id end as line_copy,
        line_attributes.description,
        line_attributes.usual_description,
        line_attributes.is_non_merchandise

    from source
    inner join line_attributes
        on hash(source.stock_code, source.description, source.country) = line_attributes.spelling_hash

),

-- Two lines are the same when every one of these (line_copy included) is: the one place that decides
-- it. Keep the first, count the copies. Nearly every line is unique, so only lines sharing a 64-bit hash of the key are
-- grouped column by column (a hash collision merely sends two different lines to that exact
-- comparison). Grouping all 54 M lines by every column at 100x the real data spilled to disk and took
-- twice as long.
repeated_hashes as (

    select hash({{ line_key }}) as row_hash

    from normalised
    group by row_hash
    having count(*) > 1

),

single_lines as (

    select
        {{ line_key }},
        description,
        is_non_merchandise,
        source_row_id,
        1 as source_line_count

    from normalised
    anti join repeated_hashes
        on hash({{ line_key }}) = repeated_hashes.row_hash

),

-- Copies written differently show the product's usual spelling, whatever their row order.
repeated_lines as (

    select
        {{ line_key }},
        case
            when min(description) = max(description) then min(description)
            else any_value(usual_description)
        end as description,
        any_value(is_non_merchandise) as is_non_merchandise,
        min(source_row_id) as source_row_id,
        count(*) as source_line_count

    from normalised
    semi join repeated_hashes
        on hash({{ line_key }}) = repeated_hashes.row_hash
    group by {{ line_key }}

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
        invoice_no,
        stock_code,
        customer_id,

        ---------- text
        description,
        country,

        ---------- numerics
        quantity,
        unit_price,
        -- BIGINT x DECIMAL(18,3) is exact in DECIMAL(38,3) for any two values: no line can overflow.
        -- Lines beyond max_line_value are implausible, so every kept line fits DECIMAL(18,3). An
        -- order-level file's line total is its value as stated (the unit price was derived from it and
        -- rounded), so net revenue is the sum of the totals.
        cast(coalesce(line_total, quantity * unit_price) as decimal(38, 3)) as line_value,

        ---------- timestamps
        invoiced_at,

        ---------- bookkeeping
        source_line_count,
        source_line_count - 1 as duplicate_count,
        parse_error,
        is_non_merchandise

    from deduplicated

),

flagged as (

    select
        *,

        ---------- flags
        coalesce(starts_with(invoice_no, {{ marker }}), false) as is_cancellation,
        duplicate_count > 0 as has_duplicates,
        customer_id is null as is_missing_customer,
        coalesce(unit_price <= 0, false) as is_invalid_price,
        coalesce(quantity < 0 and not starts_with(invoice_no, {{ marker }}), false) as is_stock_adjustment,
        parse_error is not null
            or invoice_no is null
            or quantity is null
            or invoiced_at is null
            or unit_price is null as is_unparseable,
        -- Outside the window the data can describe: before the floor, after the last plausible day, or
        -- not before the as-of date when one is set (recency is measured to it).
        coalesce(
            invoiced_at < {{ min_invoice_date }}
            or cast(invoiced_at as date) > {{ max_invoice_date }}
            {%- if as_of_date %}
            or invoiced_at >= {{ as_of_date }}
            {%- endif %},
            false
        ) as is_implausible_date,
        coalesce(
            abs(quantity) > {{ value_limit('max_quantity') }}
            or unit_price > {{ value_limit('max_unit_price') }}
            or abs(line_value) > {{ value_limit('max_line_value') }},
            false
        ) as is_implausible_value

    from renamed

),

-- What becomes of the line: the first reason that applies, in this order, or its use. A value that
-- cannot be right comes before what the line is about.
classified as (

    select
        *,
        case
            when is_unparseable then 'unparseable'
            when is_implausible_date then 'implausible_date'
            when is_implausible_value then 'implausible_value'
            when is_missing_customer then 'missing_customer'
            when is_non_merchandise then 'non_merchandise'
            when is_stock_adjustment then 'stock_adjustment'
            when is_invalid_price then 'invalid_price'
            when quantity = 0 or (is_cancellation and quantity > 0) then 'invalid_quantity'
            when is_cancellation then 'cancellation'
            else 'purchase'
        end as line_status

    from flagged

),

-- Why a line is not used, in words, for the status chosen above.
explained as (

    select
        *,
        case line_status
            when 'unparseable' then coalesce(parse_error, concat_ws('; ',
                case when invoice_no is null then 'invoice_no is empty' end,
                case when quantity is null then 'quantity is empty' end,
                case when invoiced_at is null then 'invoiced_at is empty' end,
                case when unit_price is null then 'unit_price is empty' end
            ))
            when 'implausible_date' then 'invoiced_at ' || invoiced_at || case
                when invoiced_at < {{ min_invoice_date }}
                    then ' is before min_invoice_date ' || {{ min_invoice_date }}
                when cast(invoiced_at as date) > {{ max_invoice_date }}
                    then ' is after max_invoice_date ' || {{ max_invoice_date }}
                else ' is not before as_of_date ' || {{ as_of_date or 'null' }}
            end
            when 'implausible_value' then concat_ws('; ',
                case when abs(quantity) > {{ value_limit('max_quantity') }}
                    then 'quantity ' || quantity || ' exceeds max_quantity ' || {{ value_limit_text('max_quantity') }} end,
                case when unit_price > {{ value_limit('max_unit_price') }}
                    then 'unit_price ' || unit_price || ' exceeds max_unit_price ' || {{ value_limit_text('max_unit_price') }} end,
                case when abs(line_value) > {{ value_limit('max_line_value') }}
                    then 'quantity x unit_price ' || line_value || ' exceeds max_line_value ' || {{ value_limit_text('max_line_value') }} end
            )
            when 'missing_customer' then 'no customer id'
            when 'non_merchandise' then 'stock code ' || stock_code || ' is not merchandise (seed non_merchandise_codes)'
            when 'stock_adjustment' then 'negative quantity ' || quantity || ' on invoice ' || invoice_no || ', which is not a cancellation'
            when 'invalid_price' then 'unit_price ' || unit_price || ' is not positive'
            when 'invalid_quantity' then case
                when quantity = 0 then 'quantity is 0'
                else 'positive quantity ' || quantity || ' on cancellation invoice ' || invoice_no
            end
        end as status_reason

    from classified

)

select * from explained
