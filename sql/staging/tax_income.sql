-- staging.tax_income: one row per tax registry record and tax year, latest version.
create or replace table staging.tax_income as
select
    -- key
    source,
    source_record_id,
    tax_year,
    -- amounts
    income_annual,
    -- lineage
    _night as drop_night,
    _file as source_file,
    _row_number as source_row_number
from staging.record_versions
where source_kind = 'tax_registry' and tax_year is not null
qualify row_number() over (
    partition by source, source_record_id, tax_year order by _night desc, _file desc, _row_number desc
) = 1
order by source, source_record_id, tax_year;

comment on table staging.tax_income is 'One row per tax registry record and tax year, latest version as of the night.';
comment on column staging.tax_income.source is 'Tax registry source.';
comment on column staging.tax_income.source_record_id is 'Taxpayer record id.';
comment on column staging.tax_income.tax_year is 'Year of the declaration.';
comment on column staging.tax_income.income_annual is 'Declared income for the year, local currency.';
comment on column staging.tax_income.drop_night is 'Drop (night) the latest version came from.';
comment on column staging.tax_income.source_file is 'File the latest version came from.';
comment on column staging.tax_income.source_row_number is 'Row (line) number in that file.';
