-- staging.civil_event: one row per civil registry record (birth or death registration), latest version.
create or replace table staging.civil_event as
select
    -- key
    source,
    source_record_id,
    -- event
    event_type,
    case when event_type = 'death' then date_of_death end as date_of_death,
    date_of_birth,
    -- lineage
    _night as drop_night,
    _file as source_file,
    _row_number as source_row_number
from staging.record_versions
where source_kind = 'civil_registry'
qualify row_number() over (partition by source, source_record_id order by _night desc, _file desc, _row_number desc) = 1
order by source, source_record_id;

comment on table staging.civil_event is 'One row per civil registry record (a birth or a death registration), latest version as of the night.';
comment on column staging.civil_event.source is 'Civil registry source.';
comment on column staging.civil_event.source_record_id is 'Registration number of the record.';
comment on column staging.civil_event.event_type is 'birth or death.';
comment on column staging.civil_event.date_of_death is 'Date of death, for death registrations.';
comment on column staging.civil_event.date_of_birth is 'Date of birth as registered.';
comment on column staging.civil_event.drop_night is 'Drop (night) the latest version came from.';
comment on column staging.civil_event.source_file is 'File the latest version came from.';
comment on column staging.civil_event.source_row_number is 'Row (line) number in that file.';
