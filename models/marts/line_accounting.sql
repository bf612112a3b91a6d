-- One row per source (file, or sheet of a workbook) and outcome: what became of every input line. The
-- input lines add up to the file's lines (for CSV: its rows after the header, loaded or rejected).

with

lines as (

    select * from {{ ref('stg_retail__invoice_lines') }}

),

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
        ('duplicate_copy', false, 'Extra copy of a line that is the same once staging normalises it (trim, case, number format); one copy is kept (var identical_lines: collapse)'),
        ('rejected', false, 'Not valid CSV (fields missing or extra, unterminated quote, bad bytes): not loaded, see base_retail__rejected_lines'),
        ('unparseable', false, 'A required value is missing or cannot be parsed (see parse_error)'),
        ('implausible_date', false, 'Dated before var min_invoice_date, after var max_invoice_date, or not before var as_of_date when set (see status_reason)'),
        ('implausible_value', false, 'Quantity, unit price or quantity x unit price beyond var max_quantity, max_unit_price or max_line_value (see status_reason); not summed in line_value'),
        ('missing_customer', false, 'No customer id: cannot be attributed to a customer'),
        ('non_merchandise', false, 'Postage, fee, discount, manual, voucher or bad-debt code'),
        ('stock_adjustment', false, 'Negative quantity on an invoice that is not a cancellation'),
        ('invalid_price', false, 'Unit price zero or negative'),
        ('invalid_quantity', false, 'Zero quantity, or a positive quantity on a cancellation invoice')
    ) as outcome_list (outcome, is_kept, explanation)

),

-- The reader numbers the lines of each source (file or sheet) with consecutive row ids, one source
-- after another: so a staged line's source is found from its id (a staged line keeps its first copy's
-- id) by a range join on this one-row-per-source table, not a join of every line with every line.
sources as (

    select
        source_name,
        min(source_row_id) as first_row_id,
        max(source_row_id) as last_row_id,
        count(*) as input_lines,
        sum(coalesce(line_total, quantity * unit_price)) as line_value

    from input_lines
    group by source_name

),

staged_lines as (

    select
        sources.source_name,
        lines.line_status,
        lines.line_value,
        lines.is_implausible_value

    from lines
    inner join sources
        on lines.line_id between sources.first_row_id and sources.last_row_id

),

staged_totals as (

    select
        source_name,
        count(*) as staged_lines,
        sum(line_value) as line_value

    from staged_lines
    group by source_name

),

source_names as (

    select source_name from sources
    union
    select source_name from rejected_lines

),

-- Implausible values are left out of the sums: a few lines near the limits of BIGINT x DECIMAL(18,3)
-- would overflow any total, and a sum dominated by one absurd line says nothing.
counted as (

    select
        source_name,
        line_status as outcome,
        count(*) as input_lines,
        sum(line_value) filter (where not is_implausible_value) as line_value

    from staged_lines
    group by all

    union all

    -- The duplicate copies of a source are its input lines that did not become a staged line: counted
    -- where they were read, so a sheet that repeats another is all duplicate copies.
    select
        sources.source_name,
        'duplicate_copy' as outcome,
        sources.input_lines - coalesce(staged_totals.staged_lines, 0) as input_lines,
        coalesce(sources.line_value, 0) - coalesce(staged_totals.line_value, 0) as line_value

    from sources
    left join staged_totals
        on sources.source_name = staged_totals.source_name

    union all

    select
        source_name,
        'rejected' as outcome,
        count(*) as input_lines,
        cast(null as decimal(38, 3)) as line_value

    from rejected_lines
    group by all

),

accounted as (

    select
        source_names.source_name,
        outcomes.outcome,
        outcomes.is_kept,
        outcomes.explanation,
        coalesce(counted.input_lines, 0)::bigint as input_lines,
        coalesce(counted.line_value, 0)::decimal(38, 3) as line_value

    from source_names
    cross join outcomes
    left join counted
        on source_names.source_name = counted.source_name
        and outcomes.outcome = counted.outcome

)

select
    *,
    input_lines / sum(input_lines) over () as share_of_input_lines

from accounted
order by source_name, is_kept desc, input_lines desc, outcome
