-- reports.exclusive_overlap: people actively paid by two programmes that programmes.yaml says one person
-- may not combine, in the latest month both programmes have reported.
create or replace table reports.exclusive_overlap as
with

exclusive as (
    select group_number, programme_id
    from registry.programme_exclusive
),

programmes as (
    select programme_id, latest_period_month
    from registry.programme
),

active as (
    select person_id, programme_id, period_month, benefit_amount_monthly, source, source_record_id
    from registry.enrolment
    where enrolment_status = 'active'
),

-- every ordered pair of programmes of one group, compared in the latest month both have reported
pairs as (
    select
        a.group_number,
        a.programme_id,
        b.programme_id as other_programme_id,
        least(pa.latest_period_month, pb.latest_period_month) as period_month
    from exclusive as a
    join exclusive as b on b.group_number = a.group_number and b.programme_id <> a.programme_id
    join programmes as pa on pa.programme_id = a.programme_id
    join programmes as pb on pb.programme_id = b.programme_id
),

overlapping as (
    select
        pairs.group_number,
        pairs.period_month,
        mine.person_id,
        mine.programme_id,
        mine.benefit_amount_monthly,
        mine.source,
        mine.source_record_id,
        pairs.other_programme_id
    from pairs
    join active as mine
        on mine.programme_id = pairs.programme_id and mine.period_month = pairs.period_month
    join active as other
        on other.person_id = mine.person_id
        and other.programme_id = pairs.other_programme_id
        and other.period_month = pairs.period_month
),

people as (
    select person_id, needs_review
    from registry.person
)

select
    -- key
    overlapping.person_id,
    overlapping.programme_id,
    overlapping.group_number as exclusive_group,
    overlapping.period_month,
    -- overlap
    list(distinct overlapping.other_programme_id order by overlapping.other_programme_id) as conflicting_programme_ids,
    any_value(overlapping.benefit_amount_monthly) as benefit_amount_monthly,
    -- evidence
    any_value(overlapping.source || ':' || overlapping.source_record_id) as payroll_record,
    any_value(people.needs_review) as needs_review
from overlapping
join people using (person_id)
group by overlapping.person_id, overlapping.programme_id, overlapping.group_number, overlapping.period_month
order by overlapping.group_number, overlapping.person_id, overlapping.programme_id;

comment on table reports.exclusive_overlap is 'One row per person, exclusive group and programme of the group that actively paid the person in a month another programme of the group also paid them (the latest month both programmes reported as of the night).';
comment on column reports.exclusive_overlap.person_id is 'Person (registry.person).';
comment on column reports.exclusive_overlap.programme_id is 'One of the programmes paying the person.';
comment on column reports.exclusive_overlap.exclusive_group is 'The exclusive group (registry.programme_exclusive.group_number).';
comment on column reports.exclusive_overlap.period_month is 'Month in which both were paid.';
comment on column reports.exclusive_overlap.conflicting_programme_ids is 'The other programmes of the group that paid the person that month.';
comment on column reports.exclusive_overlap.benefit_amount_monthly is 'Amount this programme paid the person that month, local currency.';
comment on column reports.exclusive_overlap.payroll_record is 'Payroll record (source:source_record_id) of this programme.';
comment on column reports.exclusive_overlap.needs_review is 'True when the person''s linkage is flagged for review: check the match before acting.';
