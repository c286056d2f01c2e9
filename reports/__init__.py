"""reports: the HTML reports people read, as a plain library (no Dagster).

- ``ministry``: one report per ministry (``ministry_tables``: its tables and their small-cell
  suppression, ``suppression``: the routine that hides small counts and their complements);
- ``auditor``: the auditor's report of a night (``provenance``: who ran it, on what code and inputs);
- ``charts``: the inline SVG charts and number formats both share; ``templates/``: the Jinja2 pages
  and the chart styles they share (``_charts.css``).
"""
