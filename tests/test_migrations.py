"""The migrations describe the models as they are: a model change without its migration would
leave a fresh install's schema behind the code (a missing column, or an index a query relies on)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_every_model_change_has_its_migration():  # type: ignore[no-untyped-def]
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:
        pytest.fail(f"models differ from their migrations:\n{out.getvalue()}")
