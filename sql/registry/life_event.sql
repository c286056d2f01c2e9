-- registry.life_event: births and deaths registered in a civil registry, per person.
create or replace table registry.life_event as
with

links as (
    select person_id, source, source_record_id
    from registry.person_source_link
),

events as (
    select source, source_record_id, event_type, date_of_birth, date_of_death, drop_night
    from staging.civil_event
)

select
    -- key
    links.person_id,
    events.event_type,
    -- dates
    case events.event_type
        when 'birth' then events.date_of_birth
        when 'death' then events.date_of_death
    end as event_date,
    -- lineage
    events.source,
    events.source_record_id,
    events.drop_night
from events
join links using (source, source_record_id)
order by links.person_id, events.event_type, event_date, events.source, events.source_record_id;

comment on table registry.life_event is 'One row per civil registry record (a birth or a death registration) and the person it is linked to.';
comment on column registry.life_event.person_id is 'Person the registration is linked to (registry.person).';
comment on column registry.life_event.event_type is 'birth or death.';
comment on column registry.life_event.event_date is 'Date of birth for a birth, date of death for a death; null when the registry sent none.';
comment on column registry.life_event.source is 'Civil registry source of the registration.';
comment on column registry.life_event.source_record_id is 'Registration record id in that source.';
comment on column registry.life_event.drop_night is 'Drop (night) the registration''s latest version came from.';
