"""Extension points of the ingest flow, sent only after the work they announce is committed.

`run_parsed` fires once a run's results are loaded; reports connects to it to enqueue the
recomputation of the touched service-weeks (ingest must not import reports). If a receiver is
lost, reports' sweeper finds the stale service-weeks anyway.

`tests_remapped` fires when tests changed service (new service rules, or an upload naming its
service claimed tests the rules had placed): their whole history moved with them, so every
listed service is stale in every listed week.
"""

from django.dispatch import Signal

# kwargs: run_id: int, project_id: int, week: datetime.date, service_ids: list[int]
run_parsed = Signal()

# kwargs: project_id: int, service_ids: list[int] (the services moved tests left or joined),
#         weeks: list[datetime.date] (Mondays of the run weeks in which moved tests have results)
tests_remapped = Signal()
