"""Findings record the parameters of the recompute that last wrote them, as service-weeks do.
Rows written before have {}: their service-week's params are the nearest record."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0006_finding_counts_index_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="finding",
            name="params",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
