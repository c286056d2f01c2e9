-- registry.programme and registry.programme_exclusive: the programme rules of programmes.yaml as tables,
-- with what the warehouse holds of each programme. registry.build fills the temp tables
-- _programme_rules and _programme_exclusive from the validated rules file before this file runs.
create or replace table registry.programme as
with

rules as (
    select
        programme_id,
        programme_name,
        ministry,
        benefit_type,
        benefit_value_monthly,
        benefit_value_min,
        benefit_value_max,
        income_annual_max,
        eligibility,
        rule_order
    from _programme_rules
),

payrolls as (
    select
        programme_id,
        min(period_month) as first_period_month,
        max(period_month) as latest_period_month,
        count(distinct source) as sources
    from staging.enrolment
    group by programme_id
)

select
    -- key
    rules.programme_id,
    -- description
    rules.programme_name,
    rules.ministry,
    rules.benefit_type,
    -- amounts
    rules.benefit_value_monthly,
    rules.benefit_value_min,
    rules.benefit_value_max,
    -- rules
    rules.income_annual_max,
    rules.income_annual_max is not null as is_means_tested,
    rules.eligibility,
    -- payrolls as of the night
    payrolls.first_period_month,
    payrolls.latest_period_month,
    coalesce(payrolls.sources, 0) as sources
from rules
left join payrolls using (programme_id)
order by rules.rule_order;

comment on table registry.programme is 'One row per programme of programmes.yaml: who runs it, what it pays, its rules, and the payroll periods the warehouse holds.';
comment on column registry.programme.programme_id is 'Programme identifier (programmes.yaml programme_id; the programme_id of its source contracts).';
comment on column registry.programme.programme_name is 'Name of the programme.';
comment on column registry.programme.ministry is 'Ministry that runs the programme.';
comment on column registry.programme.benefit_type is 'Kind of benefit (cash, in kind, ...), as programmes.yaml says.';
comment on column registry.programme.benefit_value_monthly is 'Usual monthly benefit value, local currency.';
comment on column registry.programme.benefit_value_min is 'Lowest monthly value when the amount varies (e.g. days worked); null when fixed.';
comment on column registry.programme.benefit_value_max is 'Highest monthly value when the amount varies; null when fixed.';
comment on column registry.programme.income_annual_max is 'Means test: highest declared annual income that still qualifies; null when not means-tested.';
comment on column registry.programme.is_means_tested is 'True when the programme has a means test.';
comment on column registry.programme.eligibility is 'Eligibility rule: a SQL boolean expression over the golden-record columns (validated at load).';
comment on column registry.programme.first_period_month is 'Earliest month paid that the warehouse holds for the programme; null when no payroll has landed.';
comment on column registry.programme.latest_period_month is 'Latest month paid that the warehouse holds as of the night: the period current findings refer to.';
comment on column registry.programme.sources is 'Number of payroll sources feeding the programme.';

create or replace table registry.programme_exclusive as
select
    group_number,
    programme_id
from _programme_exclusive
order by group_number, programme_id;

comment on table registry.programme_exclusive is 'One row per exclusive group and member programme: one person may receive at most one programme of each group (programmes.yaml exclusive).';
comment on column registry.programme_exclusive.group_number is 'Position of the group in programmes.yaml (1 = first group).';
comment on column registry.programme_exclusive.programme_id is 'A programme of the group.';
