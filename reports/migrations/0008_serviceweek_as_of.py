"""A service-week records the moment its metrics judge at, and whether its week was still in
progress then. Rows computed before were judged at their week's end: as_of stays empty."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0007_finding_params"),
    ]

    operations = [
        migrations.AddField(
            model_name="serviceweek",
            name="as_of",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="serviceweek",
            name="in_progress",
            field=models.BooleanField(default=False),
        ),
    ]
