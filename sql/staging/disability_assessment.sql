-- staging.disability_assessment: one row per disability registry record, latest version.
create or replace table staging.disability_assessment as
select
    -- key
    source,
    source_record_id,
    -- assessment
    disability_type,
    disability_severity,
    assessment_date,
    -- lineage
    _night as drop_night,
    _file as source_file,
    _row_number as source_row_number
from staging.record_versions
where source_kind = 'disability_registry'
qualify row_number() over (partition by source, source_record_id order by _night desc, _file desc, _row_number desc) = 1
order by source, source_record_id;

comment on table staging.disability_assessment is 'One row per disability registry record (an assessment), latest version as of the night.';
comment on column staging.disability_assessment.source is 'Disability registry source.';
comment on column staging.disability_assessment.source_record_id is 'Assessment record id.';
comment on column staging.disability_assessment.disability_type is 'Type of disability as the registry names it.';
comment on column staging.disability_assessment.disability_severity is 'mild, moderate, severe or profound.';
comment on column staging.disability_assessment.assessment_date is 'Date of the assessment.';
comment on column staging.disability_assessment.drop_night is 'Drop (night) the latest version came from.';
comment on column staging.disability_assessment.source_file is 'File the latest version came from.';
comment on column staging.disability_assessment.source_row_number is 'Row (line) number in that file.';
