-- staging.enrolment: one row per programme source record and period paid (its latest version).
create or replace table staging.enrolment as
with

versions as (
    select *
    from staging.record_versions
    where source_kind = 'programme' and period is not null
    qualify row_number() over (
        partition by source, source_record_id, period order by _night desc, _file desc, _row_number desc
    ) = 1
)

select
    -- key
    source,
    source_record_id,
    programme_id,
    period as period_month,
    -- enrolment
    coalesce(enrolment_status, 'active') as enrolment_status,
    benefit_amount as benefit_amount_monthly,
    enrolment_date,
    household_id,
    -- lineage
    _night as drop_night,
    _file as source_file,
    _row_number as source_row_number
from versions
order by source, source_record_id, period_month;

comment on table staging.enrolment is 'One row per programme source record and period (month) paid, latest version as of the night.';
comment on column staging.enrolment.source is 'Programme source that sent the payroll row.';
comment on column staging.enrolment.source_record_id is 'The beneficiary''s record id in that source.';
comment on column staging.enrolment.programme_id is 'Programme (programmes.yaml).';
comment on column staging.enrolment.period_month is 'First day of the month paid.';
comment on column staging.enrolment.enrolment_status is 'active, suspended or exited (active when the source sends no status).';
comment on column staging.enrolment.benefit_amount_monthly is 'Amount paid for the period, local currency.';
comment on column staging.enrolment.enrolment_date is 'Date the beneficiary was enrolled, when the source sends it.';
comment on column staging.enrolment.household_id is 'The source''s household reference.';
comment on column staging.enrolment.drop_night is 'Drop (night) the row came from.';
comment on column staging.enrolment.source_file is 'File the row came from, relative to drops/.';
comment on column staging.enrolment.source_row_number is 'Row (line) number in that file.';
