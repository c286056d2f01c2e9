comment on table registry.person_source_link is 'One row per accepted source record: the person it belongs to (as of the latest night). Every staged record maps to exactly one person.';
comment on column registry.person_source_link.person_id is 'Stable person id: kept across nights; merges and splits are in registry.person_id_history.';
comment on column registry.person_source_link.source is 'Source of the record.';
comment on column registry.person_source_link.source_record_id is 'The record''s id in its source.';
comment on column registry.person_source_link.match_probability is 'Strongest link from this record to another record of the same person (1.0: deterministic or reviewed; null: singleton).';
comment on column registry.person_source_link.link_method is 'deterministic or reviewed, probabilistic, singleton, or singleton: insufficient identifiers.';
comment on column registry.person_source_link.needs_review is 'True when the chaining guard split the record''s cluster: a reviewer should confirm.';
comment on column registry.person_source_link.linked_night is 'Night of the linkage.';
