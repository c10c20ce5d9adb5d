"""Aggregation, charts and reports (HTML, Markdown, CSV, JSON) and run comparison; no framework imports."""
