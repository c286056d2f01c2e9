-- reports.inclusion_errors: people actively paid by a means-tested programme in its latest month as of
-- the night although their declared income is above the programme's threshold.
create or replace table reports.inclusion_errors as
with

programmes as (
    select programme_id, latest_period_month, income_annual_max
    from registry.programme
    where is_means_tested
),

people as (
    select person_id, income_annual, income_tax_year, income_annual_source, needs_review
    from registry.person
    where income_annual is not null
),

current_active as (
    select enrolment.person_id, enrolment.programme_id, enrolment.period_month, enrolment.benefit_amount_monthly
    from registry.enrolment as enrolment
    join programmes
        on programmes.programme_id = enrolment.programme_id
        and programmes.latest_period_month = enrolment.period_month
    where enrolment.enrolment_status = 'active'
)

select
    -- key
    current_active.person_id,
    current_active.programme_id,
    current_active.period_month,
    -- income
    people.income_annual,
    people.income_tax_year,
    people.income_annual_source,
    programmes.income_annual_max,
    people.income_annual - programmes.income_annual_max as income_above_threshold,
    -- amounts
    current_active.benefit_amount_monthly,
    -- evidence
    people.needs_review
from current_active
join programmes using (programme_id)
join people using (person_id)
where people.income_annual > programmes.income_annual_max
order by current_active.programme_id, current_active.person_id;

comment on table reports.inclusion_errors is 'One row per person and means-tested programme that actively pays the person in its latest month as of the night although the person''s declared income is above its threshold.';
comment on column reports.inclusion_errors.person_id is 'Person (registry.person).';
comment on column reports.inclusion_errors.programme_id is 'Means-tested programme paying the person.';
comment on column reports.inclusion_errors.period_month is 'The month paid (the programme''s latest as of the night).';
comment on column reports.inclusion_errors.income_annual is 'Declared annual income (registry.person: latest tax year).';
comment on column reports.inclusion_errors.income_tax_year is 'Tax year of that declaration.';
comment on column reports.inclusion_errors.income_annual_source is 'Tax registry source of that declaration.';
comment on column reports.inclusion_errors.income_annual_max is 'The programme''s means-test threshold.';
comment on column reports.inclusion_errors.income_above_threshold is 'How far the income is above the threshold, local currency.';
comment on column reports.inclusion_errors.benefit_amount_monthly is 'Amount the programme paid the person that month, local currency.';
comment on column reports.inclusion_errors.needs_review is 'True when the person''s linkage is flagged for review: the income may be someone else''s.';
