-- Fails for every segment name shared by two segments, and for every segment whose rows carry more
-- than one name: each segment has one name and no two segments share it (no id suffix needed).
with

segment_names as (
    select distinct
        segment_id,
        segment_name
    from {{ ref('customer_segments') }}
)

select
    segment_name,
    count(*) as segments
from segment_names
group by segment_name
having count(*) > 1

union all

select
    any_value(segment_name) as segment_name,
    count(*) as segments
from segment_names
group by segment_id
having count(*) > 1
