"""pipelines: the Dagster definitions (jobs, schedules, sensors), the ``ibr`` command line, and the
operations around a night (retention, backup, alerts, recovery). The top of the house: no other room of the
library imports it."""
