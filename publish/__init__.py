"""publish: the night's warehouse made public, as a plain library (no Dagster).

- ``warehouse.publish_all``: the restricted warehouse and the de-identified analytics file (DuckDB and
  Parquet), swapped in atomically, with their data dictionaries;
- ``deidentify``: the classification of every analytics column (direct identifier, quasi-identifier,
  safe) and what publishing does to each;
- ``dictionary``: the data dictionaries, written from the warehouse's comments and the classification.
"""
