"""The OpenAPI schema: generated without a warning, valid, and naming every public endpoint."""

from __future__ import annotations

import yaml
from django.core.management import call_command

PUBLIC_PATHS = [
    "/api/v1/uploads",
    "/api/v1/runs/{run_id}",
    "/api/v1/projects/{slug}/status",
    "/api/v1/projects/{slug}/services",
    "/api/v1/projects/{slug}/findings",
    "/api/v1/projects/{slug}/quarantine",
]


def test_schema_generates_without_warnings_and_validates(tmp_path):  # type: ignore[no-untyped-def]
    out = tmp_path / "schema.yml"
    # --fail-on-warn turns any warning (a clash of component names, an unresolved field type)
    # into an error; --validate checks the document against the OpenAPI 3 schema.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    missing = [p for p in PUBLIC_PATHS if p not in schema["paths"]]
    assert not missing, f"not in the schema: {missing}; it has {sorted(schema['paths'])}"
    components = schema["components"]["schemas"]
    assert {"Run", "ServiceSummary"} <= set(components), sorted(components)
    files = components["Run"]["properties"]["files"]
    assert files["type"] == "array" and "$ref" in files["items"], files
