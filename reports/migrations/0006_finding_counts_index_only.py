"""The findings index covers the service and test: the pages count tests with a finding per
service, week and kind from the index alone, without reading the wide evidence rows."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0005_test_fks_without_constraints"),
        ("reports", "0005_report"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="finding",
            name="finding_project_week",
        ),
        migrations.AddIndex(
            model_name="finding",
            index=models.Index(
                fields=["project", "week", "kind"],
                include=("service", "test"),
                name="finding_project_week",
            ),
        ),
    ]
