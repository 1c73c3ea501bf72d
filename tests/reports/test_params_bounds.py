"""Metric settings out of bounds are refused wherever they are saved, not only on the page."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from dashboard.services import project_metric_settings_update
from reports.models import ProjectSettings


@pytest.mark.django_db
def test_the_settings_service_refuses_what_the_page_refuses(project) -> None:
    with pytest.raises(ValidationError) as refused:
        project_metric_settings_update(
            project=project, reference_branch="main", budgets=[],
            params={"od_q": 2, "regression_read_back_weeks": 1},
        )  # fmt: skip
    assert refused.value.message_dict["params"] == ["od_q: must be between 0 and 1"]
    assert not ProjectSettings.objects.filter(project=project).exists()
    row = project_metric_settings_update(
        project=project, reference_branch="main", budgets=[], params={"od_q": 0.01}
    )
    assert row.params == {"od_q": 0.01}
