-- registry.income: declared annual incomes per person and tax year; the latest current declaration is
-- the golden record's income.
create or replace table registry.income as
with

links as (
    select person_id, source, source_record_id
    from registry.person_source_link
),

records as (
    select source, source_record_id, is_current
    from staging.person_records
    where source_kind = 'tax_registry'
),

declarations as (
    select source, source_record_id, tax_year, income_annual, drop_night
    from staging.tax_income
),

linked as (
    select
        links.person_id,
        declarations.*,
        coalesce(records.is_current, false) as is_current
    from declarations
    join links using (source, source_record_id)
    left join records using (source, source_record_id)
),

-- a declaration withdrawn from a snapshot source's latest drop no longer counts
ranked as (
    select
        linked.*,
        row_number() over (
            partition by person_id
            order by is_current desc, tax_year desc, drop_night desc, source, source_record_id
        ) as recency
    from linked
)

select
    -- key
    person_id,
    tax_year,
    -- amounts
    income_annual,
    -- state
    is_current,
    is_current and recency = 1 as is_latest,
    -- lineage
    source,
    source_record_id,
    drop_night
from ranked
order by person_id, tax_year, source, source_record_id;

comment on table registry.income is 'One row per tax registry record and tax year (a declaration) and the person it is linked to.';
comment on column registry.income.person_id is 'Person who declared (registry.person).';
comment on column registry.income.tax_year is 'Year of the declaration.';
comment on column registry.income.income_annual is 'Declared income for the year, local currency.';
comment on column registry.income.is_current is 'True when the record is in its source''s latest drop (a snapshot source''s full current list).';
comment on column registry.income.is_latest is 'True for the person''s current declaration of the latest tax year (newest drop first): the one registry.person uses.';
comment on column registry.income.source is 'Tax registry source.';
comment on column registry.income.source_record_id is 'Taxpayer record id in that source.';
comment on column registry.income.drop_night is 'Drop (night) the declaration''s latest version came from.';
