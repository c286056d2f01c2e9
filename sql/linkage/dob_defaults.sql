-- linkage.dob_default: the dates of birth each source writes when it does not know them, found in the data.
-- One row per source and default: a day of the year far more common than any other (1 January or 1 July
-- written for people whose year alone is known) is read as the year only; a whole date far more common
-- than the years around it (1900-01-01, 1970-01-01: "unknown") is read as no date at all.
-- Measured per source on every night's link input, so nothing assumes which days a country uses.
create or replace table linkage.dob_default as
with

dated as (
    select source_dataset, date_of_birth, given_key
    from linkage.link_input
    where date_of_birth is not null and dob_precision = 'day'
),

per_source as (
    select source_dataset, count(*) as records, count(distinct year(date_of_birth)) as years
    from dated
    group by source_dataset
),

-- whole dates: distinct people on one date, against the records of the ten years around its year
by_date as (
    select source_dataset, date_of_birth, count(distinct given_key) as people
    from dated
    group by all
    having count(distinct given_key) >= 10
),

by_year as (
    select source_dataset, year(date_of_birth) as birth_year, count(*) as records_in_year
    from dated
    group by all
),

date_defaults as (
    select d.source_dataset, 'unknown' as kind, cast(null as integer) as birth_month, cast(null as integer) as birth_day,
           d.date_of_birth as placeholder, d.people as records
    from by_date d
    left join by_year y
        on y.source_dataset = d.source_dataset
       and y.birth_year between year(d.date_of_birth) - 5 and year(d.date_of_birth) + 5
       and y.birth_year <> year(d.date_of_birth)
    group by d.source_dataset, d.date_of_birth, d.people
    having d.people > 10 * coalesce(sum(y.records_in_year), 0) / 10.0
),

-- days of the year (placeholders aside): one holds about 1/366 of a source's dates; four times that, and 10 records, is a default
by_day as (
    select source_dataset, month(date_of_birth) as birth_month, day(date_of_birth) as birth_day,
           count(*) as records_on_day
    from dated
    anti join date_defaults d on d.source_dataset = dated.source_dataset and d.placeholder = dated.date_of_birth
    group by all
),

day_defaults as (
    select b.source_dataset, 'year_only' as kind, b.birth_month, b.birth_day, cast(null as date) as placeholder,
           b.records_on_day as records
    from by_day b
    join per_source p using (source_dataset)
    where b.records_on_day >= 10 and b.records_on_day > 4 * p.records / 366.0
)

select source_dataset, kind, birth_month, birth_day, placeholder, records
from day_defaults
union all
select source_dataset, kind, birth_month, birth_day, placeholder, records
from date_defaults
order by source_dataset, kind, placeholder, birth_month, birth_day;

comment on table linkage.dob_default is 'One row per source and default date of birth found in its data: a day of the year read as the year only (kind year_only), or a placeholder date read as unknown (kind unknown).';
comment on column linkage.dob_default.source_dataset is 'Source.';
comment on column linkage.dob_default.kind is 'year_only: the day and month are a default, the year is kept; unknown: the whole date is a placeholder.';
comment on column linkage.dob_default.birth_month is 'Month of the default day (year_only).';
comment on column linkage.dob_default.birth_day is 'Day of the default day (year_only).';
comment on column linkage.dob_default.placeholder is 'The placeholder date (unknown).';
comment on column linkage.dob_default.records is 'Records on that day (year_only) or distinct given names on that date (unknown).';
