-- audit.finding_metrics: how well the findings match a known truth, per night and kind. Kept across nights.
create schema if not exists audit;

create table if not exists audit.finding_metrics (
    night date not null,
    kind varchar not null,
    expected bigint not null,
    found bigint not null,
    true_positives bigint not null,
    "precision" double not null,
    recall double not null,
    computed_at timestamp not null
);

comment on table audit.finding_metrics is 'One row per night and kind of finding: the reports scored against a known truth (the synthetic country''s planted errors), person by person. A rerun of a night replaces its rows.';
comment on column audit.finding_metrics.night is 'Night the reports were built for.';
comment on column audit.finding_metrics.kind is 'deceased_paid, exclusive_overlap, duplicate_enrolment, gap or inclusion_error.';
comment on column audit.finding_metrics.expected is 'True persons the truth lists for the kind that night.';
comment on column audit.finding_metrics.found is 'True persons the reports list (each warehouse person mapped to the true person most of its records belong to).';
comment on column audit.finding_metrics.true_positives is 'True persons in both.';
comment on column audit.finding_metrics."precision" is 'true_positives / found (1 when nothing is found).';
comment on column audit.finding_metrics.recall is 'true_positives / expected (1 when nothing is expected).';
comment on column audit.finding_metrics.computed_at is 'When the metrics were computed (UTC).';
