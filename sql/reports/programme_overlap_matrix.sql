-- reports.programme_overlap_matrix: how many people two programmes pay at once, for every pair of
-- programmes (the diagonal is each programme alone), in each programme's latest month as of the night.
create or replace table reports.programme_overlap_matrix as
with

programmes as (
    select programme_id, latest_period_month
    from registry.programme
),

exclusive_pairs as (
    select distinct a.programme_id, b.programme_id as other_programme_id
    from registry.programme_exclusive as a
    join registry.programme_exclusive as b on b.group_number = a.group_number and b.programme_id <> a.programme_id
),

current_active as (
    select enrolment.person_id, enrolment.programme_id, enrolment.benefit_amount_monthly
    from registry.enrolment as enrolment
    join programmes
        on programmes.programme_id = enrolment.programme_id
        and programmes.latest_period_month = enrolment.period_month
    where enrolment.enrolment_status = 'active'
),

cells as (
    select
        mine.programme_id,
        other.programme_id as other_programme_id,
        count(distinct mine.person_id) as persons,
        sum(mine.benefit_amount_monthly) as benefit_amount_monthly
    from current_active as mine
    join current_active as other on other.person_id = mine.person_id
    group by mine.programme_id, other.programme_id
),

grid as (
    select a.programme_id, b.programme_id as other_programme_id
    from programmes as a
    cross join programmes as b
)

select
    -- key
    grid.programme_id,
    grid.other_programme_id,
    -- people and amounts
    coalesce(cells.persons, 0) as persons,
    coalesce(cells.benefit_amount_monthly, 0) as benefit_amount_monthly,
    -- flags
    exclusive_pairs.programme_id is not null as is_exclusive_pair,
    coalesce(cells.persons, 0) between 1 and 4 as is_small_cell
from grid
left join cells using (programme_id, other_programme_id)
left join exclusive_pairs using (programme_id, other_programme_id)
order by grid.programme_id, grid.other_programme_id;

comment on table reports.programme_overlap_matrix is 'One row per ordered pair of programmes (programme_id = other_programme_id: the programme alone): people actively paid by both, each in its latest month as of the night.';
comment on column reports.programme_overlap_matrix.programme_id is 'Row programme.';
comment on column reports.programme_overlap_matrix.other_programme_id is 'Column programme.';
comment on column reports.programme_overlap_matrix.persons is 'People actively paid by both programmes (by programme_id alone on the diagonal).';
comment on column reports.programme_overlap_matrix.benefit_amount_monthly is 'What programme_id pays those people for the month, local currency.';
comment on column reports.programme_overlap_matrix.is_exclusive_pair is 'True when programmes.yaml says one person may not combine the two programmes.';
comment on column reports.programme_overlap_matrix.is_small_cell is 'True for 1 to 4 people: published reports suppress the cell.';
