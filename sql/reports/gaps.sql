-- reports.gaps: people who qualify for a programme by its rules, are alive, and are not actively paid by
-- it in its latest month as of the night. Someone paid by a programme that programmes.yaml says cannot be
-- combined with it is not a gap: the rules forbid receiving both.
create or replace table reports.gaps as
with

eligible as (
    select person_id, programme_id
    from reports.eligibility
    where is_eligible
),

people as (
    select person_id, is_deceased, admin1, admin2, needs_review
    from registry.person
),

-- only programmes with a payroll in the warehouse can show who is missing from it
programmes as (
    select programme_id, latest_period_month
    from registry.programme
    where latest_period_month is not null
),

exclusive_pairs as (
    select a.programme_id, b.programme_id as other_programme_id
    from registry.programme_exclusive as a
    join registry.programme_exclusive as b on b.group_number = a.group_number and b.programme_id <> a.programme_id
),

current_enrolment as (
    select enrolment.person_id, enrolment.programme_id, enrolment.enrolment_status
    from registry.enrolment as enrolment
    join programmes
        on programmes.programme_id = enrolment.programme_id
        and programmes.latest_period_month = enrolment.period_month
),

current_active as (
    select person_id, programme_id
    from current_enrolment
    where enrolment_status = 'active'
),

candidates as (
    select eligible.person_id, eligible.programme_id, programmes.latest_period_month as period_month
    from eligible
    join programmes using (programme_id)
    join people using (person_id)
    where not people.is_deceased
),

gaps as (
    select candidates.*
    from candidates
    where not exists (
        select 1 from current_active
        where current_active.person_id = candidates.person_id
            and current_active.programme_id = candidates.programme_id
    )
    and not exists (
        select 1 from current_active
        join exclusive_pairs on exclusive_pairs.other_programme_id = current_active.programme_id
        where current_active.person_id = candidates.person_id
            and exclusive_pairs.programme_id = candidates.programme_id
    )
),

-- what else the person receives, to tell a partial gap from a person no programme reaches
received as (
    select person_id, list(programme_id order by programme_id) as programme_ids
    from current_active
    group by person_id
)

select
    -- key
    gaps.person_id,
    gaps.programme_id,
    gaps.period_month,
    -- status
    current_enrolment.enrolment_status,
    coalesce(received.programme_ids, []) as programmes_received,
    received.person_id is null as is_unserved,
    -- place
    people.admin1,
    people.admin2,
    -- evidence
    people.needs_review
from gaps
join people using (person_id)
left join current_enrolment using (person_id, programme_id)
left join received using (person_id)
order by gaps.programme_id, gaps.person_id;

comment on table reports.gaps is 'One row per living person and programme the person qualifies for (rules and means test) but is not actively paid by in its latest month as of the night, and is not paid by a programme it excludes.';
comment on column reports.gaps.person_id is 'Person (registry.person).';
comment on column reports.gaps.programme_id is 'Programme the person qualifies for and does not receive.';
comment on column reports.gaps.period_month is 'The programme''s latest month as of the night.';
comment on column reports.gaps.enrolment_status is 'suspended or exited when the programme lists the person that month without paying; null when it does not list them.';
comment on column reports.gaps.programmes_received is 'Programmes actively paying the person in their latest month (possibly empty).';
comment on column reports.gaps.is_unserved is 'True when no programme actively pays the person in its latest month: no programme reaches them. (Judged on payments, not on eligibility, so a household the warehouse knows only in part does not make a paid person look unserved.)';
comment on column reports.gaps.admin1 is 'Province of the person (registry.person).';
comment on column reports.gaps.admin2 is 'District of the person (registry.person).';
comment on column reports.gaps.needs_review is 'True when the person''s linkage is flagged for review.';
