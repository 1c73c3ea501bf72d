"""Extension points of the ingest flow.

`run_parsed` fires once a run's results are loaded, inside the transaction that loads them:
receivers write rows that must commit together with the results (reports marks the touched
service-weeks stale, so "pending" never reads zero between the two) and queue any further work
with transaction.on_commit. ingest must not import reports; this is how the two meet.

`run_deleted` fires when a run is deleted with its results, inside the deleting transaction:
the listed services lost results in that week.

`tests_remapped` fires when tests changed service (new service rules, or an upload naming its
service claimed tests the rules had placed): their whole history moved with them, so every
listed service is stale in every listed week.
"""

from django.dispatch import Signal

# kwargs: run_id: int, project_id: int, week: datetime.date, service_ids: list[int],
#         commit: str, started_at: datetime.datetime
run_parsed = Signal()

# kwargs: as run_parsed (the week is the deleted run's)
run_deleted = Signal()

# kwargs: project_id: int, service_ids: list[int] (the services moved tests left or joined),
#         weeks: list[datetime.date] (Mondays of the run weeks in which moved tests have results)
tests_remapped = Signal()
