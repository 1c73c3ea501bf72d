"""Test.service_pinned: the test's service came from an upload's `service` field.

Adding a column with a constant default rewrites nothing on PostgreSQL (11+), so this is quick
on a large tests table; the partitioned results table is not touched.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0002_partition_results"),
    ]

    operations = [
        migrations.AddField(
            model_name="test",
            name="service_pinned",
            field=models.BooleanField(db_default=False, default=False),
        ),
    ]
