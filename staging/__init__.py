"""Staging: the landed raw tables read through their contracts into typed, standardised `staging.*` tables
(person records, enrolment, tax, disability, civil events), and the DuckDB functions that standardise names.
Stands on core and ingest; matching, quality and the registry read what it builds."""
