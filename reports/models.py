"""Rollups, findings, reports and alert subscriptions (computed from ingest's runs and results)."""
