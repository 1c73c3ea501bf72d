"""Metric computations: pure functions over plain data (reports.metrics.data), no ORM inside.

The ORM side (reports.selectors / reports.services) loads rows into these dataclasses, calls the
functions here and stores what they return. Every definition follows DESIGN.md "Metric
definitions"; thresholds come from reports.metrics.params.MetricParams.
"""
