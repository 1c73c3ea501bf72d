"""Indexes for the pages on a long history.

* result_test_failures: a partial index of a test's failures, newest first (the test page's
  default results list). Failures are a few percent of the results, so the index is small and
  cheap to maintain while loading; with `outcome` included, counting a test's failures reads the
  index alone. On PostgreSQL it is created on the partitioned table, hence on every partition.
* run_project_service: one service's runs, newest first (the runs list filtered by service).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0003_test_service_pinned"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="result",
            index=models.Index(
                condition=models.Q(("outcome__in", [1, 2])),
                fields=["test", "run_week", "run", "attempt"],
                include=("outcome",),
                name="result_test_failures",
            ),
        ),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(
                fields=["project", "service", "started_at"], name="run_project_service"
            ),
        ),
    ]
