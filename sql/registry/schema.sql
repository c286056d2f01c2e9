-- linkage and registry tables kept across nights (rebuilt tables are created by their models)
create schema if not exists linkage;
create schema if not exists registry;
create schema if not exists audit;

create table if not exists linkage.record_person (
    night date not null,
    record_key varchar not null,
    source varchar not null,
    source_record_id varchar not null,
    person_id varchar not null,
    match_probability double,
    flag varchar
);
comment on table linkage.record_person is 'One row per night and source record: the person the record was linked to that night. Kept across nights: the next night carries person ids over from it.';
comment on column linkage.record_person.night is 'Drop date (night) of the linkage.';
comment on column linkage.record_person.record_key is 'source:source_record_id.';
comment on column linkage.record_person.source is 'Source of the record.';
comment on column linkage.record_person.source_record_id is 'The record''s id in its source.';
comment on column linkage.record_person.person_id is 'Stable person id assigned that night.';
comment on column linkage.record_person.match_probability is 'Strongest link from this record to another record of the same person (1.0: deterministic id match or reviewer must-link; null: singleton).';
comment on column linkage.record_person.flag is 'needs_review (in a cluster split by the chaining guard), insufficient_identifiers (kept a singleton), or null.';
-- added for incremental nights; `add column if not exists` upgrades a database made before it
alter table linkage.record_person add column if not exists link_fingerprint varchar;
comment on column linkage.record_person.link_fingerprint is 'MD5 of the record''s linkage fields as linked that night: the next night re-scores a record whose fingerprint changed (null: linked before fingerprints were kept).';

-- retention (pipelines/retention.py) deletes old nights of linkage.record_person; the highest person id
-- they held stays here, so a person id is never given out twice
create table if not exists linkage.retired_person_id (
    night date not null,
    person_id varchar not null
);
comment on table linkage.retired_person_id is 'One row per retention prune of linkage.record_person: the highest person id held by the nights it deleted, up to and including `night`. New person ids are numbered above it.';
comment on column linkage.retired_person_id.night is 'The latest night whose rows of linkage.record_person that prune deleted.';
comment on column linkage.retired_person_id.person_id is 'The highest person id those rows held.';

create table if not exists registry.person_id_history (
    night date not null,
    old_person_id varchar not null,
    new_person_id varchar not null,
    kind varchar not null,
    run_id varchar
);
comment on table registry.person_id_history is 'One row per person id change: merge (old id retired into new id) or split (records of old id moved to new id).';
comment on column registry.person_id_history.night is 'Night of the change.';
comment on column registry.person_id_history.old_person_id is 'The id the records had.';
comment on column registry.person_id_history.new_person_id is 'The id they have now.';
comment on column registry.person_id_history.kind is 'merge or split.';
comment on column registry.person_id_history.run_id is 'Dagster run that made the change.';

create table if not exists linkage.review_queue (
    night date not null,
    record_key_l varchar not null,
    record_key_r varchar not null,
    match_probability double,
    reason varchar,
    first_name_l varchar, first_name_r varchar,
    last_name_l varchar, last_name_r varchar,
    date_of_birth_l date, date_of_birth_r date,
    sex_l varchar, sex_r varchar,
    national_id_l varchar, national_id_r varchar,
    admin2_l varchar, admin2_r varchar
);
comment on table linkage.review_queue is 'One row per night and record pair a person should decide: uncertain model score, or inside a cluster the chaining guard split. Restricted: personal data side by side. Decisions go to <home>/reviews/*.csv.';
comment on column linkage.review_queue.night is 'Night the pair was queued.';
comment on column linkage.review_queue.record_key_l is 'source:source_record_id of the left record (use source_l/source_record_id_l in the decision file).';
comment on column linkage.review_queue.record_key_r is 'source:source_record_id of the right record.';
comment on column linkage.review_queue.match_probability is 'Model probability that the two records are the same person.';
comment on column linkage.review_queue.reason is 'uncertain (in the review band, left in two persons), or cut by the identity guard (a link at or above the threshold inside a cluster it split).';
comment on column linkage.review_queue.first_name_l is 'Standardised first name, left record.';
comment on column linkage.review_queue.first_name_r is 'Standardised first name, right record.';
comment on column linkage.review_queue.last_name_l is 'Standardised last name, left record.';
comment on column linkage.review_queue.last_name_r is 'Standardised last name, right record.';
comment on column linkage.review_queue.date_of_birth_l is 'Date of birth, left record.';
comment on column linkage.review_queue.date_of_birth_r is 'Date of birth, right record.';
comment on column linkage.review_queue.sex_l is 'Sex, left record.';
comment on column linkage.review_queue.sex_r is 'Sex, right record.';
comment on column linkage.review_queue.national_id_l is 'National id, left record.';
comment on column linkage.review_queue.national_id_r is 'National id, right record.';
comment on column linkage.review_queue.admin2_l is 'Admin2 area, left record.';
comment on column linkage.review_queue.admin2_r is 'Admin2 area, right record.';

create table if not exists audit.linkage_metrics (
    night date not null,
    run_id varchar,
    metric varchar not null,
    value double,
    computed_at timestamp not null
);
comment on table audit.linkage_metrics is 'One row per night and accuracy metric, computed against a known truth where one exists (the synthetic country, or a clerically reviewed sample).';
comment on column audit.linkage_metrics.night is 'Night of the linkage.';
comment on column audit.linkage_metrics.run_id is 'Dagster run.';
comment on column audit.linkage_metrics.metric is 'pairwise_precision, pairwise_recall, pairwise_f1, bcubed_precision, bcubed_recall, bcubed_f1, or a pair/record count.';
comment on column audit.linkage_metrics.value is 'The metric''s value.';
comment on column audit.linkage_metrics.computed_at is 'When it was computed (UTC).';

create table if not exists audit.linkage_runs (
    night date not null,
    run_id varchar,
    records bigint,
    insufficient_identifiers bigint,
    deterministic_pairs bigint,
    comparisons bigint,
    predicted_pairs bigint,
    persons bigint,
    flagged_clusters bigint,
    review_queue bigint,
    model_path varchar,
    details json,
    finished_at timestamp not null
);
comment on table audit.linkage_runs is 'One row per night: what the linkage did (counts, the model used, blocking rule comparison counts and step timings in details).';
comment on column audit.linkage_runs.night is 'Night of the linkage.';
comment on column audit.linkage_runs.run_id is 'Dagster run.';
comment on column audit.linkage_runs.records is 'Source records linked.';
comment on column audit.linkage_runs.insufficient_identifiers is 'Records kept out of the model (fewer than two identifying fields): singletons.';
comment on column audit.linkage_runs.deterministic_pairs is 'Pairs linked by agreeing valid national ids (with birth year and initials not contradicting).';
comment on column audit.linkage_runs.comparisons is 'Record pairs the blocking rules generated for scoring (estimated by sampling on big inputs).';
comment on column audit.linkage_runs.predicted_pairs is 'Pairs the model scored at or above the match threshold.';
comment on column audit.linkage_runs.persons is 'Distinct persons after clustering.';
comment on column audit.linkage_runs.flagged_clusters is 'Clusters the chaining guard split and flagged for review.';
comment on column audit.linkage_runs.review_queue is 'Pairs queued for clerical review.';
comment on column audit.linkage_runs.model_path is 'The Splink model (JSON) used.';
comment on column audit.linkage_runs.details is 'Blocking rule counts, step timings (seconds), whether the model was trained this night; why the night ran in its mode, records new/changed/removed since the previous night, records scored, pairs carried over, and the model hash and pair threshold the next night checks before running incrementally.';
comment on column audit.linkage_runs.finished_at is 'When the linkage finished (UTC).';
alter table audit.linkage_runs add column if not exists mode varchar;
comment on column audit.linkage_runs.mode is 'full (every record pair the blocking rules generate was scored) or incremental (only new and changed records were scored, and comparisons counts their pairs alone; pairs of unchanged records carried over from the night before). Null: linked before modes existed.';
