"""An upload with a build id is identified by (project, build id, job, file digests), as DESIGN.md
states; the commit enters the key only when there is no build id. Stored keys are rewritten so
that uploading an earlier upload again still finds its run. Where two stored runs now share a
key (the same build, job and files under two commits), the first keeps it and the others keep
their old keys."""

import hashlib

from django.db import migrations


def _key(build_id, job, commit, digests):  # type: ignore[no-untyped-def]
    build = [build_id] if build_id else ["", commit]
    return hashlib.sha256("\x1f".join([*build, job, *sorted(digests)]).encode()).hexdigest()


def rewrite_keys(apps, schema_editor):  # type: ignore[no-untyped-def]
    Run = apps.get_model("ingest", "Run")
    RunFile = apps.get_model("ingest", "RunFile")
    taken = set(Run.objects.values_list("project_id", "idempotency_key"))
    digests: dict[int, list[str]] = {}
    for run_id, digest in RunFile.objects.values_list("run_id", "digest").iterator(chunk_size=5000):
        digests.setdefault(run_id, []).append(digest)
    runs = Run.objects.order_by("pk").values_list("pk", "project_id", "build_id", "job", "commit")
    for pk, project_id, build_id, job, commit in runs.iterator(chunk_size=2000):
        key = _key(build_id, job, commit, digests.get(pk, []))
        if (project_id, key) in taken:
            continue  # already this key (its own, or a run before it that keeps it)
        Run.objects.filter(pk=pk).update(idempotency_key=key)
        taken.add((project_id, key))


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0006_run_project_week"),
    ]

    operations = [
        migrations.RunPython(rewrite_keys, migrations.RunPython.noop, elidable=True),
    ]
