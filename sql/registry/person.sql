-- registry.person: one golden record per person, each attribute taken from the most trusted source that
-- has it. Survivorship: civil registry, then tax registry, then disability registry, then a social
-- registry, then programme payrolls; newest record first within a kind. Exceptions, each said below:
-- a valid national id beats an invalid one, a full date of birth beats a partial one, the area is taken
-- as a pair, and deaths, disability, income and household come from their own registry tables.
create or replace table registry.person as
with

links as (
    select person_id, source, source_record_id, needs_review
    from registry.person_source_link
),

as_of as (
    select reference_date
    from registry.as_of
),

area_parents as (
    select distinct admin2_code, admin1_code
    from staging.admin2_lookup
),

records as (
    select
        links.person_id,
        links.needs_review,
        person_records.source,
        person_records.source_record_id,
        person_records.source_kind,
        person_records.first_name,
        person_records.middle_name,
        person_records.last_name,
        person_records.date_of_birth,
        person_records.dob_precision,
        person_records.sex,
        person_records.national_id,
        person_records.national_id_valid,
        person_records.phone,
        -- a record with a district but no province takes the district's province
        coalesce(area_parents.admin1_code, person_records.admin1) as admin1,
        person_records.admin2,
        person_records.last_seen_night,
        person_records.source_file,
        person_records.source_row_number
    from staging.person_records
    join links using (source, source_record_id)
    left join area_parents on area_parents.admin2_code = person_records.admin2
),

-- survivorship order
ranked_kinds as (
    select
        records.*,
        case source_kind
            when 'civil_registry' then 1
            when 'tax_registry' then 2
            when 'disability_registry' then 3
            when 'social_registry' then 4
            when 'programme' then 5
            else 6
        end as source_rank,
        case dob_precision when 'day' then 1 when 'month' then 2 when 'year' then 3 else 4 end as dob_precision_rank
    from records
),

-- one order of trust per person; the national id and the date of birth put their own test first
-- (a valid id, a precise date) and break ties by this order
ordered as (
    select
        ranked_kinds.*,
        row_number() over (
            partition by person_id
            order by source_rank, last_seen_night desc, source_file desc, source_row_number desc,
                source, source_record_id
        ) as trust_order
    from ranked_kinds
),

orders as (
    select
        ordered.*,
        -- national id: a valid id (pattern and check digit) first, then an invalid one, then trust
        (case when national_id_valid then 0 when not national_id_valid then 1 else 2 end) * 1000000000::bigint
            + trust_order as national_id_order,
        -- date of birth: the most precise date first, then trust
        dob_precision_rank * 1000000000::bigint + trust_order as date_of_birth_order
    from ordered
),

identity as (
    select
        person_id,
        count(*) as source_records,
        count(distinct source) as sources,
        coalesce(bool_or(needs_review), false) as needs_review,
        -- names
        arg_min(first_name, trust_order) filter (where first_name is not null) as first_name,
        arg_min(source, trust_order) filter (where first_name is not null) as first_name_source,
        arg_min(middle_name, trust_order) filter (where middle_name is not null) as middle_name,
        arg_min(source, trust_order) filter (where middle_name is not null) as middle_name_source,
        arg_min(last_name, trust_order) filter (where last_name is not null) as last_name,
        arg_min(source, trust_order) filter (where last_name is not null) as last_name_source,
        -- birth and sex
        arg_min(date_of_birth, date_of_birth_order) filter (where date_of_birth is not null) as date_of_birth,
        arg_min(dob_precision, date_of_birth_order) filter (where date_of_birth is not null) as dob_precision,
        arg_min(source, date_of_birth_order) filter (where date_of_birth is not null) as date_of_birth_source,
        arg_min(sex, trust_order) filter (where sex is not null) as sex,
        arg_min(source, trust_order) filter (where sex is not null) as sex_source,
        -- identifiers
        arg_min(national_id, national_id_order) filter (where national_id is not null) as national_id,
        arg_min(national_id_valid, national_id_order) filter (where national_id is not null) as national_id_valid,
        arg_min(source, national_id_order) filter (where national_id is not null) as national_id_source,
        arg_min(phone, trust_order) filter (where phone is not null) as phone,
        arg_min(source, trust_order) filter (where phone is not null) as phone_source,
        -- place: district and province from one record, so they never contradict each other
        arg_min(admin2, trust_order) filter (where admin2 is not null) as admin2,
        arg_min(admin1, trust_order) filter (where admin2 is not null) as admin1_of_admin2,
        arg_min(source, trust_order) filter (where admin2 is not null) as admin2_source,
        arg_min(admin1, trust_order) filter (where admin1 is not null) as admin1_only,
        arg_min(source, trust_order) filter (where admin1 is not null) as admin1_only_source
    from orders
    group by person_id
),

-- deaths: the newest death registration linked to the person
death_registrations as (
    select
        person_id,
        event_date,
        source,
        row_number() over (
            partition by person_id order by drop_night desc, event_date nulls last, source, source_record_id
        ) as recency
    from registry.life_event
    where event_type = 'death'
),

deaths as (
    select person_id, event_date as date_of_death, source as date_of_death_source
    from death_registrations
    where recency = 1
),

disability as (
    select person_id, disability_severity, source as disability_severity_source
    from registry.disability
    where is_latest
),

income as (
    select person_id, income_annual, tax_year as income_tax_year, source as income_annual_source
    from registry.income
    where is_latest
),

-- household: the person's current household in the source that lists it, newest first
households as (
    select
        person_id,
        household_size,
        source,
        row_number() over (
            partition by person_id
            order by is_current desc, household_is_current desc, last_seen_night desc, source, household_id
        ) as recency
    from registry.household
),

household as (
    select person_id, household_size, source as household_size_source
    from households
    where recency = 1
)

select
    -- key
    identity.person_id,
    -- names
    identity.first_name,
    identity.first_name_source,
    identity.middle_name,
    identity.middle_name_source,
    identity.last_name,
    identity.last_name_source,
    -- birth and sex
    identity.date_of_birth,
    identity.dob_precision,
    identity.date_of_birth_source,
    case when identity.date_of_birth <= as_of.reference_date
        then date_sub('year', identity.date_of_birth, as_of.reference_date)::integer
    end as age_years,
    as_of.reference_date as age_reference_date,
    identity.sex,
    identity.sex_source,
    -- identifiers
    identity.national_id,
    identity.national_id_valid,
    identity.national_id_source,
    identity.phone,
    identity.phone_source,
    -- place
    coalesce(identity.admin1_of_admin2, identity.admin1_only) as admin1,
    case when identity.admin2 is not null then identity.admin2_source else identity.admin1_only_source end
        as admin1_source,
    identity.admin2,
    identity.admin2_source,
    -- life
    deaths.person_id is not null as is_deceased,
    deaths.date_of_death,
    deaths.date_of_death_source,
    -- household
    household.household_size,
    household.household_size_source,
    -- disability and income
    disability.disability_severity,
    disability.disability_severity_source,
    income.income_annual::decimal(18, 2) as income_annual,
    income.income_tax_year,
    income.income_annual_source,
    -- records
    identity.source_records,
    identity.sources,
    identity.needs_review
from identity
cross join as_of
left join deaths using (person_id)
left join disability using (person_id)
left join income using (person_id)
left join household using (person_id)
order by identity.person_id;

comment on table registry.person is 'One row per person (person_id of registry.person_source_link): the golden record. Each attribute comes from the most trusted record that has it (civil registry, then tax, disability, social registry, programmes; newest first within a kind) and names its source in <attribute>_source.';
comment on column registry.person.person_id is 'Stable person id (registry.person_source_link).';
comment on column registry.person.first_name is 'Given name, normalised (lower-case ASCII).';
comment on column registry.person.first_name_source is 'Source the first name came from.';
comment on column registry.person.middle_name is 'Other given names, normalised.';
comment on column registry.person.middle_name_source is 'Source the middle name came from.';
comment on column registry.person.last_name is 'Surname, normalised. The civil registry keeps the birth surname, so a married woman may carry it here.';
comment on column registry.person.last_name_source is 'Source the surname came from.';
comment on column registry.person.date_of_birth is 'Date of birth: the most precise date any record gives (day before month before year), then the most trusted.';
comment on column registry.person.dob_precision is 'day, month or year: how much of date_of_birth is known.';
comment on column registry.person.date_of_birth_source is 'Source the date of birth came from.';
comment on column registry.person.age_years is 'Completed years of age on age_reference_date (the last day of the latest paid month as of the night); approximate when dob_precision is month or year.';
comment on column registry.person.age_reference_date is 'Date age_years is computed at (registry.as_of.reference_date).';
comment on column registry.person.sex is 'F or M.';
comment on column registry.person.sex_source is 'Source sex came from.';
comment on column registry.person.national_id is 'National id: a valid one (pattern and check digit) where any record has one, else the most trusted.';
comment on column registry.person.national_id_valid is 'True when national_id passes the pattern and check digit of country.yaml.';
comment on column registry.person.national_id_source is 'Source the national id came from.';
comment on column registry.person.phone is 'Phone number, national digits.';
comment on column registry.person.phone_source is 'Source the phone number came from.';
comment on column registry.person.admin1 is 'First-level admin area code: the province of admin2 when a district is known, else the most trusted province.';
comment on column registry.person.admin1_source is 'Source the province came from.';
comment on column registry.person.admin2 is 'Second-level admin area code (district), from the most trusted record that has one.';
comment on column registry.person.admin2_source is 'Source the district came from.';
comment on column registry.person.is_deceased is 'True when a civil registry death registration is linked to the person (as of the night).';
comment on column registry.person.date_of_death is 'Date of death of the newest death registration; null when alive or when the registration gives no date.';
comment on column registry.person.date_of_death_source is 'Civil registry source of the death registration.';
comment on column registry.person.household_size is 'Living members of the person''s household, where a source lists households (registry.household); null when unknown.';
comment on column registry.person.household_size_source is 'Source whose household list gives household_size.';
comment on column registry.person.disability_severity is 'Severity of the latest disability assessment (mild, moderate, severe, profound); null when never assessed.';
comment on column registry.person.disability_severity_source is 'Disability registry source of that assessment.';
comment on column registry.person.income_annual is 'Declared annual income of the latest tax year (current declarations only); null when no declaration.';
comment on column registry.person.income_tax_year is 'Tax year of income_annual.';
comment on column registry.person.income_annual_source is 'Tax registry source of the declaration.';
comment on column registry.person.source_records is 'Number of source records linked to the person.';
comment on column registry.person.sources is 'Number of distinct sources among them.';
comment on column registry.person.needs_review is 'True when one of the person''s records is in a cluster the linkage split and flagged for review.';
