"""On PostgreSQL, replace the plain results table by one RANGE-partitioned by run_week.

Django's model state is unchanged (the model still says `id` is the primary key, which stays
true for every row); only the physical table differs. SQLite keeps the plain table.
"""

from django.db import migrations


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from ingest.partitions import PARTITIONED_TABLE_SQL, TABLE

    schema_editor.execute(f"DROP TABLE {TABLE}")
    schema_editor.execute(PARTITIONED_TABLE_SQL)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    raise migrations.exceptions.IrreversibleError("the partitioned results table stays")


class Migration(migrations.Migration):
    dependencies = [("ingest", "0001_initial")]
    operations = [migrations.RunPython(partition, unpartition)]
