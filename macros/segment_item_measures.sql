{#- The CTEs that measure what a segment buys, shared by segment_category_purchases and
    segment_product_purchases so that a category's and a product's share, penetration, rank and lift
    mean the same thing and are computed in one place.

    `items` is the caller's CTE of one row per segment and item, with columns segment_id, `item_key`,
    `item_name`, net_spend and buying_customers (distinct segment customers with a line of the item).
    The caller also imports customer_category_shares and customer_segments as CTEs of those names: the
    segment totals are the categorised spend and buyers of each segment, for products as for categories.
    Defines segment_totals, base_totals, base_items, measured and, last, item_measures (every column
    of the mart); the caller selects from item_measures.

    A macro rather than an intermediate model of segment totals: the totals come from marts
    (customer_category_shares, customer_segments), which the intermediate layer must not read, and
    what follows the totals (base totals, shares, penetration, lift) is shared too. -#}
{% macro segment_item_measures(items, item_key, item_name) %}

segment_names as (

    select
        segment_id,
        any_value(segment_name) as segment_name

    from customer_segments
    group by segment_id

),

-- Every customer line of a categorised code is in exactly one customer_category_shares row, which
-- carries the customer's segment (NULL for customers without one).
segment_totals as (

    select
        customer_category_shares.segment_id,
        any_value(segment_names.segment_name) as segment_name,
        sum(customer_category_shares.net_spend) as segment_net_spend,
        count(distinct customer_category_shares.customer_id) as segment_customers

    from customer_category_shares
    inner join segment_names
        on customer_category_shares.segment_id = segment_names.segment_id
    group by customer_category_shares.segment_id

),

base_totals as (

    select
        sum(segment_net_spend) as base_net_spend,
        -- A customer is in one segment: the segments' customers add up to the base.
        sum(segment_customers) as base_customers

    from segment_totals

),

-- Every segment together; customers add up because each is in one segment.
base_items as (

    select
        {{ item_key }},
        sum(net_spend) as base_net_spend,
        sum(buying_customers) as base_buying_customers

    from {{ items }}
    group by {{ item_key }}

),

measured as (

    select
        ---------- ids
        {{ items }}.segment_id,
        segment_totals.segment_name,
        {{ items }}.{{ item_key }},
        {{ items }}.{{ item_name }},

        ---------- spend
        {{ items }}.net_spend,
        {{ items }}.net_spend / nullif(segment_totals.segment_net_spend, 0) as share_of_segment_spend,
        base_items.base_net_spend / nullif(base_totals.base_net_spend, 0) as share_of_base_spend,

        ---------- reach
        {{ items }}.buying_customers,
        {{ items }}.buying_customers / segment_totals.segment_customers as segment_penetration,
        base_items.base_buying_customers / base_totals.base_customers as base_penetration,

        ---------- rank within the segment, biggest spend first
        row_number() over (
            partition by {{ items }}.segment_id
            order by {{ items }}.net_spend desc, {{ items }}.{{ item_key }}
        ) as spend_rank

    from {{ items }}
    inner join segment_totals
        on {{ items }}.segment_id = segment_totals.segment_id
    inner join base_items
        on {{ items }}.{{ item_key }} = base_items.{{ item_key }}
    cross join base_totals

),

item_measures as (

    select
        *,
        -- Lift against the whole base: > 1 means the segment spends a bigger share of its money here.
        share_of_segment_spend / nullif(share_of_base_spend, 0) as spend_lift,
        segment_penetration / nullif(base_penetration, 0) as penetration_lift

    from measured

)

{% endmacro %}
