-- audit: what came in, what was kept, what was set aside and why. Kept across nights.
create schema if not exists audit;
create schema if not exists raw;
create schema if not exists staging;

create table if not exists audit.files (
    night date not null,
    source varchar not null,
    file_path varchar not null,
    file_sha256 varchar,
    file_bytes bigint,
    status varchar not null,
    reason varchar,
    rows_in bigint not null,
    rows_accepted bigint not null,
    rows_rejected bigint not null,
    landed_at timestamp not null,
    primary key (source, file_path)
);
comment on table audit.files is 'One row per drop file seen, with its fate. rows_in = rows_accepted + rows_rejected always holds.';
comment on column audit.files.night is 'Drop date (the night) the file belongs to: the folder name under drops/<source>/.';
comment on column audit.files.source is 'Source name: the drop folder, which should name a contract in sources/.';
comment on column audit.files.file_path is 'Path of the file relative to <home>/drops.';
comment on column audit.files.file_sha256 is 'SHA-256 of the file bytes; a file already landed with the same hash is not landed again.';
comment on column audit.files.file_bytes is 'Size of the file in bytes.';
comment on column audit.files.status is 'accepted (all rows kept), partial (some rows quarantined), rejected (whole file set aside), duplicate (same bytes as a file already landed), empty (no data rows).';
comment on column audit.files.reason is 'Why a file was rejected or partial; names the row and field, never a value.';
comment on column audit.files.rows_in is 'Data rows in the file (header excluded).';
comment on column audit.files.rows_accepted is 'Rows kept in raw.<source>.';
comment on column audit.files.rows_rejected is 'Rows set aside: in audit.quarantine, or the whole file in <home>/quarantine/.';
comment on column audit.files.landed_at is 'When the file was landed (UTC).';

create table if not exists audit.quarantine (
    night date not null,
    source varchar not null,
    file_path varchar not null,
    row_number bigint not null,
    source_record_id varchar,
    field varchar,
    reason varchar not null,
    raw_record varchar,
    landed_at timestamp not null
);
comment on table audit.quarantine is 'One row per rejected row of an otherwise readable file. Restricted: raw_record holds the row as landed.';
comment on column audit.quarantine.night is 'Drop date of the file.';
comment on column audit.quarantine.source is 'Source name.';
comment on column audit.quarantine.file_path is 'Path of the file relative to <home>/drops.';
comment on column audit.quarantine.row_number is 'Line number in the file (the header is line 1) for CSV; 1-based row for Parquet.';
comment on column audit.quarantine.source_record_id is 'The row''s record id when it could be read.';
comment on column audit.quarantine.field is 'Canonical field (and source column) at fault, when one field is.';
comment on column audit.quarantine.reason is 'What is wrong, naming the field and what was expected; never the value.';
comment on column audit.quarantine.raw_record is 'The row as landed (CSV line or JSON of the values): personal data, restricted warehouse only.';
comment on column audit.quarantine.landed_at is 'When the row was set aside (UTC).';

create table if not exists audit.checks (
    run_id varchar not null,
    night date not null,
    asset varchar not null,
    check_name varchar not null,
    layer varchar not null,
    severity varchar not null,
    passed boolean not null,
    observed double,
    threshold double,
    description varchar,
    failing_keys varchar[],
    checked_at timestamp not null
);
comment on table audit.checks is 'One row per quality check evaluated, per run and night; kept across nights so a check''s trend can be read. A rerun of a night adds rows under its own run_id.';
comment on column audit.checks.run_id is 'Dagster run id (or the id of the headless run) that evaluated the check.';
comment on column audit.checks.night is 'Drop date (the night) the check ran for.';
comment on column audit.checks.asset is 'What was checked: a Dagster asset key such as raw/civil_registry or registry/enrolment.';
comment on column audit.checks.check_name is 'Name of the check, unique within its asset (expectations are named after the field they test).';
comment on column audit.checks.layer is 'source (a drop as landed), staging, linkage, registry, reports or cross_night (a comparison with earlier nights).';
comment on column audit.checks.severity is 'blocking (a failure stops the publish) or warning (reported, the night goes on); set in <home>/checks.yaml.';
alter table audit.checks add column if not exists definition varchar;
comment on column audit.checks.definition is 'How the check is computed: the Great Expectations expectation and its arguments, or the rule in words; null for checks recorded before it was kept.';
comment on column audit.checks.passed is 'True when the check passed.';
comment on column audit.checks.observed is 'The value the check observed (a count of failing rows, a share, a ratio), as the description says.';
comment on column audit.checks.threshold is 'The value the observed one is held against.';
comment on column audit.checks.description is 'What the check found, in words; never a personal value.';
comment on column audit.checks.failing_keys is 'Up to 20 keys of failing records (source:source_record_id, file path, person id): keys only, never personal fields.';
comment on column audit.checks.checked_at is 'When the check ran (UTC).';

create table if not exists audit.drop_stats (
    source varchar not null,
    night date not null,
    rows_landed bigint not null,
    valid_national_ids bigint not null,
    id_rule varchar not null,
    primary key (source, night)
);
comment on table audit.drop_stats is 'Per source and night, counts the cross-night checks compare with later nights (so an earlier drop is not read again): the rows landed and how many carry a valid national id.';
comment on column audit.drop_stats.source is 'Source (contract name).';
comment on column audit.drop_stats.night is 'Drop date (the night) the rows were landed for.';
comment on column audit.drop_stats.rows_landed is 'Rows of raw.<source> landed that night.';
comment on column audit.drop_stats.valid_national_ids is 'Of them, rows whose national id passes the country pattern and check digit (staging''s national_id_valid).';
comment on column audit.drop_stats.id_rule is 'SHA-256 of what decided validity (the source column, country.yaml''s pattern and check digit): counts made under another rule are not reused.';

create table if not exists audit.field_issues (
    night date not null,
    source varchar not null,
    file_path varchar not null,
    row_number bigint not null,
    source_record_id varchar,
    field varchar not null,
    source_column varchar not null,
    rule varchar not null,
    reason varchar not null,
    landed_at timestamp not null
);
comment on table audit.field_issues is 'One row per value of an optional field that could not be read (a malformed date, a code outside the contract''s codes, a non-numeric amount) in a row that was kept: the row is in raw.<source> as landed, and staging reads the value as null. Rows set aside are in audit.quarantine instead.';
comment on column audit.field_issues.night is 'Drop date of the file.';
comment on column audit.field_issues.source is 'Source name.';
comment on column audit.field_issues.file_path is 'Path of the file relative to <home>/drops.';
comment on column audit.field_issues.row_number is 'Line number in the file (the header is line 1) for CSV; 1-based row for Parquet: the row''s _row_number in raw.<source>.';
comment on column audit.field_issues.source_record_id is 'The row''s record id.';
comment on column audit.field_issues.field is 'Canonical field (or extra_fields.<name>) whose value was set to null.';
comment on column audit.field_issues.source_column is 'Source column the field is read from.';
comment on column audit.field_issues.rule is 'The rule the value broke: not_a_date, not_a_number, not_a_whole_number or unknown_code.';
comment on column audit.field_issues.reason is 'What is wrong, naming the field, the column and what was expected; never the value.';
comment on column audit.field_issues.landed_at is 'When the row was landed (UTC).';
