"""registry: the golden records, who receives what, and the findings, as a plain library (no Dagster).

In the order a night runs them:

- ``load_programmes(home / "programmes.yaml")``: the validated programme rules;
- ``build_registry(con, home, night)``: ``registry.*`` from staging and the linkage;
- ``build_reports(con, home, night)``: the ``reports.*`` findings;
- ``evaluate_findings(con, home, night)``: ``audit.finding_metrics``, where a truth exists.
"""

from __future__ import annotations

from registry.build import build_registry
from registry.evaluate import evaluate_findings
from registry.findings import build_reports
from registry.programmes import ProgrammeRules, ProgrammesError, load_programmes

__all__ = [
    "ProgrammeRules",
    "ProgrammesError",
    "build_registry",
    "build_reports",
    "evaluate_findings",
    "load_programmes",
]
