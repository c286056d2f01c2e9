-- registry.household: the households sources report (household id and relationship to its head), per person,
-- with the household's size as the source lists it.
create or replace table registry.household as
with

links as (
    select person_id, source, source_record_id
    from registry.person_source_link
),

records as (
    select source, source_record_id, household_id, relationship_to_head, is_current, last_seen_night
    from staging.person_records
    where household_id is not null
),

deaths as (
    select distinct person_id
    from registry.life_event
    where event_type = 'death'
),

linked as (
    select links.person_id, records.*
    from records
    join links using (source, source_record_id)
),

households as (
    select source, household_id, bool_or(is_current) as household_is_current
    from linked
    group by source, household_id
),

-- members: the persons of the household's records in the source's latest drop (or of all its records when
-- the household is no longer in it); a registered death removes a member from the living count
sizes as (
    select
        linked.source,
        linked.household_id,
        count(distinct linked.person_id) as household_members,
        count(distinct linked.person_id) filter (where deaths.person_id is null) as household_size
    from linked
    join households using (source, household_id)
    left join deaths using (person_id)
    where linked.is_current or not households.household_is_current
    group by linked.source, linked.household_id
),

-- one row per person and household: the person's newest record in it
per_person as (
    select
        linked.*,
        row_number() over (
            partition by person_id, source, household_id
            order by is_current desc, last_seen_night desc, source_record_id
        ) as recency
    from linked
)

select
    -- key
    per_person.person_id,
    per_person.source,
    per_person.household_id,
    -- membership
    per_person.relationship_to_head,
    per_person.is_current,
    households.household_is_current,
    -- size
    coalesce(sizes.household_members, 0) as household_members,
    coalesce(sizes.household_size, 0)::integer as household_size,
    -- lineage
    per_person.source_record_id,
    per_person.last_seen_night
from per_person
join households using (source, household_id)
left join sizes using (source, household_id)
where per_person.recency = 1
order by per_person.person_id, per_person.source, per_person.household_id;

comment on table registry.household is 'One row per person and source household (a source''s household reference the person''s records carry), with the household''s size as that source lists it.';
comment on column registry.household.person_id is 'Person (registry.person).';
comment on column registry.household.source is 'Source that keeps the household reference.';
comment on column registry.household.household_id is 'The source''s household reference: meaningful within that source only.';
comment on column registry.household.relationship_to_head is 'Relationship to the household head, as the source says it (newest record).';
comment on column registry.household.is_current is 'True when the person is listed in the household in the source''s latest drop.';
comment on column registry.household.household_is_current is 'True when the household is in the source''s latest drop.';
comment on column registry.household.household_members is 'Distinct persons the source lists in the household (its latest drop, or every drop when the household left it).';
comment on column registry.household.household_size is 'Living members: household_members without those whose death is registered.';
comment on column registry.household.source_record_id is 'The person''s newest record in the household.';
comment on column registry.household.last_seen_night is 'Drop (night) of that record''s latest version.';
