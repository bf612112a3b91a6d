-- One row per source (file, or sheet of a workbook) and outcome: what became of every input line. The
-- input lines add up to the file's lines (for CSV: its rows after the header, loaded or rejected).

with

lines as (

    select * from {{ ref('stg_retail__invoice_lines') }}

),

-- Where each line was read (source_name), by its row id; the staged lines keep the first copy's id.
input_lines as (

    select * from {{ ref('base_retail__invoice_lines') }}

),

rejected_lines as (

    select * from {{ ref('base_retail__rejected_lines') }}

),

outcomes as (

    select * from (values
        ('purchase', true, 'Purchase line used for spend and frequency'),
        ('cancellation', true, 'Cancellation line netted against the customer''s earlier purchases'),
        ('duplicate_copy', false, 'Extra copy of a line identical in every column; one copy is kept'),
        ('rejected', false, 'Not valid CSV (fields missing or extra, unterminated quote, bad bytes): not loaded, see base_retail__rejected_lines'),
        ('unparseable', false, 'A required value is missing or cannot be parsed (see parse_error)'),
        ('missing_customer', false, 'No customer id: cannot be attributed to a customer'),
        ('non_merchandise', false, 'Postage, fee, discount, manual, voucher or bad-debt code'),
        ('stock_adjustment', false, 'Negative quantity on an invoice that is not a cancellation'),
        ('invalid_price', false, 'Unit price zero or negative'),
        ('invalid_quantity', false, 'Zero quantity, or a positive quantity on a cancellation invoice')
    ) as outcome_list (outcome, is_kept, explanation)

),

sources as (

    select source_name from input_lines
    union
    select source_name from rejected_lines

),

counted as (

    select
        input_lines.source_name,
        lines.line_status as outcome,
        count(*) as input_lines,
        sum(lines.line_value) as line_value

    from lines
    inner join input_lines
        on lines.line_id = input_lines.source_row_id
    group by all

    union all

    -- A duplicate copy is an input line that did not become a staged line: counted where it was read,
    -- so a sheet that repeats another is all duplicate copies.
    select
        input_lines.source_name,
        'duplicate_copy' as outcome,
        count(*) as input_lines,
        sum(input_lines.quantity * input_lines.unit_price) as line_value

    from input_lines
    anti join lines
        on input_lines.source_row_id = lines.line_id
    group by all

    union all

    select
        source_name,
        'rejected' as outcome,
        count(*) as input_lines,
        cast(null as decimal(18, 3)) as line_value

    from rejected_lines
    group by all

),

accounted as (

    select
        sources.source_name,
        outcomes.outcome,
        outcomes.is_kept,
        outcomes.explanation,
        coalesce(counted.input_lines, 0)::bigint as input_lines,
        coalesce(counted.line_value, 0)::decimal(18, 3) as line_value

    from sources
    cross join outcomes
    left join counted
        on sources.source_name = counted.source_name
        and outcomes.outcome = counted.outcome

)

select
    *,
    input_lines / sum(input_lines) over () as share_of_input_lines

from accounted
order by source_name, is_kept desc, input_lines desc, outcome
