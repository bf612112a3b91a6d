-- One row per customer number: the shop's own id it stands for. Customer numbers are the file's when
-- its ids are whole numbers; for text ids and e-mail addresses (var customer_id_kind, as the loader
-- decided it in build_input) they are made from the key by a 60-bit hash, and the loader keeps that key
-- on each line (customer_key, NULL for numbers), so the shop's id is kept here and exports carry it.

with

lines as (

    select
        customer_id,
        customer_key

    from {{ ref('base_retail__invoice_lines') }}
    where customer_id is not null

),

build_input as (

    select customer_id_kind from {{ ref('build_input') }}

),

-- One row per (number, key) pair: the few distinct customers of the lines (with number ids every key is
-- NULL). Two keys hashed to one number stay two rows, which the test of unique customer_id reports.
customer_keys as (

    select
        customer_id,
        customer_key

    from lines
    group by customer_id, customer_key

),

identities as (

    select
        customer_keys.customer_id,
        coalesce(customer_keys.customer_key, cast(customer_keys.customer_id as varchar)) as customer_key,
        case when build_input.customer_id_kind = 'email' then customer_keys.customer_key end as email

    from customer_keys
    cross join build_input

)

select * from identities
