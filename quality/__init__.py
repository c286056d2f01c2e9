"""quality: the night's data-quality checks as a plain library (no Dagster): Great Expectations suites on the
raw, staged and published tables (``expectations``), checks across nights (``cross_night``), row counts
reconciled from drop to warehouse (``reconcile``), and the checks' configuration and results (``checks``).
The assets turn them into Dagster asset checks."""
