-- One row per purchase or cancellation line of a known customer and merchandise code, with what each
-- cancellation actually cancelled (int_cancellation_lines_matched holds the netting rule).
--
-- A view: purchases are the staged lines as they are (nothing cancels a purchase line itself; its
-- cancellations are lines of their own), so storing them again cost a 40 M-row write at 100x the real
-- data. A reader scans the staged purchase lines and the stored cancellation lines; nothing is joined.

{{ config(materialized='view') }}

with

staged_lines as (

    select * from {{ ref('stg_retail__invoice_lines') }}

),

cancellation_lines as (

    select * from {{ ref('int_cancellation_lines_matched') }}

),

purchase_lines as (

    select
        ---------- ids
        line_id,
        invoice_no,
        customer_id,
        stock_code,

        ---------- attributes
        'purchase' as line_type,
        description,
        country,
        invoiced_at,

        ---------- quantities
        quantity,
        0::bigint as requested_quantity,
        0::bigint as matched_quantity,
        0::bigint as unmatched_quantity,

        ---------- money (exact decimals)
        unit_price,
        -- The staged line value: quantity x unit price, or the file's line total when the price was derived from it.
        cast(line_value as decimal(18, 3)) as gross_value,
        0::decimal(18, 3) as cancelled_value,
        0::decimal(18, 3) as unmatched_value

    from staged_lines
    where line_status = 'purchase'

),

netted_cancellation_lines as (

    select
        ---------- ids
        line_id,
        invoice_no,
        customer_id,
        stock_code,

        ---------- attributes
        'cancellation' as line_type,
        description,
        country,
        invoiced_at,

        ---------- quantities
        quantity,
        requested_quantity,
        matched_quantity,
        unmatched_quantity,

        ---------- money (exact decimals)
        unit_price,
        0::decimal(18, 3) as gross_value,
        cancelled_value,
        unmatched_value

    from cancellation_lines

),

netted as (

    select * from purchase_lines
    union all
    select * from netted_cancellation_lines

)

-- Cast: DuckDB 2 types the difference DECIMAL(19,3), DuckDB 1.x DECIMAL(18,3), and a stored view whose
-- types differ from what the reader infers does not bind in the 1.x drivers inside BI tools.
select
    *,
    cast(gross_value - cancelled_value as decimal(18, 3)) as net_value

from netted
