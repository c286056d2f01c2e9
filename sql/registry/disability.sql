-- registry.disability: disability assessments per person; the latest one is the golden record's severity.
create or replace table registry.disability as
with

links as (
    select person_id, source, source_record_id
    from registry.person_source_link
),

assessments as (
    select source, source_record_id, disability_type, disability_severity, assessment_date, drop_night
    from staging.disability_assessment
),

linked as (
    select
        links.person_id,
        assessments.*,
        row_number() over (
            partition by links.person_id
            order by assessments.assessment_date desc nulls last, assessments.drop_night desc,
                assessments.source, assessments.source_record_id
        ) as recency
    from assessments
    join links using (source, source_record_id)
)

select
    -- key
    person_id,
    -- assessment
    disability_type,
    disability_severity,
    assessment_date,
    recency = 1 as is_latest,
    -- lineage
    source,
    source_record_id,
    drop_night
from linked
order by person_id, assessment_date, source, source_record_id;

comment on table registry.disability is 'One row per disability registry record (an assessment) and the person it is linked to.';
comment on column registry.disability.person_id is 'Person assessed (registry.person).';
comment on column registry.disability.disability_type is 'Type of disability as the registry names it.';
comment on column registry.disability.disability_severity is 'mild, moderate, severe or profound.';
comment on column registry.disability.assessment_date is 'Date of the assessment.';
comment on column registry.disability.is_latest is 'True for the person''s latest assessment (by assessment date, then newest drop): the one registry.person uses.';
comment on column registry.disability.source is 'Disability registry source.';
comment on column registry.disability.source_record_id is 'Assessment record id in that source.';
comment on column registry.disability.drop_night is 'Drop (night) the record''s latest version came from.';
