-- registry.as_of: the night the registry was built for, and the dates its ages and findings refer to.
-- The ibr_night variable is set by registry.build before this file runs.
create or replace table registry.as_of as
with

periods as (
    select max(period_month) as latest_period_month
    from staging.enrolment
)

select
    getvariable('ibr_night')::date as night,
    latest_period_month,
    -- ages are completed years at the end of the latest paid month: the month eligibility is judged for
    coalesce(last_day(latest_period_month), getvariable('ibr_night')::date - 1) as reference_date
from periods;

comment on table registry.as_of is 'One row: the night the registry and the reports were built for, and the reference dates they use.';
comment on column registry.as_of.night is 'Drop date (night) of the build; staging tables are as of this night.';
comment on column registry.as_of.latest_period_month is 'First day of the latest month any programme payroll covers as of the night; null when no payroll has landed.';
comment on column registry.as_of.reference_date is 'Date ages are computed at: the last day of latest_period_month, or the day before the night when no payroll has landed.';
