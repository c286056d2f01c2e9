-- reports.deceased_paid: people paid by a programme for months that began after their registered death.
-- History, not only the latest month: every month paid since the death counts.
create or replace table reports.deceased_paid as
with

deaths as (
    select person_id, date_of_death, date_of_death_source, needs_review
    from registry.person
    where is_deceased and date_of_death is not null
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

-- a month paid after death: the month began after the day of death
paid_after_death as (
    select active.*, deaths.date_of_death, deaths.date_of_death_source, deaths.needs_review
    from active
    join deaths using (person_id)
    where active.period_month > deaths.date_of_death
)

select
    -- key
    paid_after_death.person_id,
    paid_after_death.programme_id,
    -- death
    paid_after_death.date_of_death,
    any_value(paid_after_death.date_of_death_source) as date_of_death_source,
    -- months and amounts
    min(paid_after_death.period_month) as first_period_paid_after_death,
    max(paid_after_death.period_month) as last_period_paid_after_death,
    count(distinct paid_after_death.period_month) as months_paid_since_death,
    sum(paid_after_death.benefit_amount_monthly) as amount_paid_since_death,
    bool_or(paid_after_death.period_month = programmes.latest_period_month) as is_paid_in_latest_period,
    -- evidence
    list(distinct paid_after_death.source || ':' || paid_after_death.source_record_id) as payroll_records,
    any_value(paid_after_death.needs_review) as needs_review
from paid_after_death
join programmes using (programme_id)
group by paid_after_death.person_id, paid_after_death.programme_id, paid_after_death.date_of_death
order by paid_after_death.programme_id, paid_after_death.person_id;

comment on table reports.deceased_paid is 'One row per person and programme that paid the person for at least one month beginning after their registered date of death (every month held as of the night).';
comment on column reports.deceased_paid.person_id is 'Person (registry.person).';
comment on column reports.deceased_paid.programme_id is 'Programme that kept paying.';
comment on column reports.deceased_paid.date_of_death is 'Registered date of death (registry.person).';
comment on column reports.deceased_paid.date_of_death_source is 'Civil registry source of the death registration.';
comment on column reports.deceased_paid.first_period_paid_after_death is 'First month paid that began after the death.';
comment on column reports.deceased_paid.last_period_paid_after_death is 'Latest month paid that began after the death.';
comment on column reports.deceased_paid.months_paid_since_death is 'Months paid that began after the death.';
comment on column reports.deceased_paid.amount_paid_since_death is 'Total paid for those months, local currency.';
comment on column reports.deceased_paid.is_paid_in_latest_period is 'True when the programme still paid the person in its latest month as of the night.';
comment on column reports.deceased_paid.payroll_records is 'Payroll records (source:source_record_id) that carried the payments.';
comment on column reports.deceased_paid.needs_review is 'True when the person''s linkage is flagged for review: check the match before acting.';
