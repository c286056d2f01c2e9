"""matching: who is who. The staged person records linked across sources into persons, as a plain library
(no Dagster), one module per verb, in the order a night runs them (``linkage.link_night``):

- ``link_input``: the records in a linkable shape (name parts, sound keys, default birth days read as years);
- ``incremental``: which records changed, and whether tonight scores everyone or only those;
- ``fields``, ``comparisons``, ``blocking_rules``, ``model``: the Splink model chosen from the fields the data
  fills; ``blocking``: the rules counted and tightened to the night's comparison budget;
- ``training``, ``calibrate``, ``scoring``: u and m estimated, the prior and the threshold chosen, pairs scored;
- ``clustering``: persons formed, and the identity guard that splits what cannot be one person;
- ``ids``, ``stable_ids``: person ids carried from night to night; ``review``: the clerk's queue;
- ``evaluate``: accuracy against a truth where one exists;
- ``backend``, ``spark``, ``dialect``, ``scratch``: DuckDB or Spark underneath.

Stands on core and staging; the registry reads ``linkage.record_person``.
"""
