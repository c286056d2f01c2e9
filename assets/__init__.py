"""assets: the Dagster assets and asset checks of a night, one module per stage (ingestion, staging, linkage,
registry, publish), and the resources they share. Thin: each calls the plain library of its room."""
