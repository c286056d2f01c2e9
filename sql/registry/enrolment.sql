-- registry.enrolment: who receives what, per person, programme and month paid.
create or replace table registry.enrolment as
with

links as (
    select person_id, source, source_record_id
    from registry.person_source_link
),

programmes as (
    select programme_id, benefit_type
    from registry.programme
),

payroll_rows as (
    select
        source, source_record_id, programme_id, period_month, enrolment_status,
        benefit_amount_monthly, enrolment_date, drop_night
    from staging.enrolment
),

linked as (
    select
        links.person_id,
        payroll_rows.*,
        case payroll_rows.enrolment_status
            when 'active' then 1
            when 'suspended' then 2
            when 'exited' then 3
            else 4
        end as status_rank
    from payroll_rows
    join links using (source, source_record_id)
),

ordered as (
    select
        linked.*,
        row_number() over (
            partition by person_id, programme_id, period_month order by status_rank, source, source_record_id
        ) as record_order
    from linked
),

-- a person with several records of one programme in one month: the best status speaks for the person,
-- the amounts add up (the person was paid on every record)
per_person as (
    select
        person_id,
        programme_id,
        period_month,
        arg_min(enrolment_status, record_order) as enrolment_status,
        arg_min(source, record_order) as source,
        arg_min(source_record_id, record_order) as source_record_id,
        sum(benefit_amount_monthly) as benefit_amount_monthly,
        min(enrolment_date) as enrolment_date,
        count(*) as source_records,
        count(*) filter (where enrolment_status = 'active') as active_records,
        max(drop_night) as drop_night
    from ordered
    group by person_id, programme_id, period_month
)

select
    -- key
    per_person.person_id,
    per_person.programme_id,
    per_person.period_month,
    -- enrolment
    per_person.enrolment_status,
    per_person.enrolment_date,
    programmes.benefit_type,
    -- amounts
    per_person.benefit_amount_monthly,
    -- records
    per_person.source_records,
    per_person.active_records,
    -- lineage
    per_person.source,
    per_person.source_record_id,
    per_person.drop_night
from per_person
left join programmes using (programme_id)
order by per_person.person_id, per_person.programme_id, per_person.period_month;

comment on table registry.enrolment is 'One row per person, programme and month paid: who receives what (all payroll records of the person for that programme and month taken together).';
comment on column registry.enrolment.person_id is 'Person (registry.person).';
comment on column registry.enrolment.programme_id is 'Programme identifier (registry.programme).';
comment on column registry.enrolment.period_month is 'First day of the month paid.';
comment on column registry.enrolment.enrolment_status is 'active, suspended or exited: the best status among the person''s records (active first).';
comment on column registry.enrolment.enrolment_date is 'Earliest enrolment date among the person''s records, when sources send it.';
comment on column registry.enrolment.benefit_type is 'Kind of benefit (registry.programme).';
comment on column registry.enrolment.benefit_amount_monthly is 'Amount paid to the person for the month, local currency: the sum over their records (two records paid means paid twice).';
comment on column registry.enrolment.source_records is 'Payroll records of the person for this programme and month.';
comment on column registry.enrolment.active_records is 'Of those, records with status active; two or more is a duplicate enrolment.';
comment on column registry.enrolment.source is 'Source of the record that gives the status (active first, then by source and record id).';
comment on column registry.enrolment.source_record_id is 'Record id of that record.';
comment on column registry.enrolment.drop_night is 'Newest drop (night) among the rows taken together.';
