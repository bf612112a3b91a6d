-- One row per segmented customer for the campaign named by var campaign_name (no rows when it is
-- empty): the customer's segment and campaign group, treatment or control.
--
-- Stratified within segment: each segment's customers are ordered by a keyed hash of campaign and
-- customer (md5 of both, so another campaign draws other customers, and the same campaign draws the
-- same ones on every build of the same segments), and the first round(share x customers) are control
-- (halves rounded up).
-- Each segment's control share is then within half a customer of var campaign_control_share.

{%- set campaign = var('campaign_name') | string | trim %}

with

customer_segments as (

    select * from {{ ref('customer_segments') }}

),

drawn as (

    select
        {{ sql_string(campaign) }} as campaign,
        customer_id,
        segment_id,
        md5({{ sql_string(campaign) }} || '|' || customer_id::varchar) as draw_key

    from customer_segments
    where {{ sql_string(campaign) }} != ''

),

ranked as (

    select
        campaign,
        customer_id,
        segment_id,
        row_number() over (partition by segment_id order by draw_key, customer_id) as draw_rank,
        count(*) over (partition by segment_id) as segment_customers

    from drawn

),

grouped as (

    select
        ---------- ids
        campaign,
        customer_id,
        segment_id,

        ---------- group
        case
            when draw_rank <= round(segment_customers * {{ number_var('campaign_control_share', 0, 0.5) }})
                then 'control'
            else 'treatment'
        end as campaign_group

    from ranked

)

select * from grouped
