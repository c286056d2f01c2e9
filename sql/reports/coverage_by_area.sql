-- reports.coverage_by_area: per admin area and programme, how many qualify, how many of them are paid,
-- and the share covered, in each programme's latest month as of the night; people the rules cannot judge for
-- lack of data are counted apart. Districts, provinces and the
-- whole country in one table (area_level).
create or replace table reports.coverage_by_area as
with

people as (
    select person_id, admin1, admin2
    from registry.person
),

programmes as (
    select programme_id, latest_period_month
    from registry.programme
),

-- names of the areas (reference/admin_areas.csv); a code the file does not name is shown as itself
province_names as (
    select distinct admin1_code as admin1, admin1_name
    from registry.admin_area
),

district_names as (
    select admin2_code as admin2, admin2_name
    from registry.admin_area
),

eligibility as (
    select person_id, programme_id, is_eligible, is_undetermined
    from reports.eligibility
    where is_eligible or is_undetermined
),

current_active as (
    select distinct enrolment.person_id, enrolment.programme_id
    from registry.enrolment as enrolment
    join programmes
        on programmes.programme_id = enrolment.programme_id
        and programmes.latest_period_month = enrolment.period_month
    where enrolment.enrolment_status = 'active'
),

-- one row per person and programme that is eligible, undetermined, enrolled, or a mix
people_programmes as (
    select
        coalesce(eligibility.person_id, current_active.person_id) as person_id,
        coalesce(eligibility.programme_id, current_active.programme_id) as programme_id,
        coalesce(eligibility.is_eligible, false) as is_eligible,
        coalesce(eligibility.is_undetermined, false) as is_undetermined,
        current_active.person_id is not null as is_enrolled
    from eligibility
    full join current_active
        on current_active.person_id = eligibility.person_id
        and current_active.programme_id = eligibility.programme_id
),

counts as (
    select
        case grouping(people.admin1, people.admin2)
            when 0 then 'admin2'
            when 1 then 'admin1'
            else 'national'
        end as area_level,
        people.admin1,
        people.admin2,
        people_programmes.programme_id,
        count(*) filter (where people_programmes.is_eligible) as eligible_persons,
        count(*) filter (where people_programmes.is_eligible and people_programmes.is_enrolled)
            as eligible_enrolled_persons,
        count(*) filter (where people_programmes.is_enrolled) as enrolled_persons,
        count(*) filter (where people_programmes.is_undetermined) as undetermined_persons,
        count(*) filter (where people_programmes.is_undetermined and people_programmes.is_enrolled)
            as enrolled_undetermined_persons
    from people_programmes
    join people using (person_id)
    group by grouping sets (
        (people.admin1, people.admin2, people_programmes.programme_id),
        (people.admin1, people_programmes.programme_id),
        (people_programmes.programme_id)
    )
)

select
    -- key
    counts.area_level,
    counts.admin1,
    counts.admin2,
    counts.programme_id,
    -- names
    case counts.area_level
        when 'national' then 'Whole country'
        when 'admin1' then coalesce(province_names.admin1_name, counts.admin1, 'Province unknown')
        else concat(
            coalesce(province_names.admin1_name, counts.admin1, 'Province unknown'), ' / ',
            coalesce(district_names.admin2_name, counts.admin2, 'District unknown')
        )
    end as area_name,
    province_names.admin1_name,
    district_names.admin2_name,
    -- people
    counts.eligible_persons,
    counts.eligible_enrolled_persons,
    counts.eligible_persons - counts.eligible_enrolled_persons as eligible_not_enrolled_persons,
    counts.enrolled_persons,
    counts.enrolled_persons - counts.eligible_enrolled_persons - counts.enrolled_undetermined_persons
        as enrolled_not_eligible_persons,
    counts.undetermined_persons,
    counts.enrolled_undetermined_persons,
    counts.undetermined_persons - counts.enrolled_undetermined_persons as undetermined_not_enrolled_persons,
    -- shares
    case when counts.eligible_persons > 0
        then counts.eligible_enrolled_persons / counts.eligible_persons
    end as coverage_share,
    -- suppression
    counts.eligible_persons between 1 and 4 or counts.enrolled_persons between 1 and 4 as is_small_cell,
    programmes.latest_period_month as period_month
from counts
join programmes using (programme_id)
left join province_names on province_names.admin1 = counts.admin1
left join district_names on district_names.admin2 = counts.admin2 and counts.area_level = 'admin2'
order by counts.programme_id, counts.area_level desc, counts.admin1 nulls last, counts.admin2 nulls last;

comment on table reports.coverage_by_area is 'One row per area (district, province or the whole country: area_level) and programme: people who qualify, qualify and are paid, and are paid, in the programme''s latest month as of the night. A person with an unknown area counts in a row with a null area.';
comment on column reports.coverage_by_area.area_level is 'admin2 (district row), admin1 (province row, all its districts) or national (the whole country).';
comment on column reports.coverage_by_area.admin1 is 'Province code; null on the national row, or for people whose province is unknown.';
comment on column reports.coverage_by_area.admin2 is 'District code on admin2 rows; null otherwise, or for people whose district is unknown.';
comment on column reports.coverage_by_area.programme_id is 'Programme (registry.programme).';
comment on column reports.coverage_by_area.area_name is 'The area by name (reference/admin_areas.csv): ''Whole country'', the province, or ''Province / District''; the code where the file has no name for it.';
comment on column reports.coverage_by_area.admin1_name is 'Province name (registry.admin_area); null on the national row or when unknown.';
comment on column reports.coverage_by_area.admin2_name is 'District name on admin2 rows (registry.admin_area); null otherwise or when unknown.';
comment on column reports.coverage_by_area.eligible_not_enrolled_persons is 'People who qualify and are not paid by the programme (eligible_persons - eligible_enrolled_persons).';
comment on column reports.coverage_by_area.undetermined_not_enrolled_persons is 'People the rules cannot judge who are not paid (undetermined_persons - enrolled_undetermined_persons).';
comment on column reports.coverage_by_area.eligible_persons is 'People who qualify (reports.eligibility.is_eligible: rules and means test).';
comment on column reports.coverage_by_area.eligible_enrolled_persons is 'Of those, people actively paid by the programme.';
comment on column reports.coverage_by_area.enrolled_persons is 'People actively paid by the programme, whether they qualify or not.';
comment on column reports.coverage_by_area.enrolled_not_eligible_persons is 'People paid although the golden record says they do not qualify (leakage, or wrong data in the golden record).';
comment on column reports.coverage_by_area.undetermined_persons is 'People whose eligibility the golden record cannot decide (a value the rule needs is unknown, e.g. household size): counted neither as eligible nor as not.';
comment on column reports.coverage_by_area.enrolled_undetermined_persons is 'Of those, people the programme pays.';
comment on column reports.coverage_by_area.coverage_share is 'eligible_enrolled_persons / eligible_persons; null when nobody qualifies.';
comment on column reports.coverage_by_area.is_small_cell is 'True when a count is 1 to 4 people: published reports suppress the row.';
comment on column reports.coverage_by_area.period_month is 'The programme''s latest month as of the night.';
