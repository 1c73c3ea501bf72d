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


def test_schema_generates_without_warnings_and_validates(tmp_path):
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
    # The upload's files are binary: /api/docs/ offers a file picker for them.
    upload = schema["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]
    form = _resolve(schema, upload["multipart/form-data"]["schema"])
    assert form["properties"]["file"]["items"] == {"type": "string", "format": "binary"}


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_the_findings_page_is_described_as_it_is_served(ci_client, tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    operation = schema["paths"]["/api/v1/projects/{slug}/findings"]["get"]
    assert "page" in {p["name"] for p in operation["parameters"]}
    described = _resolve(
        schema, operation["responses"]["200"]["content"]["application/json"]["schema"]
    )
    served = ci_client.get("/api/v1/projects/mediaserver/findings").json()
    assert described["type"] == "object" and set(described["properties"]) == set(served)
    assert described["properties"]["results"]["type"] == "array"
    beyond = ci_client.get("/api/v1/projects/mediaserver/findings?page=9")
    assert beyond.status_code == 404 and "404" in operation["responses"]


def test_every_operation_says_what_it_does(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    bare = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if not (operation.get("description") or operation.get("summary"))
    ]
    assert not bare, bare
