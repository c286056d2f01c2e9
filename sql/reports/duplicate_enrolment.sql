-- reports.duplicate_enrolment: people with two or more active payroll records of one programme in the
-- programme's latest month as of the night: paid more than once for the same month.
create or replace table reports.duplicate_enrolment as
with

links as (
    select person_id, source, source_record_id
    from registry.person_source_link
),

programmes as (
    select programme_id, latest_period_month
    from registry.programme
),

active_records as (
    select
        links.person_id,
        payroll.programme_id,
        payroll.period_month,
        payroll.source,
        payroll.source_record_id,
        payroll.benefit_amount_monthly,
        payroll.enrolment_date
    from staging.enrolment as payroll
    join links using (source, source_record_id)
    join programmes
        on programmes.programme_id = payroll.programme_id
        and programmes.latest_period_month = payroll.period_month
    where payroll.enrolment_status = 'active'
),

records as (
    select source, source_record_id, admin2, date_of_birth, dob_precision
    from staging.person_records
),

-- two records of one person that name different districts, or dates of birth that differ by more than the
-- usual slips (day and month swapped, year off by one; compared at the coarser of the two precisions), are
-- more likely two people linked together than one person enrolled twice
record_pairs as (
    select
        a.person_id,
        a.programme_id,
        ra.admin2 <> rb.admin2 as area_differs,
        case greatest(
            case ra.dob_precision when 'day' then 1 when 'month' then 2 else 3 end,
            case rb.dob_precision when 'day' then 1 when 'month' then 2 else 3 end
        )
            when 1 then ra.date_of_birth <> rb.date_of_birth
                and not (
                    year(ra.date_of_birth) = year(rb.date_of_birth)
                    and month(ra.date_of_birth) = day(rb.date_of_birth)
                    and day(ra.date_of_birth) = month(rb.date_of_birth)
                )
                and not (
                    month(ra.date_of_birth) = month(rb.date_of_birth)
                    and day(ra.date_of_birth) = day(rb.date_of_birth)
                    and abs(year(ra.date_of_birth) - year(rb.date_of_birth)) = 1
                )
            when 2 then date_trunc('month', ra.date_of_birth) <> date_trunc('month', rb.date_of_birth)
                and not (
                    month(ra.date_of_birth) = month(rb.date_of_birth)
                    and abs(year(ra.date_of_birth) - year(rb.date_of_birth)) = 1
                )
            else abs(year(ra.date_of_birth) - year(rb.date_of_birth)) > 1
        end as birth_differs
    from active_records as a
    join active_records as b
        on b.person_id = a.person_id
        and b.programme_id = a.programme_id
        and (b.source, b.source_record_id) > (a.source, a.source_record_id)
    join records as ra on ra.source = a.source and ra.source_record_id = a.source_record_id
    join records as rb on rb.source = b.source and rb.source_record_id = b.source_record_id
),

conflicts as (
    select
        person_id,
        programme_id,
        coalesce(bool_or(area_differs), false) or coalesce(bool_or(birth_differs), false) as records_conflict
    from record_pairs
    group by person_id, programme_id
),

people as (
    select person_id, needs_review
    from registry.person
)

select
    -- key
    active_records.person_id,
    active_records.programme_id,
    active_records.period_month,
    -- records
    count(*) as active_records,
    list(active_records.source || ':' || active_records.source_record_id
        order by active_records.enrolment_date nulls last, active_records.source, active_records.source_record_id)
        as payroll_records,
    -- amounts
    sum(active_records.benefit_amount_monthly) as benefit_amount_monthly,
    sum(active_records.benefit_amount_monthly) - max(active_records.benefit_amount_monthly)
        as amount_paid_beyond_one_record,
    -- evidence
    coalesce(any_value(conflicts.records_conflict), false) as records_conflict,
    any_value(people.needs_review) as needs_review
from active_records
join people using (person_id)
left join conflicts using (person_id, programme_id)
group by active_records.person_id, active_records.programme_id, active_records.period_month
having count(*) >= 2
order by active_records.programme_id, active_records.person_id;

comment on table reports.duplicate_enrolment is 'One row per person and programme with two or more active payroll records of that programme in its latest month as of the night.';
comment on column reports.duplicate_enrolment.person_id is 'Person (registry.person).';
comment on column reports.duplicate_enrolment.programme_id is 'Programme that pays the person more than once.';
comment on column reports.duplicate_enrolment.period_month is 'The month paid (the programme''s latest as of the night).';
comment on column reports.duplicate_enrolment.active_records is 'Active payroll records of the person in that programme and month.';
comment on column reports.duplicate_enrolment.payroll_records is 'Those records (source:source_record_id), earliest enrolment first.';
comment on column reports.duplicate_enrolment.benefit_amount_monthly is 'Total paid to the person on those records for the month, local currency.';
comment on column reports.duplicate_enrolment.amount_paid_beyond_one_record is 'Paid beyond the largest single record: the amount one record too many costs per month.';
comment on column reports.duplicate_enrolment.records_conflict is 'True when two of the records name different districts, or dates of birth that differ by more than a day-month swap or a year: more likely two people the linkage joined; review the match first.';
comment on column reports.duplicate_enrolment.needs_review is 'True when the person''s linkage is flagged for review: two records may be two people.';
