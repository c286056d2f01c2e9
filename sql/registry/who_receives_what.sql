-- registry.who_receives_what: per person, the programmes they are actively paid by in each programme's
-- latest month as of the night, and how much. A view over registry.enrolment, so it is never stale.
create or replace view registry.who_receives_what as
with

programmes as (
    select programme_id, latest_period_month
    from registry.programme
),

current_enrolment as (
    select enrolment.person_id, enrolment.programme_id, enrolment.period_month, enrolment.benefit_amount_monthly
    from registry.enrolment as enrolment
    join programmes
        on programmes.programme_id = enrolment.programme_id
        and programmes.latest_period_month = enrolment.period_month
    where enrolment.enrolment_status = 'active'
)

select
    -- key
    person_id,
    -- programmes
    count(*) as programmes,
    list(programme_id order by programme_id) as programme_ids,
    list(struct_pack(programme_id, benefit_amount_monthly) order by programme_id) as benefits,
    -- amounts
    sum(benefit_amount_monthly) as benefit_amount_monthly,
    -- period
    max(period_month) as latest_period_month
from current_enrolment
group by person_id;

comment on view registry.who_receives_what is 'One row per person actively paid by at least one programme in that programme''s latest month as of the night: which programmes, and how much a month.';
comment on column registry.who_receives_what.person_id is 'Person (registry.person).';
comment on column registry.who_receives_what.programmes is 'Number of programmes paying the person.';
comment on column registry.who_receives_what.programme_ids is 'Those programmes, in alphabetical order.';
comment on column registry.who_receives_what.benefits is 'Per programme: programme_id and benefit_amount_monthly paid to the person.';
comment on column registry.who_receives_what.benefit_amount_monthly is 'Total paid to the person for the month by all those programmes, local currency.';
comment on column registry.who_receives_what.latest_period_month is 'Latest month paid among those programmes (each programme counts in its own latest month).';
