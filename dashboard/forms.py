"""Forms of the settings page: they parse and validate input; services do the writing."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from django import forms

from ingest.models import CONTROL_CHARACTERS, Project, Service
from reports.metrics.params import MetricParams, params_problems
from reports.models import Subscription
from reports.subscriptions import SubscriptionError, subscription_clean


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, initial="ci", help_text="Where the key will be used.")


class ServiceRulesForm(forms.Form):
    """One rule a line, `SERVICE GLOB`, tried from the top: a test's file path (or classname when
    the file is unknown) matching the glob belongs to the service."""

    rules = forms.CharField(
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "spellcheck": "false",
                "class": "mono",
                "placeholder": "cache tests/cache/*\nplex tests/plex/*",
            }
        ),  # fmt: skip
        help_text="One rule a line: SERVICE GLOB, e.g. <code>cache tests/cache/*</code>. "
        "The first match wins; tests matching none go to <code>default</code>.",
    )

    def clean_rules(self) -> list[tuple[str, str]]:
        out = []
        for number, raw in enumerate(self.cleaned_data["rules"].splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if len(parts) != 2:
                raise forms.ValidationError(
                    f"line {number}: write SERVICE GLOB, e.g. cache tests/cache/*"
                )
            service, pattern = parts[0].strip(), parts[1].strip()
            if len(service) > 100 or len(pattern) > 500:
                raise forms.ValidationError(f"line {number}: too long")
            if CONTROL_CHARACTERS.search(line):
                raise forms.ValidationError(f"line {number}: holds a control character")
            out.append((service, pattern))
        return out


# The thresholds a project may override, with the type each one takes.
PARAM_FIELDS = [f for f in fields(MetricParams) if f.name != "reference_branch"]


class MetricSettingsForm(forms.Form):
    """Reference branch, threshold overrides (blank = the default) and duration budgets."""

    reference_branch = forms.CharField(max_length=200)
    budgets = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "mono"}),
        help_text='A JSON list, first match wins: <code>[{"budget_ms": 1000, "test_glob": '
        '"*::test_*", "file_glob": "tests/unit/*"}]</code>',
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for f in PARAM_FIELDS:
            kind = forms.IntegerField if f.type in (int, "int") else forms.FloatField
            self.fields[f"param_{f.name}"] = kind(
                required=False,
                label=f.name,
                widget=forms.NumberInput(attrs={"placeholder": str(f.default), "step": "any"}),
            )

    @property
    def param_fields(self) -> list[forms.BoundField]:
        return [self[f"param_{f.name}"] for f in PARAM_FIELDS]

    def clean_budgets(self) -> list[dict[str, object]]:
        text = self.cleaned_data["budgets"].strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(value, list):
            raise forms.ValidationError("write a JSON list of budgets")
        out = []
        for i, item in enumerate(value, start=1):
            if not isinstance(item, dict) or "budget_ms" not in item:
                raise forms.ValidationError(f"budget {i}: an object with budget_ms is needed")
            unknown = set(item) - {"budget_ms", "test_glob", "file_glob"}
            if unknown:
                raise forms.ValidationError(
                    f"budget {i}: unknown keys {', '.join(sorted(unknown))}"
                )
            budget = item["budget_ms"]
            if isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0:
                raise forms.ValidationError(f"budget {i}: budget_ms must be a positive number")
            for key in ("test_glob", "file_glob"):
                if item.get(key) is not None and not isinstance(item[key], str):
                    raise forms.ValidationError(f"budget {i}: {key} must be a string")
            if not item.get("test_glob") and not item.get("file_glob"):
                raise forms.ValidationError(f"budget {i}: give a test_glob, a file_glob or both")
            out.append({k: item[k] for k in ("budget_ms", "test_glob", "file_glob") if k in item})
        return out

    def params(self) -> dict[str, object]:
        """The overrides entered (blank fields keep the default)."""
        out: dict[str, object] = {}
        for f in PARAM_FIELDS:
            value = self.cleaned_data.get(f"param_{f.name}")
            if value is not None:
                out[f.name] = value
        return out

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        try:
            MetricParams.from_dict(self.params())
        except (TypeError, ValueError) as exc:
            raise forms.ValidationError(str(exc)) from None
        for name, problem in params_problems(self.params()).items():
            self.add_error(f"param_{name}", problem)
        return cleaned


class SubscriptionForm(forms.Form):
    """Subscribe an email address or a webhook URL to the project's findings.

    The form only reads the input; `clean` checks it with reports.subscriptions'
    `subscription_clean`, the rules the API and the `subscribe` command go through, and shows
    its message on the field it names."""

    target = forms.CharField(
        max_length=1000,
        label="Email or webhook URL",
        widget=forms.TextInput(
            attrs={"placeholder": "team@example.com or https://hooks.example.com/…", "size": 46}
        ),
    )
    service = forms.CharField(required=False, label="Service", widget=forms.Select)
    # A plain field (not a MultipleChoiceField): an unknown kind is refused by the shared rule,
    # with its message, not by a second list here.
    kinds = forms.Field(
        required=False,
        label="Kinds",
        initial=list(Subscription.DEFAULT_KINDS),
        widget=forms.CheckboxSelectMultiple,
        help_text="None checked: the defaults (regression, slowdown, fixed).",
    )

    def __init__(
        self,
        *args: Any,
        project: Project,
        services: list[Service],
        kind_labels: dict[str, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["service"].widget.choices = [("", "All services")] + [
            (s.name, s.name) for s in services
        ]
        self.fields["kinds"].widget.choices = [
            (k, kind_labels.get(k, k)) for k in Subscription.KINDS
        ]

    def clean(self) -> dict[str, Any] | None:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean returns
        if self.errors:
            return cleaned
        try:
            subscription_clean(
                project=self.project,
                target=cleaned["target"],
                service=cleaned.get("service") or None,
                kinds=cleaned.get("kinds") or [],
            )
        except SubscriptionError as exc:
            self.add_error(exc.extra.get("field"), exc.detail)
        return cleaned
