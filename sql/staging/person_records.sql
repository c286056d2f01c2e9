-- staging.person_records: one canonical row per source record (its latest version as of the
-- night), names normalised, ids validated, areas mapped. The input of record linkage.
create or replace table staging.person_records as
with

latest as (
    select *
    from staging.record_versions
    qualify row_number() over (
        partition by source, source_record_id order by _night desc, _file desc, _row_number desc
    ) = 1
),

latest_snapshot as (
    select source, max(_night) as snapshot_night
    from staging.record_versions
    group by source
),

-- names: a source with one name field sends "SURNAME, Given Middle" or given-first / surname-first
split_names as (
    select
        latest.*,
        case when strpos(full_name, ',') > 0 then split_part(full_name, ',', 1) end as comma_surname,
        case when strpos(full_name, ',') > 0 then string_split(ibr_clean_name(substr(full_name, strpos(full_name, ',') + 1)), ' ')
             else string_split(ibr_clean_name(full_name), ' ') end as name_tokens
    from latest
),

names as (
    select
        split_names.*,
        coalesce(ibr_clean_name(first_name),
            case when comma_surname is not null then name_tokens[1]
                 when full_name_order = 'surname_first' then name_tokens[2]
                 else name_tokens[1] end) as first_name_std,
        coalesce(ibr_clean_name(middle_name),
            case when first_name is not null then null
                 when comma_surname is not null then nullif(array_to_string(name_tokens[2:], ' '), '')
                 when full_name_order = 'surname_first' then nullif(array_to_string(name_tokens[3:], ' '), '')
                 else nullif(array_to_string(name_tokens[2:len(name_tokens) - 1], ' '), '') end) as middle_name_std,
        coalesce(ibr_clean_name(last_name),
            case when comma_surname is not null then ibr_clean_name(comma_surname)
                 when full_name_order = 'surname_first' then name_tokens[1]
                 when len(name_tokens) > 1 then name_tokens[len(name_tokens)] end) as last_name_std
    from split_names
    left join staging.source_settings using (source)
),

-- ids
ids as (
    select
        names.*,
        nullif(regexp_replace(upper(national_id), '[^0-9A-Z]', '', 'g'), '') as national_id_std,
        nullif(regexp_replace(phone, '[^0-9]', '', 'g'), '') as phone_digits
    from names
),

-- areas: codes or names, any case, with or without accents
areas as (
    select
        ids.*,
        a1.admin1_code as admin1_std,
        coalesce(a2.admin2_code, a2n.admin2_code) as admin2_std
    from ids
    left join staging.admin1_lookup a1 on a1.area_key = ibr_area_key(ids.admin1)
    left join staging.admin2_lookup a2 on a2.area_key = ibr_area_key(ids.admin2) and a2.by_code
    left join staging.admin2_lookup a2n
        on a2n.area_key = ibr_area_key(ids.admin2) and not a2n.by_code and a2n.admin1_code = a1.admin1_code
)

select
    -- key
    areas.source,
    source_kind,
    programme_id,
    source_record_id,
    -- names
    first_name_std as first_name,
    middle_name_std as middle_name,
    last_name_std as last_name,
    nullif(concat_ws(' ', first_name_std, middle_name_std, last_name_std), '') as full_name,
    -- birth and sex
    date_of_birth,
    case when date_of_birth is not null then dob_precision end as dob_precision,
    year(date_of_birth) as birth_year,
    sex,
    -- identifiers
    national_id_std as national_id,
    coalesce(
        regexp_full_match(national_id_std, getvariable('national_id_pattern'))
        and (getvariable('national_id_check_digit') = 'none' or ibr_luhn_valid(national_id_std)),
        false
    ) as national_id_valid,
    nullif(regexp_replace(upper(civil_registration_number), '[^0-9A-Z]', '', 'g'), '') as civil_registration_number,
    nullif(regexp_replace(upper(tax_number), '[^0-9A-Z]', '', 'g'), '') as tax_number,
    case
        when getvariable('phone_national_digits') = 0 then phone_digits
        when length(phone_digits) < getvariable('phone_national_digits') then null
        else right(phone_digits, getvariable('phone_national_digits'))
    end as phone,
    -- place
    admin1_std as admin1,
    admin2_std as admin2,
    ibr_clean_name(locality) as locality,
    nullif(trim(regexp_replace(lower(ibr_ascii(address_line)), '\s+', ' ', 'g')), '') as address_line,
    nullif(upper(regexp_replace(postcode, '\s+', '', 'g')), '') as postcode,
    -- household
    household_id,
    lower(relationship_to_head) as relationship_to_head,
    -- state
    drop_mode = 'delta' or _night = snapshot_night as is_current,
    _night as last_seen_night,
    -- lineage
    _file as source_file,
    _row_number as source_row_number,
    _file_sha256 as source_file_sha256
from areas
join latest_snapshot using (source)
order by areas.source, source_record_id;

comment on table staging.person_records is 'One row per source record (its latest version as of the night), standardised: the input of record linkage.';
comment on column staging.person_records.source is 'Source name (sources/<source>.yaml).';
comment on column staging.person_records.source_kind is 'civil_registry, tax_registry, disability_registry, programme or social_registry.';
comment on column staging.person_records.programme_id is 'Programme of a programme source, else null.';
comment on column staging.person_records.source_record_id is 'The record''s id in its source.';
comment on column staging.person_records.first_name is 'Given name: lower-case ASCII, accents and other scripts transliterated, punctuation removed.';
comment on column staging.person_records.middle_name is 'Other given names, normalised as first_name.';
comment on column staging.person_records.last_name is 'Surname, normalised as first_name.';
comment on column staging.person_records.full_name is 'first, middle and last name joined by spaces.';
comment on column staging.person_records.date_of_birth is 'Date of birth; the first of the month or year when only those are known (see dob_precision).';
comment on column staging.person_records.dob_precision is 'day, month or year: how much of date_of_birth the source really gave.';
comment on column staging.person_records.birth_year is 'Year of birth.';
comment on column staging.person_records.sex is 'F or M.';
comment on column staging.person_records.national_id is 'National id, upper case, spaces and dashes removed; kept even when invalid.';
comment on column staging.person_records.national_id_valid is 'True when the id matches country.yaml''s pattern and check digit.';
comment on column staging.person_records.civil_registration_number is 'Civil registration number, normalised.';
comment on column staging.person_records.tax_number is 'Tax number, normalised.';
comment on column staging.person_records.phone is 'Phone number: national digits only (country.yaml).';
comment on column staging.person_records.admin1 is 'First-level admin area code (reference/admin_areas.csv); null when unknown.';
comment on column staging.person_records.admin2 is 'Second-level admin area code; null when unknown.';
comment on column staging.person_records.locality is 'Village or town, normalised as names.';
comment on column staging.person_records.address_line is 'Address, lower-case ASCII.';
comment on column staging.person_records.postcode is 'Postcode, upper case without spaces.';
comment on column staging.person_records.household_id is 'The source''s household reference (meaningful within the source only).';
comment on column staging.person_records.relationship_to_head is 'Relationship to the household head, as the source says it.';
comment on column staging.person_records.is_current is 'In the source''s latest snapshot (always true for delta sources).';
comment on column staging.person_records.last_seen_night is 'Drop (night) of the record''s latest version.';
comment on column staging.person_records.source_file is 'File of the latest version, relative to drops/.';
comment on column staging.person_records.source_row_number is 'Row (line) number in that file.';
comment on column staging.person_records.source_file_sha256 is 'SHA-256 of that file.';
