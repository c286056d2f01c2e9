-- registry.person_source: which sources know each person, one row per person and source. The analytics
-- warehouse turns it into the in_<source kind> and in_<programme> flags of its `person` view.
create or replace table registry.person_source as
with

links as (
    select person_id, source, source_record_id
    from registry.person_source_link
),

records as (
    select source, source_record_id, source_kind, programme_id
    from staging.person_records
)

select
    -- keys
    links.person_id,
    links.source,
    -- what the source is
    any_value(records.source_kind) as source_kind,
    any_value(records.programme_id) as programme_id,
    -- counts
    count(*) as source_records
from links
join records using (source, source_record_id)
group by links.person_id, links.source
order by links.person_id, links.source;

comment on table registry.person_source is 'One row per person and source holding at least one record of the person (as of the night): which sources know whom.';
comment on column registry.person_source.person_id is 'Person (registry.person).';
comment on column registry.person_source.source is 'Source (contract name) holding records of the person.';
comment on column registry.person_source.source_kind is 'Kind of that source: civil_registry, tax_registry, disability_registry, social_registry or programme.';
comment on column registry.person_source.programme_id is 'Programme of a programme source (its payroll), else null.';
comment on column registry.person_source.source_records is 'Number of the source''s records linked to the person.';
