"""Service mapping: rules decide at load, an upload's `service` wins and pins, the rules API, and
re-mapping known tests when rules change."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingest import tasks
from ingest.models import Project, Service, ServiceRule, Test
from ingest.servicemap import Rule, service_for
from ingest.services import run_parse, service_rules_replace
from ingest.services import tests_remap as remap  # not `test*`: pytest would collect it
from ingest.signals import run_parsed, tests_remapped

pytestmark = pytest.mark.django_db

NOV_2 = dt.date(2026, 11, 2)  # a Monday
NOV_9 = dt.date(2026, 11, 9)

CASES = [
    # (classname, name, file)
    ("tests.cache.test_store.TestStore", "test_get", "tests/cache/test_store.py"),
    ("tests.cache.test_store.TestStore", "test_put", r".\tests\cache\test_store.py"),
    ("tests.plex.test_scan.TestScan", "test_scan", "tests/plex/test_scan.py"),
    ("tests.jwt.test_sign", "test_sign", ""),  # no file: the classname is matched
    ("tests.misc.test_x", "test_x", "tests/misc/test_x.py"),
]


def junit(cases: list[tuple[str, str, str]] = CASES) -> bytes:
    body = "".join(
        f'<testcase classname="{c}" name="{n}"' + (f' file="{f}"' if f else "") + ' time="0.01"/>'
        for c, n, f in cases
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
        f'timestamp="2026-11-02T10:00:00Z">{body}</testsuite></testsuites>'
    ).encode()


def upload(client, content: bytes, **fields: str) -> Any:
    data = {"commit": fields.pop("commit", "abc"), **fields}
    data["file"] = [SimpleUploadedFile("junit.xml", content)]
    return client.post("/api/v1/uploads", data, format="multipart")


def load(client, content: bytes = b"", **fields: str) -> int:
    response = upload(client, content or junit(), **fields)
    assert response.status_code == 202, response.content
    run_id = response.json()["run"]
    run_parse(run_id=run_id)
    return run_id


def services() -> dict[str, tuple[str, bool]]:
    """Test name -> (service name, pinned)."""
    return {
        name: (service, pinned)
        for name, service, pinned in Test.objects.values_list(
            "name", "service__name", "service_pinned"
        )
    }


@pytest.fixture
def rules(project) -> list[ServiceRule]:
    return service_rules_replace(
        project=project,
        rules=[
            ("cache", "tests/cache/*"),
            ("plex", "tests/plex/*"),
            ("cache", "tests/*/test_plex_cache.py"),  # never reached for plex: first match wins
            ("jwt", "tests.jwt.*"),
        ],
    )


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """`with on_commit():` runs the on_commit callbacks registered inside, as a commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture(autouse=True)
def remaps(monkeypatch) -> list[int]:
    """Project ids whose remap was enqueued (the queue itself is not under test)."""
    queued: list[int] = []
    monkeypatch.setattr(tasks.remap_services, "delay", queued.append)
    return queued


@pytest.fixture
def remapped(monkeypatch) -> list[dict[str, Any]]:
    """The kwargs of every tests_remapped sent. run_parsed is silenced: its receivers (the
    metrics side) are not under test here."""
    sent: list[dict[str, Any]] = []

    def receiver(sender, **kwargs) -> None:
        kwargs.pop("signal", None)
        sent.append(kwargs)

    tests_remapped.connect(receiver, dispatch_uid="test-remapped")
    monkeypatch.setattr(run_parsed, "send", lambda *args, **kwargs: [])
    yield sent
    tests_remapped.disconnect(dispatch_uid="test-remapped")


# --- At load ------------------------------------------------------------------------------------


def test_rules_decide_the_service_at_load(ci_client, rules) -> None:
    load(ci_client)
    assert services() == {
        "test_get": ("cache", False),
        "test_put": ("cache", False),  # a Windows path matches a '/' glob
        "test_scan": ("plex", False),
        "test_sign": ("jwt", False),  # matched on the classname
        "test_x": ("default", False),
    }


def test_the_first_matching_rule_wins() -> None:
    rules = [Rule("plex", "tests/plex/*"), Rule("cache", "tests/*cache*")]
    subject = {"file": "tests/plex/test_plex_cache.py", "classname": ""}
    assert service_for(upload_service="", rules=rules, **subject) == "plex"
    assert service_for(upload_service="", rules=rules[::-1], **subject) == "cache"
    assert service_for(upload_service="", rules=[], **subject) == "default"
    assert service_for(upload_service="youtube", rules=rules, **subject) == "youtube"
    # Globs are case-sensitive and cover the whole path.
    nested = {"file": "src/tests/plex/a.py", "classname": ""}
    assert service_for(upload_service="", rules=rules, **nested) == "default"


def test_the_upload_service_wins_over_rules_and_pins(ci_client, rules) -> None:
    load(ci_client, service="youtube")
    assert set(services().values()) == {("youtube", True)}


def test_an_upload_service_claims_known_tests_the_rules_placed(
    ci_client, rules, remapped, on_commit
) -> None:
    load(ci_client, junit(CASES[:3]), commit="c1", started_at="2026-11-03T10:00:00Z")
    load(ci_client, junit(CASES[:3]), commit="c2", started_at="2026-11-10T10:00:00Z")
    cache = Service.objects.get(name="cache").pk
    plex = Service.objects.get(name="plex").pk
    with on_commit():
        load(
            ci_client, junit(CASES[2:4]), commit="c3", service="cache",
            started_at="2026-11-11T10:00:00Z",
        )  # fmt: skip
    assert services() == {
        "test_get": ("cache", False),
        "test_put": ("cache", False),
        "test_scan": ("cache", True),  # moved from plex with its history
        "test_sign": ("cache", True),  # new
    }
    project_id = Project.objects.get().pk
    assert remapped == [
        {"project_id": project_id, "service_ids": sorted([cache, plex]), "weeks": [NOV_2, NOV_9]}
    ]


def test_a_pinned_test_stays_where_its_first_upload_put_it(
    ci_client, rules, remapped, on_commit
) -> None:
    load(ci_client, commit="c1", service="youtube")
    with on_commit():
        load(ci_client, commit="c2", service="plex")
        load(ci_client, commit="c3")
    assert set(services().values()) == {("youtube", True)}
    assert remapped == []


# --- The rules API ------------------------------------------------------------------------------


def test_the_api_lists_the_rules_in_order(ci_client, rules) -> None:
    response = ci_client.get("/api/v1/projects/mediaserver/service-rules")
    assert response.status_code == 200
    assert response.json() == {
        "rules": [
            {"service": "cache", "pattern": "tests/cache/*"},
            {"service": "plex", "pattern": "tests/plex/*"},
            {"service": "cache", "pattern": "tests/*/test_plex_cache.py"},
            {"service": "jwt", "pattern": "tests.jwt.*"},
        ]
    }


def test_the_api_replaces_the_rules_and_enqueues_a_remap(
    ci_client, project, rules, remaps, on_commit
) -> None:
    body = {
        "rules": [
            {"service": "youtube", "pattern": "tests/youtube/*"},
            {"service": "cache", "pattern": " tests/cache/* "},
            # A name with a slash, as uploads and create_project take it.
            {"service": "team/api", "pattern": "tests/api/*"},
        ]
    }
    with on_commit():
        response = ci_client.put(
            "/api/v1/projects/mediaserver/service-rules", json.dumps(body),
            content_type="application/json",
        )  # fmt: skip
    assert response.status_code == 200, response.content
    expected = {
        "rules": [
            {"service": "youtube", "pattern": "tests/youtube/*"},
            {"service": "cache", "pattern": "tests/cache/*"},
            {"service": "team/api", "pattern": "tests/api/*"},
        ]
    }
    assert response.json() == expected
    assert ci_client.get("/api/v1/projects/mediaserver/service-rules").json() == expected
    assert list(ServiceRule.objects.values_list("order", flat=True)) == [0, 1, 2]
    assert Service.objects.filter(project=project, name="youtube").exists()
    assert remaps == [project.pk]


def test_the_api_accepts_an_empty_list(ci_client, rules) -> None:
    response = ci_client.put(
        "/api/v1/projects/mediaserver/service-rules", {"rules": []}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"rules": []}
    assert not ServiceRule.objects.exists()


def test_the_api_refuses_another_projects_key(ci_client, other_key, rules, remaps) -> None:
    ci_client.credentials(HTTP_AUTHORIZATION=f"Token {other_key}")
    url = "/api/v1/projects/mediaserver/service-rules"
    for response in (
        ci_client.get(url),
        ci_client.put(url, {"rules": [{"service": "x", "pattern": "*"}]}, format="json"),
    ):
        assert response.status_code == 403
        assert response.json()["error"] == "wrong_project"
    assert ServiceRule.objects.filter(project__slug="mediaserver").count() == 4
    assert remaps == []


def test_the_api_refuses_bad_rules_and_missing_keys(ci_client, rules) -> None:
    url = "/api/v1/projects/mediaserver/service-rules"
    for body in (
        {"rules": [{"service": "", "pattern": "*"}]},
        {"rules": [{"service": "a\nb", "pattern": "*"}]},
        {"rules": [{"service": "cache"}]},
        {"rules": "tests/*"},
        {},
    ):
        response = ci_client.put(url, body, format="json")
        assert response.status_code == 400, body
        assert response.json()["error"] == "invalid"
    assert ServiceRule.objects.count() == 4
    ci_client.credentials()
    assert ci_client.get(url).status_code == 401


# --- Re-mapping known tests ---------------------------------------------------------------------


def test_replacing_rules_remaps_known_tests_and_announces_the_weeks(
    ci_client, project, rules, remapped, remaps, on_commit
) -> None:
    load(ci_client, commit="c1", started_at="2026-11-03T10:00:00Z")
    load(ci_client, junit(CASES[:2]), commit="c2", started_at="2026-11-10T10:00:00Z")
    load(ci_client, junit([("tests.plex.t", "test_pinned", "tests/plex/t.py")]), commit="c3",
         service="plex")  # fmt: skip
    before = {name: sid for name, sid in Test.objects.values_list("name", "service_id")}
    service_rules_replace(
        project=project, rules=[("storage", "tests/cache/*"), ("storage", "tests/plex/*")]
    )
    with on_commit():
        result = remap(project_id=project.pk, batch_size=2)  # several batches
    assert services() == {
        "test_get": ("storage", False),
        "test_put": ("storage", False),
        "test_scan": ("storage", False),
        "test_sign": ("default", False),  # jwt's rule is gone
        "test_x": ("default", False),
        "test_pinned": ("plex", True),  # pinned by its upload: rules never move it
    }
    ids = dict(Service.objects.filter(project=project).values_list("name", "pk"))
    # Left: cache, plex, jwt; joined: storage, default (test_sign).
    touched = sorted(ids[name] for name in ("cache", "plex", "jwt", "storage", "default"))
    assert (result.examined, result.moved) == (5, 4)
    assert result.service_ids == touched
    # test_get and test_put ran in both weeks; test_scan and test_sign only in the first.
    assert result.weeks == [NOV_2, NOV_9]
    assert remapped == [{"project_id": project.pk, "service_ids": touched, "weeks": [NOV_2, NOV_9]}]
    assert before["test_x"] == Test.objects.get(name="test_x").service_id  # not written


def test_the_weeks_are_those_of_the_moved_tests_only(
    ci_client, project, rules, remapped, on_commit
) -> None:
    load(ci_client, junit(CASES[:2]), commit="c1", started_at="2026-11-03T10:00:00Z")
    load(ci_client, junit(CASES[2:]), commit="c2", started_at="2026-11-10T10:00:00Z")
    service_rules_replace(
        project=project, rules=[("cache", "tests/cache/*"), ("video", "tests/plex/*")]
    )
    with on_commit():
        tasks.remap_services(project.pk)  # the task, run in-process
    video = Service.objects.get(project=project, name="video").pk
    plex = Service.objects.get(project=project, name="plex").pk
    jwt = Service.objects.get(project=project, name="jwt").pk
    default = Service.objects.get(project=project, name="default").pk
    assert remapped == [
        {"project_id": project.pk, "service_ids": sorted([video, plex, jwt, default]),
         "weeks": [NOV_9]}
    ]  # fmt: skip


def test_remapping_is_idempotent(ci_client, project, rules, remapped, on_commit) -> None:
    load(ci_client)
    service_rules_replace(project=project, rules=[("all", "*")])
    with on_commit():
        first = remap(project_id=project.pk)
        state = services()
        second = remap(project_id=project.pk)
    assert first.moved == 5
    assert (second.moved, second.service_ids, second.weeks) == (0, [], [])
    assert services() == state
    assert len(remapped) == 1  # nothing moved the second time, nothing sent


def test_remapping_with_unchanged_rules_moves_nothing(
    ci_client, project, rules, remapped, on_commit
) -> None:
    load(ci_client)
    with on_commit():
        result = remap(project_id=project.pk)
    assert (result.examined, result.moved) == (5, 0)
    assert remapped == []


def test_remapping_a_deleted_project_does_nothing(db) -> None:
    assert remap(project_id=987654).moved == 0


def test_the_create_project_command_and_the_admin_enqueue_a_remap(
    client, project, rules, remaps, django_user_model, on_commit
) -> None:
    import io

    from django.core.management import call_command

    with on_commit():
        call_command(
            "create_project", "fresh", "--service-rule", "a=tests/a/*", stdout=io.StringIO()
        )
    assert remaps == [Project.objects.get(slug="fresh").pk]

    admin = django_user_model.objects.create_superuser("ada", "ada@example.com", "pw")
    client.force_login(admin)
    url = f"/admin/ingest/project/{project.pk}/change/"
    rule = ServiceRule.objects.filter(project=project).order_by("order").first()
    form = {
        "slug": project.slug,
        "name": project.name,
        "default_branch": project.default_branch,
        "created_at_0": project.created_at.strftime("%Y-%m-%d"),
        "created_at_1": project.created_at.strftime("%H:%M:%S"),
        "service_rules-TOTAL_FORMS": "1",
        "service_rules-INITIAL_FORMS": "1",
        "service_rules-MIN_NUM_FORMS": "0",
        "service_rules-MAX_NUM_FORMS": "1000",
        "service_rules-0-id": str(rule.pk),
        "service_rules-0-project": str(project.pk),
        "service_rules-0-order": "0",
        "service_rules-0-pattern": rule.pattern,
        "service_rules-0-service": str(rule.service_id),
    }
    remaps.clear()
    with on_commit():  # nothing about the rules changed: no remap
        response = client.post(url, form)
    assert response.status_code == 302, response.content[:2000]
    assert remaps == []
    with on_commit():
        response = client.post(url, {**form, "service_rules-0-pattern": "tests/storage/*"})
    assert response.status_code == 302
    assert ServiceRule.objects.get(pk=rule.pk).pattern == "tests/storage/*"
    assert remaps == [project.pk]
