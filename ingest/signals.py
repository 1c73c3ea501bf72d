"""Extension points of the ingest flow, sent only after the work they announce is committed.

`run_parsed` fires once a run's results are loaded; reports connects to it to enqueue the
recomputation of the touched service-weeks (ingest must not import reports). If a receiver is
lost, reports' sweeper finds the stale service-weeks anyway.
"""

from django.dispatch import Signal

# kwargs: run_id: int, project_id: int, week: datetime.date, service_ids: list[int]
run_parsed = Signal()
