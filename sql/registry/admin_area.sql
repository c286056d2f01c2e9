-- registry.admin_area: the country's admin areas with their names (reference/admin_areas.csv), so that
-- tables holding area codes can show the names. registry.build fills the temp table _admin_areas from the
-- file before this runs (empty when the home has no such file).
create or replace table registry.admin_area as
with

areas as (
    select distinct
        trim(admin1_code) as admin1_code,
        trim(admin1_name) as admin1_name,
        trim(admin2_code) as admin2_code,
        trim(admin2_name) as admin2_name
    from _admin_areas
    where nullif(trim(admin2_code), '') is not null
)

select
    -- codes
    admin2_code,
    admin1_code,
    -- names
    admin2_name,
    admin1_name
from areas
order by admin1_code, admin2_code;

comment on table registry.admin_area is 'One row per district (second-level admin area) of reference/admin_areas.csv, with its province: the names behind the area codes.';
comment on column registry.admin_area.admin2_code is 'District code (as admin2 in every other table).';
comment on column registry.admin_area.admin1_code is 'Province code (as admin1 in every other table).';
comment on column registry.admin_area.admin2_name is 'District name.';
comment on column registry.admin_area.admin1_name is 'Province name.';
